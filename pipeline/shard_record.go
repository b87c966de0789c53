package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/segdiscover/segdiscover/pipeline/store"
)

// Shard records.
//
// A sharded run writes, when its part of a phase is complete, one record:
// OUT_DIR/.cache/v<cacheVersion>/shards/<phase>-<N>/<I>.json. The phase is
// "images" (the per-image stages before the first global one: superpixels,
// and features unless a learned encoder computes them) or "masks" (the
// per-image stages after the global ones: masks and overlays). An
// "images" record lists, per image of the shard, the cache keys of its
// superpixels and features and its superpixel count, and the images that
// failed with the reason: everything the global stages need to know about
// the shard's images, without reading (or hashing) the images again. The
// fit command and the masks phase put the records of every shard together
// (assemble) and recompute from them the keys of the global stages, so that
// a sharded run computes exactly the keys, and so the results, of a
// single-process one. A record is written whole (atomic rename) after the
// cache manifests of every output it vouches for, and rewritten by a rerun.

const shardFormat = "segdiscover-shard"

// Phases of a sharded run.
const (
	PhaseImages = "images" // per-image stages before the global ones
	PhaseMasks  = "masks"  // per-image stages after them
)

// shardRecord is one shard's record of one phase.
type shardRecord struct {
	Format   string         `json:"format"` // "segdiscover-shard"
	Version  int            `json:"version"`
	Phase    string         `json:"phase"`
	Shard    int            `json:"shard"`
	Count    int            `json:"count"`
	InDir    string         `json:"in_dir"` // absolute
	Config   Config         `json:"config"` // effective
	Finished time.Time      `json:"finished"`
	Images   []shardImage   `json:"images"` // done, in input order
	Failed   []shardFailure `json:"failed,omitempty"`
	Stages   []*StageStats  `json:"stages"`
}

type shardImage struct {
	Rel      string `json:"rel"`
	SpKey    string `json:"superpixels"`
	FeatKey  string `json:"features,omitempty"` // "" when a learned encoder computes them later
	Segments int    `json:"segments"`
}

type shardFailure struct {
	Rel   string `json:"rel"`
	Stage string `json:"stage"`
	Error string `json:"error"`
}

// shardRecordDir is the key prefix (a folder) of the records of phase
// with count shards.
func shardRecordDir(phase string, count int) string {
	return cacheDir() + "/shards/" + fmt.Sprintf("%s-%d", phase, count)
}

// shardRecordKey is the key of shard s's record of phase.
func shardRecordKey(phase string, s Shard) string {
	return shardRecordDir(phase, s.Count) + "/" + strconv.Itoa(s.Index) + ".json"
}

// writeShardRecord writes the record of this shard's phase from the items
// the run processed.
func (r *runner) writeShardRecord(phase string) error {
	in := absInput(r.o.InDir)
	rec := &shardRecord{Format: shardFormat, Version: 1, Phase: phase, Shard: r.shard.Index, Count: r.shard.Count,
		InDir: in, Config: r.cfg, Finished: time.Now().UTC(), Images: []shardImage{}}
	for _, st := range r.sum.Stages {
		if st.Ran && (st.Items > 0 || st.Computed+st.Cached+st.Failed > 0) {
			rec.Stages = append(rec.Stages, st)
		}
	}
	for _, it := range r.items {
		if !it.failed {
			rec.Images = append(rec.Images, shardImage{Rel: it.file.Rel, SpKey: it.spKey, FeatKey: it.featKey, Segments: it.segments})
		}
	}
	// The rel of each failed image: the listing's failures are in relOf,
	// the stages' are items (a map of every input would cost bytes per
	// image for the whole run).
	relOf := map[string]string{}
	maps.Copy(relOf, r.relOf)
	for _, f := range r.failures {
		if _, ok := relOf[f.Path]; !ok {
			relOf[f.Path] = ""
		}
	}
	for _, it := range r.items {
		if rel, ok := relOf[it.file.Path]; ok && rel == "" {
			relOf[it.file.Path] = it.file.Rel
		}
	}
	for _, f := range r.failures {
		rec.Failed = append(rec.Failed, shardFailure{Rel: relOf[f.Path], Stage: f.Stage, Error: f.Err.Error()})
	}
	return r.cache.writeJSON(shardRecordKey(phase, r.shard), rec)
}

