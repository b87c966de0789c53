package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/segdiscover/segdiscover/pipeline/store"
)

// The on-disk cache.
//
// Every stage output lives where other tools expect it (superpixels/<rel>.png,
// features/<rel>.f32, ...). Beside them, OUT_DIR/.cache/v<cacheVersion>/
// holds one small JSON manifest per artifact: the artifact's key and the
// files it produced, with their sizes and SHA-256. An artifact is reused only
// when its manifest exists, its key equals the key the current run computes,
// and every file it lists still exists with the recorded size.
//
// A key is the SHA-256 of the stage's version string, the stage's
// parameters, and the keys of its inputs (for per-image stages, ultimately
// the SHA-256 of the image file's bytes). A change anywhere upstream thus
// changes every key downstream and nothing upstream.
//
// Crash safety: outputs are written atomically first (temporary file in the
// same folder, renamed into place), the manifest last, so a run killed at
// any moment leaves either a complete artifact with its manifest, or files
// without a (matching) manifest that the next run recomputes and
// overwrites. Stage computations are deterministic, so the result is the
// same as an uninterrupted run.
//
// Durability is a group commit: fsyncing every small per-image file cost
// ~2 ms each here (8 files per image, far more than the computation), so
// per-image outputs are renamed into place without their own fsync, and
// their manifests are queued. Every commitBatch manifests or
// commitInterval, the queue is flushed: syncfs(2) first makes every output
// written so far durable, then the queued manifests are written. A
// manifest thus never reaches the disk before the outputs it vouches for,
// even across a power loss; a crash loses at most the queued manifests,
// whose items the next run recomputes. Global outputs (the model) and
// run.json go through WriteFileAtomic, fsync included.

// cacheVersion is the version of the cache layout under OUT_DIR/.cache.
// Bump it when the manifest format or the key derivation changes: old
// caches are then ignored (everything recomputes) rather than misread.
const cacheVersion = 1

// Stage versions enter every key of their stage and, through the keys, of
// the stages after it. Bump one when a change to the stage's code changes
// its output for the same parameters.
const (
	superpixelsVersion  = "superpixels/2"
	encoderVersion      = "encoder/1"
	featuresVersion     = "features/1"
	clusterVersion      = "cluster/1"
	pseudolabelsVersion = "pseudolabels/1"
	trainVersion        = "train/2"
	masksVersion        = "masks/2"
	overlaysVersion     = "overlays/2"
)

// cacheDir is the key prefix of the cache under an output folder
// (".cache/vN").
func cacheDir() string { return fmt.Sprintf(".cache/v%d", cacheVersion) }

