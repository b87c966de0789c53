package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/segdiscover/segdiscover/pipeline/store"
)

// StatusReport is what is done in an output folder, per stage and, for a
// sharded run, per shard: Status computes it from the shards' records and
// the cache manifests alone (no image is read), recomputing the global
// stages' keys as the masks phase does.
type StatusReport struct {
	OutDir, InDir string
	Count         int // shards; 0: a single-process run
	Images        int // listed in IN_DIR
	Shards        []ShardStatus
	Stages        []StageStatus // global stages, then the masks over every image
	Complete      bool
	Missing       []string // what is left to do, for people
}

// ShardStatus is one shard's progress.
type ShardStatus struct {
	Index   int
	Images  int      // its images in IN_DIR
	Record  bool     // its images phase has a record
	Done    int      // images its record holds (failed included)
	Failed  int      // of which failed
	Missing []string // up to 5 images not in its record
	Masks   int      // images whose refined mask is current
}

// StageStatus is the state of one stage over the whole run.
type StageStatus struct {
	Name  string
	State string // "current", "missing" (absent or stale), "not run" (--until), "waiting" (on an earlier phase)
	Done  int    // for per-image stages: images done
	Of    int
}

// Status reports on the run in out. count selects the shard records when
// out holds records of several shard counts (0: the only one). A folder
// without shard records is reported from its run.json.
func Status(out string, count int) (*StatusReport, error) {
	ctx := context.Background()
	st, err := openOutput(ctx, out, false)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	if _, local := st.(*store.Local); local {
		if _, err := os.Stat(out); err != nil {
			return nil, fmt.Errorf("output folder: %w", err)
		}
	}
	c := newStoreCache(st)
	rep := &StatusReport{OutDir: out}
	ns, err := shardCounts(c, PhaseImages)
	if err != nil {
		return nil, err
	}
	if len(ns) == 0 && count == 0 {
		return rep, rep.fromRunJSON(c)
	}
	if count, err = pickShardCount(c, count); err != nil {
		return nil, err
	}
	rep.Count = count
	a, err := readAssembly(c, count)
	if err != nil {
		return nil, err
	}
	for i := range count {
		rep.Shards = append(rep.Shards, ShardStatus{Index: i})
	}
	if a.inDir == "" {
		rep.Missing = append(rep.Missing, fmt.Sprintf("the images phase of all %d shards", count))
		return rep, nil
	}
	rep.InDir = a.inDir
	files, inStore, err := listInputsAt(ctx, a.inDir)
	if err != nil {
		return nil, err
	}
	if inStore != nil {
		defer inStore.Close()
	}
	rep.Images = len(files)
	// Per shard: its images, and which of them its record holds.
	held := make([]map[string]bool, count)
	for i, rec := range a.records {
		if rec == nil {
			continue
		}
		rep.Shards[i].Record = true
		held[i] = map[string]bool{}
		for _, im := range rec.Images {
			held[i][im.Rel] = true
		}
		for _, f := range rec.Failed {
			held[i][f.Rel] = true
		}
		rep.Shards[i].Failed = len(rec.Failed)
	}
	for _, f := range files {
		s := &rep.Shards[ShardOf(f.Rel, count)]
		s.Images++
		if held[s.Index][f.Rel] {
			s.Done++
		} else if len(s.Missing) < 5 {
			s.Missing = append(s.Missing, f.Rel)
		}
	}
	var waiting []int
	for _, s := range rep.Shards {
		if s.Done < s.Images || !s.Record {
			waiting = append(waiting, s.Index)
		}
	}
	cfg := a.cfg.Defaults()
	g := &runner{cfg: cfg, cache: c}
	stages := []string{StageEncoder, StageCluster, StagePseudolabels, StageTrain, StageMasks}
	if len(waiting) > 0 {
		rep.Missing = append(rep.Missing, "the images phase of shards "+joinInts(waiting, ", "))
		for _, s := range stages {
			if s != StageEncoder || cfg.runs(s) {
				rep.Stages = append(rep.Stages, StageStatus{Name: s, State: stateOf(cfg.runs(s), false, true)})
			}
		}
		return rep, nil
	}
	if err := a.cover(files); err != nil {
		return nil, err
	}
	rep.Stages = g.globalStatus(a)
	for i, st := range rep.Stages {
		if st.Name == StageMasks {
			for _, it := range a.items {
				if _, ok := g.cache.lookup(StageMasks, it.file.Rel, g.maskKeyOf(it)); ok && g.trainKey != "" {
					rep.Shards[ShardOf(it.file.Rel, count)].Masks++
				}
			}
			done := 0
			for _, s := range rep.Shards {
				done += s.Masks
			}
			rep.Stages[i].Done, rep.Stages[i].Of = done, len(a.items)
			if g.trainKey != "" {
				rep.Stages[i].State = stateOf(true, done == len(a.items), false)
			}
		}
	}
	rep.Complete = true
	for _, st := range rep.Stages {
		if st.State == "current" || st.State == "not run" {
			continue
		}
		rep.Complete = false
		what := st.Name
		if st.Name == StageMasks && st.State != "waiting" {
			var short []int
			for _, s := range rep.Shards {
				if s.Masks < s.Images-s.Failed {
					short = append(short, s.Index)
				}
			}
			what = "the masks phase of shards " + joinInts(short, ", ")
		}
		rep.Missing = append(rep.Missing, what)
	}
	return rep, nil
}