// readShardRecordIn reads one record, at key in c's store; a missing one
// is (nil, nil).
func readShardRecordIn(c *cache, key string) (*shardRecord, error) {
	path := c.st.Location(key)
	data, err := c.read(key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var rec shardRecord
	if err := json.Unmarshal(data, &rec); err != nil || rec.Format != shardFormat {
		return nil, fmt.Errorf("%s: not a segdiscover shard record (delete it and rerun its shard)", path)
	}
	return &rec, nil
}

// shardCounts returns the shard counts N that have records of phase in the
// output store, ascending: the N of the folders shards/<phase>-N holding a
// record.
func shardCounts(c *cache, phase string) ([]int, error) {
	prefix := cacheDir() + "/shards/" + phase + "-"
	var ns []int
	for info, err := range c.st.List(c.ctx, prefix) {
		if err != nil {
			return nil, err
		}
		dir, _, ok := strings.Cut(strings.TrimPrefix(info.Key, prefix), "/")
		if n, err := strconv.Atoi(dir); ok && err == nil && !slices.Contains(ns, n) {
			ns = append(ns, n)
		}
	}
	sort.Ints(ns)
	return ns, nil
}

// pickShardCount returns the N of the "images" records in out: count if
// not 0, else the only one there is.
func pickShardCount(c *cache, count int) (int, error) {
	if count != 0 {
		return count, nil
	}
	out := c.root()
	ns, err := shardCounts(c, PhaseImages)
	if err != nil {
		return 0, err
	}
	switch len(ns) {
	case 0:
		return 0, &IncompleteError{Reason: fmt.Sprintf("no shard has finished its images phase in %s (run `segdiscover run IN_DIR -o %s --shard I/N` for every shard first)", out, out)}
	case 1:
		return ns[0], nil
	}
	return 0, fmt.Errorf("%s holds shard records for %s shards: give --shard-count to say which run to continue", out, joinInts(ns, ", "))
}

// removeShardRecords removes the records of phase, whatever their N.
func removeShardRecords(c *cache, phase string) error {
	ns, err := shardCounts(c, phase)
	if err != nil {
		return err
	}
	for _, n := range ns {
		if err := store.RemoveTree(c.ctx, c.st, shardRecordDir(phase, n)); err != nil {
			return err
		}
	}
	return nil
}

// ErrIncomplete is wrapped by the error of a command that needs every shard
// of a phase when some are missing.
var ErrIncomplete = errors.New("incomplete")

// IncompleteError says what is missing: shards without a record, and
// images their shard's record does not hold (added since it ran).
type IncompleteError struct {
	Reason        string
	Count         int
	MissingShards []int
	MissingImages map[int][]string // shard -> rel
}

func (e *IncompleteError) Unwrap() error { return ErrIncomplete }

func (e *IncompleteError) Error() string {
	if e.Reason != "" {
		return e.Reason
	}
	var parts []string
	if len(e.MissingShards) > 0 {
		parts = append(parts, fmt.Sprintf("shards %s of %d have not finished the images phase", joinInts(e.MissingShards, ", "), e.Count))
	}
	shards := make([]int, 0, len(e.MissingImages))
	n := 0
	for s, rels := range e.MissingImages {
		shards = append(shards, s)
		n += len(rels)
	}
	sort.Ints(shards)
	if n > 0 {
		var names []string
		for _, s := range shards {
			for _, rel := range e.MissingImages[s] {
				if len(names) < 5 {
					names = append(names, fmt.Sprintf("%s (shard %d)", rel, s))
				}
			}
		}
		more := ""
		if n > len(names) {
			more = fmt.Sprintf(" and %d more", n-len(names))
		}
		parts = append(parts, fmt.Sprintf("%d images are not in their shard's record (added since it ran?): %s%s; rerun shards %s",
			n, strings.Join(names, ", "), more, joinInts(shards, ", ")))
	}
	return strings.Join(parts, "; ")
}

func joinInts(xs []int, sep string) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, sep)
}

// assembly is the whole run put together from the "images" records of
// every shard.
type assembly struct {
	count    int
	inDir    string
	cfg      Config
	items    []*item // every listed image, in input order; failed ones marked
	failures []*FileError
	records  []*shardRecord // by shard index; nil: missing
}

