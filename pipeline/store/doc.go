// Package store is where the engine's outputs (and inputs) live, behind
// one small interface, Store, of exactly the operations the engine needs —
// an atomic whole-object write, a read, a stat, a recursive listing of a
// key prefix, a delete — and no rename, which object stores lack. This
// package holds the interface, the key rules, the local folder store
// (Local, OpenLocal) and the atomic file writes the engine uses; the
// object-store implementation, on gocloud.dev/blob, is package
// store/bucket, kept apart so that a program using only local folders
// need not link every cloud's SDK (cmd/segdiscover links it: 14.6 MB
// without, 84.2 MB with every driver; see bucket's build tags).
// Package store/storetest is the behaviour every Store must show, run
// against each implementation.
//
// # What is atomic
//
// On a local folder (Local), WriteAtomic (WriteFileAtomic) writes a
// temporary file ".<name>.tmp-*" beside the target, fsyncs it, renames it
// over the target and fsyncs the folder: POSIX rename makes the swap atomic, the
// fsyncs make it durable in that order. WriteAtomicNoSync leaves the
// fsyncs to a later Sync (one syncfs(2) for a batch: the engine's group
// commit of per-image outputs, see pipeline/cache.go).
//
// On an object store every object is written whole: the upload (in parts
// for large objects) becomes visible only when it completes, and a write
// whose function fails, or whose context is cancelled, is aborted, so
// nothing appears and an earlier object at the key stays. Readers of a key
// see the old object or the complete new one (S3, GCS and Azure are
// strongly consistent for reads after writes and overwrites). Sync does
// nothing: an object is durable once its write returns.
//
// Not atomic on object stores, and so not relied on:
//   - There is no rename, and no write of several objects at once: a
//     crash can leave some outputs of an artifact written and others not.
//     The engine's answer is the manifest written last: an artifact counts
//     only when its manifest exists, names its key, and lists outputs that
//     exist with their sizes, so a half-written artifact is recomputed.
//   - Listing may lag writes and deletes on some S3-compatible servers
//     (eventual consistency), so the engine should find artifacts by
//     reading their manifests by key, not by listing.
//   - Concurrent writers to one key are not excluded: the last upload to
//     complete wins, whole. Keep one writer per key (per-shard outputs and
//     locks); there is no flock on a bucket.
//   - A killed upload of a large object may leave an incomplete multipart
//     upload on S3 (invisible, but billed until a lifecycle rule aborts it).
//
// # Keys
//
// Keys are slash-separated relative paths without empty, "." or ".."
// parts, the same on every store (a folder would read "a//b" or "../x"
// differently from a bucket), refused with ErrInvalidKey. A missing key's
// errors wrap ErrNotExist (= fs.ErrNotExist). Every error names the file
// path or the object's URL.
package store