// key derives an artifact key from a stage version, the stage parameters
// (marshalled to JSON) and the input keys, in order.
func key(version string, params any, inputs ...string) string {
	h := sha256.New()
	p, err := json.Marshal(params)
	if err != nil {
		panic(fmt.Sprintf("pipeline: key params: %v", err)) // params are plain structs
	}
	fmt.Fprintf(h, "%s\x00%s\x00", version, p)
	for _, in := range inputs {
		fmt.Fprintf(h, "%s\x00", in)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// manifest records one artifact in the cache.
type manifest struct {
	Key     string         `json:"key"`
	Stage   string         `json:"stage"`
	Item    string         `json:"item"` // <rel> for per-image stages, "model" for global ones
	Outputs []outputRecord `json:"outputs"`
	// Extra holds stage-specific facts (e.g. the number of superpixels).
	Extra map[string]any `json:"extra,omitempty"`
}

// outputRecord is one file of an artifact, relative to OUT_DIR.
type outputRecord struct {
	Path   string `json:"path"` // slash-separated, relative to OUT_DIR
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Group commit of per-image manifests: see the package comment above.
const (
	commitBatch    = 256
	commitInterval = 2 * time.Second
)

// cache reads and writes manifests (and the outputs they vouch for) in
// one output store.
type cache struct {
	st  store.Store
	dir string // .cache/vN
	// ctx is that of every read and write: not the run's, since a
	// cancelled run finishes and writes the items under way.
	ctx context.Context

	mu        sync.Mutex
	pending   []*manifest
	lastFlush time.Time
	flushMu   sync.Mutex // one flush at a time, in order
}

// newCache is the cache of the local output folder out.
func newCache(out string) *cache {
	return newStoreCache(store.LocalFolder(out))
}

// newStoreCache is the cache of the output store st.
func newStoreCache(st store.Store) *cache {
	return &cache{st: st, dir: cacheDir(), ctx: context.Background(), lastFlush: time.Now()}
}

// manifestKey is the key of the manifest of (stage, item).
func (c *cache) manifestKey(stage, item string) string {
	return c.dir + "/" + stage + "/" + item + ".json"
}

// manifestPath names the manifest of (stage, item) as the user sees it: a
// file path in a local folder, a URL in a bucket.
func (c *cache) manifestPath(stage, item string) string {
	return c.st.Location(c.manifestKey(stage, item))
}

// lookup returns the manifest of (stage, item) if it is valid for k: same
// key and every output present with its recorded size.
func (c *cache) lookup(stage, item, k string) (*manifest, bool) {
	data, err := store.ReadAll(c.ctx, c.st, c.manifestKey(stage, item))
	if err != nil {
		return nil, false
	}
	var m manifest
	if json.Unmarshal(data, &m) != nil || m.Key != k {
		return nil, false
	}
	for _, o := range m.Outputs {
		if o.Path == legendFile {
			// Listed by manifests of before concepts.json; now a view of
			// it, redrawn when the names change.
			continue
		}
		fi, err := c.st.Stat(c.ctx, o.Path)
		if err != nil || fi.Size != o.Size {
			return nil, false
		}
	}
	return &m, true
}

// readManifest returns the manifest of (stage, item) whatever its key.
func (c *cache) readManifest(stage, item string) (*manifest, error) {
	data, err := store.ReadAll(c.ctx, c.st, c.manifestKey(stage, item))
	if err != nil {
		return nil, err
	}
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("cache manifest %s/%s: %w", stage, item, err)
	}
	return &m, nil
}

// commit writes the manifest of a complete global artifact, durably; call
// it after every output has been written with writeOutputSync.
func (c *cache) commit(m *manifest) error {
	return c.st.WriteAtomic(c.ctx, c.manifestKey(m.Stage, m.Item), func(w io.Writer) error { return encodeManifest(w, m) })
}

func encodeManifest(w io.Writer, m *manifest) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	return enc.Encode(m)
}

// commitLater queues the manifest of a complete per-image artifact (written
// with writeOutput) for the next group commit, flushing when the batch is
// full or old. In a bucket, where every object is durable once written and
// there is no fsync to share, the manifest is written at once: a killed
// process then loses nothing it finished.
func (c *cache) commitLater(m *manifest) error {
	if _, local := c.st.(*store.Local); !local {
		return c.st.WriteAtomic(c.ctx, c.manifestKey(m.Stage, m.Item), func(w io.Writer) error { return encodeManifest(w, m) })
	}
	c.mu.Lock()
	c.pending = append(c.pending, m)
	due := len(c.pending) >= commitBatch || time.Since(c.lastFlush) >= commitInterval
	c.mu.Unlock()
	if due {
		return c.flush()
	}
	return nil
}

// flush makes every output written so far durable (Store.Sync), then
// writes the queued manifests. Call it at the end of each stage.
func (c *cache) flush() error {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	c.mu.Lock()
	batch := c.pending
	c.pending = nil
	c.lastFlush = time.Now()
	c.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	if err := c.st.Sync(c.ctx); err != nil {
		return err
	}
	for _, m := range batch {
		if err := c.st.WriteAtomicNoSync(c.ctx, c.manifestKey(m.Stage, m.Item), func(w io.Writer) error { return encodeManifest(w, m) }); err != nil {
			return err
		}
	}
	return nil
}

// writeOutput writes the output rel (a key: OUT_DIR/rel in a folder)
// atomically (not yet durably: see flush) through encode and returns its
// record for the manifest.
func (c *cache) writeOutput(rel string, encode func(io.Writer) error) (outputRecord, error) {
	return c.write(rel, encode, c.st.WriteAtomicNoSync)
}

// writeOutputSync is writeOutput made durable at once, for global outputs.
func (c *cache) writeOutputSync(rel string, encode func(io.Writer) error) (outputRecord, error) {
	return c.write(rel, encode, c.st.WriteAtomic)
}

func (c *cache) write(rel string, encode func(io.Writer) error, writeObject func(context.Context, string, func(io.Writer) error) error) (outputRecord, error) {
	var h hash.Hash
	var n int64
	err := writeObject(c.ctx, rel, func(w io.Writer) error {
		h = sha256.New()
		cw := &countWriter{w: io.MultiWriter(w, h)}
		err := encode(cw)
		n = cw.n
		return err
	})
	if err != nil {
		return outputRecord{}, err
	}
	return outputRecord{Path: rel, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// read returns the object rel of the output store whole.
func (c *cache) read(rel string) ([]byte, error) { return store.ReadAll(c.ctx, c.st, rel) }

// open opens the object rel of the output store.
func (c *cache) open(rel string) (io.ReadCloser, error) { return c.st.NewReader(c.ctx, rel) }

// writeSync writes the object rel (not an artifact's output: run.json, a
// checkpoint, the report) atomically and durably.
func (c *cache) writeSync(rel string, write func(io.Writer) error) error {
	return c.st.WriteAtomic(c.ctx, rel, write)
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// removeTempFiles deletes the temporary files WriteFileAtomic leaves behind
// when a run is killed mid-write (".<name>.tmp-<random>"). Only call it
// while holding the output folder's lock.
func removeTempFiles(out string) error {
	return filepath.WalkDir(out, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		name := d.Name()
		if !d.IsDir() && store.IsTempName(name) {
			return os.Remove(path)
		}
		return nil
	})
}

// hashBytes returns the SHA-256 of data as hex.
func hashBytes(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// root names the output store as the user gave it: the folder's path, the
// bucket's URL.
func (c *cache) root() string { return c.st.Location("") }