// readAssembly reads the "images" records of count shards and checks that
// they belong to one run: same input folder, same settings.
func readAssembly(c *cache, count int) (*assembly, error) {
	a := &assembly{count: count, records: make([]*shardRecord, count)}
	var first *shardRecord
	for i := range count {
		k := shardRecordKey(PhaseImages, Shard{Index: i, Count: count})
		p := c.st.Location(k)
		rec, err := readShardRecordIn(c, k)
		if err != nil {
			return nil, err
		}
		if rec == nil {
			continue
		}
		if rec.Count != count || rec.Shard != i || rec.Phase != PhaseImages {
			return nil, fmt.Errorf("%s: the record of shard %d/%d of %s, in the place of %d/%d (delete it and rerun the shard)", p, rec.Shard, rec.Count, rec.Phase, i, count)
		}
		if first == nil {
			first = rec
			a.inDir, a.cfg = rec.InDir, rec.Config
		} else if err := sameRun(first, rec); err != nil {
			return nil, err
		}
		a.records[i] = rec
	}
	return a, nil
}

// sameRun reports how two shards' records differ in what makes their run:
// the input folder, or a setting (the number of workers aside).
func sameRun(a, b *shardRecord) error {
	if a.InDir != b.InDir {
		return fmt.Errorf("shard %d read %s, shard %d %s: every shard of a run reads the same IN_DIR", a.Shard, a.InDir, b.Shard, b.InDir)
	}
	if d := configDiff(a.Config, b.Config); d != "" {
		return fmt.Errorf("shards %d and %d of %d ran with different settings (%s): rerun the shards that differ with the same settings", a.Shard, b.Shard, a.Count, d)
	}
	return nil
}

// configDiff names the settings in which a and b differ, ignoring the run
// controls that do not change results (workers); "" when none.
func configDiff(a, b Config) string {
	a.Workers, b.Workers = 0, 0
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if bytes.Equal(ja, jb) {
		return ""
	}
	var ma, mb map[string]any
	json.Unmarshal(ja, &ma)
	json.Unmarshal(jb, &mb)
	var diff []string
	for k, v := range ma {
		if fmt.Sprint(v) != fmt.Sprint(mb[k]) {
			diff = append(diff, fmt.Sprintf("--%s %v vs %v", k, v, mb[k]))
		}
	}
	for k, v := range mb {
		if _, ok := ma[k]; !ok {
			diff = append(diff, fmt.Sprintf("--%s unset vs %v", k, v))
		}
	}
	sort.Strings(diff)
	return strings.Join(diff, ", ")
}

// cover puts the listed images files together with the records: items for
// every image, in input order, with the keys its shard's record holds. It
// returns an *IncompleteError naming the shards without a record and the
// images missing from their shard's record.
func (a *assembly) cover(files []ImageFile) error {
	type entry struct {
		img  *shardImage
		fail *shardFailure
	}
	byRel := make([]map[string]entry, a.count)
	for i, rec := range a.records {
		if rec == nil {
			continue
		}
		m := make(map[string]entry, len(rec.Images)+len(rec.Failed))
		for j := range rec.Images {
			m[rec.Images[j].Rel] = entry{img: &rec.Images[j]}
		}
		for j := range rec.Failed {
			m[rec.Failed[j].Rel] = entry{fail: &rec.Failed[j]}
		}
		byRel[i] = m
	}
	inc := &IncompleteError{Count: a.count, MissingImages: map[int][]string{}}
	a.items, a.failures = nil, nil
	for i := range files {
		f := &files[i]
		s := ShardOf(f.Rel, a.count)
		if byRel[s] == nil {
			if !slices.Contains(inc.MissingShards, s) {
				inc.MissingShards = append(inc.MissingShards, s)
			}
			continue
		}
		e, ok := byRel[s][f.Rel]
		switch {
		case !ok:
			inc.MissingImages[s] = append(inc.MissingImages[s], f.Rel)
		case e.fail != nil:
			a.failures = append(a.failures, &FileError{Path: f.Path, Stage: e.fail.Stage, Err: errors.New(e.fail.Error)})
		default:
			a.items = append(a.items, &item{file: f, spKey: e.img.SpKey, featKey: e.img.FeatKey, segments: e.img.Segments})
		}
	}
	sort.Ints(inc.MissingShards)
	if len(inc.MissingShards) > 0 || len(inc.MissingImages) > 0 {
		return inc
	}
	return nil
}