func stateOf(runs, current, waiting bool) string {
	switch {
	case !runs:
		return "not run"
	case waiting:
		return "waiting"
	case current:
		return "current"
	}
	return "missing"
}

// globalStatus looks up the global stages' models (and the pseudo-labels
// of every image) with the keys recomputed from the assembled records,
// setting g's keys as it goes. A stage after a missing one is "waiting".
func (g *runner) globalStatus(a *assembly) []StageStatus {
	var sts []StageStatus
	blocked := false
	add := func(name string, current bool, done, of int) {
		st := StageStatus{Name: name, State: stateOf(g.cfg.runs(name), current, blocked), Done: done, Of: of}
		sts = append(sts, st)
		if st.State != "current" && st.State != "not run" {
			blocked = true
		}
	}
	all := a.items
	if spec, _ := parseEncoder(g.cfg.Encoder); spec.learned {
		g.encoderKey = g.encoderKeyOf(all)
		_, ok := g.cache.lookup(StageEncoder, encoderItem, g.encoderKey)
		add(StageEncoder, ok, 0, 0)
		n := 0
		for _, it := range all {
			it.featKey = g.learnedFeatKey(it)
			if _, ok := g.cache.lookup(StageFeatures, it.file.Rel, it.featKey); ok {
				n++
			}
		}
		add(StageFeatures, n == len(all), n, len(all))
	}
	g.clusterKey = g.clusterKeyOf(all)
	_, ok := g.cache.lookup(StageCluster, modelItem, g.clusterKey)
	add(StageCluster, ok && !blocked, 0, 0)
	n := 0
	for _, it := range all {
		it.plKey = g.plKeyOf(it)
		if _, ok := g.cache.lookup(StagePseudolabels, it.file.Rel, it.plKey); ok {
			n++
		}
	}
	add(StagePseudolabels, n == len(all) && !blocked, n, len(all))
	key, _ := g.trainKeyOf(all)
	_, ok = g.cache.lookup(StageTrain, trainItem, key)
	if ok && !blocked {
		g.trainKey = key
	}
	add(StageTrain, ok && !blocked, 0, 0)
	// Masks: counted per shard by the caller, once the network is known.
	sts = append(sts, StageStatus{Name: StageMasks, State: stateOf(g.cfg.runs(StageMasks), false, blocked)})
	return sts
}

// fromRunJSON reports a single-process run from its run.json.
func (rep *StatusReport) fromRunJSON(c *cache) error {
	p := c.st.Location("run.json")
	data, err := c.read("run.json")
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s holds neither a run (run.json) nor shard records: nothing has run there", rep.OutDir)
	}
	if err != nil {
		return err
	}
	var rec runRecord
	if err := json.Unmarshal(data, &rec); err != nil || rec.Format != runFormat {
		return fmt.Errorf("%s: not a segdiscover run record", p)
	}
	rep.InDir, rep.Images, rep.Complete = rec.InDir, rec.Images, rec.Complete
	for _, st := range rec.Stages {
		state := "current"
		switch {
		case !st.Ran:
			state = "not run"
		case !rec.Complete:
			state = "unknown"
		}
		done, of := st.Computed+st.Cached, st.Items
		switch st.Name {
		case StageEncoder, StageCluster, StageTrain, StageReport:
			// One artifact for the whole run, not one per image.
			done, of = 0, 0
		}
		rep.Stages = append(rep.Stages, StageStatus{Name: st.Name, State: state, Done: done, Of: of})
	}
	if !rec.Complete {
		rep.Missing = append(rep.Missing, "the last run did not finish: run it again to resume")
	}
	return nil
}

// Write prints rep for people.
func (rep *StatusReport) Write(w io.Writer) {
	if rep.Count == 0 {
		fmt.Fprintf(w, "%s: single-process run of %d images from %s\n", rep.OutDir, rep.Images, rep.InDir)
	} else {
		fmt.Fprintf(w, "%s: sharded run, %d shards, %d images from %s\n", rep.OutDir, rep.Count, rep.Images, rep.InDir)
		fmt.Fprintln(w, "shard  images  images-phase            masks")
		for _, s := range rep.Shards {
			ph := "no record"
			if s.Record {
				ph = fmt.Sprintf("%d done", s.Done)
				if s.Failed > 0 {
					ph += fmt.Sprintf(" (%d failed)", s.Failed)
				}
			}
			fmt.Fprintf(w, "%5d  %6d  %-22s  %d\n", s.Index, s.Images, ph, s.Masks)
			if len(s.Missing) > 0 && s.Record {
				fmt.Fprintf(w, "       not in its record: %s\n", strings.Join(s.Missing, ", "))
			}
		}
	}
	for _, st := range rep.Stages {
		line := fmt.Sprintf("  %-13s %s", st.Name, st.State)
		if st.Of > 0 {
			line += fmt.Sprintf(" (%d of %d images)", st.Done, st.Of)
		}
		fmt.Fprintln(w, line)
	}
	if rep.Complete {
		fmt.Fprintln(w, "complete")
	} else {
		fmt.Fprintf(w, "incomplete: %s\n", strings.Join(rep.Missing, "; "))
	}
}
