// Package pipeline is the engine of segdiscover: the only part that touches
// files and folders. It walks the input folder (ListImages), runs the stages
// over it with a bounded pool of workers, keeps an on-disk cache keyed by
// content and parameters, resumes after a crash, reports progress and
// records bad inputs. The algorithm packages (superpixel, features, cluster,
// pseudolabel, segnet) are pure functions over in-memory values; the file
// formats are codecs in pipeline/artifact (io.Reader/io.Writer, no files);
// this package feeds the one with the other.
//
// # Stages
//
// Run goes through Stages in order and stops after Config.Until:
//
//	superpixels   per image  stage_images.go    SLIC (superpixel.SLIC)        superpixels/<rel>.png
//	encoder       global     stage_encoder.go,  a learned --encoder, trained  model/encoder.safetensors
//	                         stage_swav.go,     on a sample of the dataset
//	                         stage_deepcluster.go (the model: features/deepcluster)
//	features      per image  stage_images.go,   a vector per superpixel       features/<rel>.f32
//	                         stage_encoder.go
//	cluster       global     stage_model.go     standardise (+PCA), fit the   model/normalizer.safetensors,
//	                                            GMM (cluster.Fit / FitAuto)   model/gmm.json, concepts.json
//	pseudolabels  per image  stage_model.go     assign, paint the masks       pseudolabels/<rel>.png, .conf.png
//	train         global     stage_segnet.go    segnet on the pseudo-labels   model/segnet.safetensors
//	masks         per image  stage_segnet.go    the network's refined masks   masks/<rel>.png, .conf.png
//	overlays      per image  stage_overlays.go  masks over the image          overlays/<rel>.jpg
//	report        global     stage_report.go    pipeline/htmlreport           report.html, report/
//
// The per-image stages of the first pass (superpixels, features) run in one
// streaming pass per image (perImage), so an image is decoded once; the
// global stages run between them, over every image that has not failed.
// An input's failure (unreadable, too large, ...) is confined to it: it is
// recorded (errors.json, the summary) and the other inputs go on.
//
// Concurrency: Config.Workers images are processed at once in the per-image
// stages, and the images in flight hold at most Config.MaxPixels pixels
// together (pixelBudget), so memory is bounded whatever the images. The
// global stages get the same number as their threads (the GMM's E-step, the
// network's GEMMs); the result never depends on it.
// Network training reads its samples from the files batch by batch
// (diskSamples), so its memory does not grow with the number of images.
// The cluster stage streams the feature files too (featureRows,
// streamFeatures): the rows of the GMM's sample are drawn from the header
// counts (cluster.SampleIndex) and kept while the normaliser's moments are
// summed (features.TwoPassMoments), so it holds the --max-samples sample,
// not the dataset, and fits bit for bit the model it fitted holding every
// row. The report merges per-image statistics in input order into running
// sums and bounded top lists (reportAgg). What remains per image for the
// whole run is its record (item: a pointer to its listed path and name,
// the cache keys as hex strings), a few hundred bytes; balanced assignment
// (--balance sinkhorn) and adapt still load every feature row.
//
// # Keys
//
// Every artifact has a key: the SHA-256 of its stage's version string
// (cache.go: superpixelsVersion ...), the stage's parameters marshalled to
// JSON (the fields of Config that change its output, and only those) and the
// keys of its inputs, in order:
//
//	superpixels   version, SLIC settings, SHA-256 of the image file's bytes
//	encoder       version, encoder settings (seed included), <rel> + superpixel key of every image
//	features      version, feature settings, superpixel key (+ encoder key, or the ViT weights' SHA-256)
//	cluster       version, cluster settings, <rel> + feature key of every image
//	pseudolabels  version, min-confidence, cluster key, feature key
//	train         version, training settings (seed included), <rel> + pseudo-label key of every image, cluster key
//	masks         version, refine (+ CRF version), TTA views (only when more than one), train key, superpixel key
//	overlays      version, look (boundaries, concept names and colours), key of the masks shown
//
// (A global stage's inputs are the images that have not failed, in the
// order ListImages walks them (sorted by name), each as <rel> NUL key, so
// that renaming an image refits.)
//
// A change anywhere upstream thus changes every key downstream and nothing
// upstream; run settings that do not change outputs (workers, max-pixels,
// until) enter no key. Bump a stage's version when its numerics change for
// the same parameters; bump cacheVersion when the manifest format or the key
// derivation changes (old caches are then ignored, not misread).
//
// # Cache and crash safety
//
// OUT_DIR/.cache/v1/<stage>/<item>.json is the manifest of one artifact: its
// key and the files it produced with their sizes and SHA-256. An artifact is
// reused only when its manifest exists, holds the key the current run
// computes, and every file it lists exists with the recorded size; anything
// else is recomputed and overwritten, so nothing stale is used silently.
//
// The argument that a run killed at any instant (SIGKILL, power loss) is
// finished by running the same command again, with outputs byte-identical
// to an uninterrupted run:
//
//  1. Every output is written to a temporary file in its folder and renamed
//     into place (atomic.go), so a file is either absent, the old version,
//     or the complete new one; temporary files left by a kill are removed
//     at the start of the next run (removeTempFiles).
//  2. A manifest is written after the outputs it lists, and reaches the
//     disk after them: global outputs and run.json are fsynced
//     (WriteFileAtomic); per-image manifests are queued and group-committed
//     after a syncfs(2) of everything written before (cache.flush), because
//     an fsync per small file cost more than the computation.
//  3. So every manifest on disk vouches for complete outputs; a kill loses
//     at most the queued manifests, and their items are recomputed.
//  4. Every stage is deterministic given its key (randomness comes from the
//     seed, never from timing or the number of workers; training
//     checkpoints carry the optimiser and generator state), so a recomputed
//     artifact equals the one it replaces, and a resumed training continues
//     bit for bit.
//
// Two runs on one OUT_DIR are excluded by an flock on OUT_DIR/.lock (lock.go),
// released by the kernel when its holder dies, so a stale lock never blocks.
//
// # Sharded runs
//
// With Options.Shard, Run does the per-image work of the images whose
// ShardOf(<rel>, N) is the shard's index (FNV-1a 64 of <rel> mod N) and
// writes a shard record of the keys it computed (shard_record.go); Fit puts
// the records of every shard together, checks that they cover IN_DIR, and
// runs the global stages over the same items in the same order as an
// unsharded run, so with the same keys (keys.go) and results. The same
// sharded Run after Fit recomputes the global keys from the records and
// makes the shard's masks and overlays (shard_run.go). Locks: OUT_DIR/.lock
// exclusive for an unsharded run, shared by the commands of a sharded one,
// which take per-shard and per-global-stage locks under OUT_DIR/.locks
// (lock.go). Status reports progress from the records and manifests alone.
//
// # Who owns what
//
//   - pipeline owns OUT_DIR: the cache, the lock, run.json, errors.json and
//     the folder layout of README.md ("OUT_DIR layout"); nothing else writes
//     there. Config (config.go) is the effective configuration; its JSON keys
//     are the flag names, and its zero values mean the stage packages'
//     defaults, resolved once by Config.Defaults.
//   - pipeline/artifact owns the bytes of every file format; pipeline/export
//     the export formats; pipeline/htmlreport the report's page.
//   - The stage packages own their numerics and their defaults (their
//     Settings types); pipeline passes values in and takes values out, and
//     passes the seed in (no package keeps global random state).
//   - cmd/segdiscover owns the command line: flags, usage errors, exit codes
//     and the printed summary (Summary.WriteSummary).
package pipeline
