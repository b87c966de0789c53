package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/segdiscover/segdiscover/pipeline/store"
)

// runRecord is OUT_DIR/run.json: what was run, with which effective
// configuration, and what each stage did. It is written when a run starts
// (complete: false) and again when it ends.
type runRecord struct {
	Format       string        `json:"format"` // "segdiscover-run"
	Version      int           `json:"version"`
	CacheVersion int           `json:"cache_version"`
	InDir        string        `json:"in_dir"` // absolute
	Started      time.Time     `json:"started"`
	Finished     *time.Time    `json:"finished,omitempty"`
	Complete     bool          `json:"complete"` // every stage asked for ran to its end
	Config       Config        `json:"config"`   // effective: defaults filled in
	Images       int           `json:"images"`
	Failed       int           `json:"failed"`
	Concepts     int           `json:"concepts,omitempty"`
	Stages       []*StageStats `json:"stages"`
	Adapt        *AdaptRecord  `json:"adapt,omitempty"` // segdiscover adapt only
}

const runFormat = "segdiscover-run"

func (r *runner) runRecord(start time.Time, complete bool) *runRecord {
	in := absInput(r.o.InDir)
	rec := &runRecord{Format: runFormat, Version: 1, CacheVersion: cacheVersion, InDir: in, Started: start.UTC(),
		Complete: complete, Config: r.cfg, Images: r.sum.Images, Failed: len(r.failures), Concepts: r.sum.Concepts,
		Stages: r.sum.Stages, Adapt: r.adapt}
	if r.sum.Wall > 0 {
		t := start.Add(r.sum.Wall).UTC()
		rec.Finished = &t
	}
	return rec
}

func writeRunJSON(c *cache, rec *runRecord) error { return c.writeJSON("run.json", rec) }

// errorRecord is one entry of OUT_DIR/errors.json.
type errorRecord struct {
	Path  string `json:"path"`
	Stage string `json:"stage"`
	Error string `json:"error"`
}

// writeErrorsJSON writes OUT_DIR/errors.json: a JSON array of the inputs
// that failed in this run ([] when none did).
func writeErrorsJSON(c *cache, fails []*FileError) error {
	recs := make([]errorRecord, len(fails))
	for i, f := range fails {
		recs[i] = errorRecord{Path: f.Path, Stage: f.Stage, Error: f.Err.Error()}
	}
	return c.writeJSON("errors.json", recs)
}

// writeJSON writes v, indented, to the object key of the output store.
func (c *cache) writeJSON(key string, v any) error {
	return c.writeSync(key, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	})
}

// ReadRunConfig reads the input folder and effective configuration of the
// last run into out (OUT_DIR/run.json), for commands that continue a run.
func ReadRunConfig(out string) (inDir string, c Config, err error) {
	var rec struct {
		Format string          `json:"format"`
		InDir  string          `json:"in_dir"`
		Config json.RawMessage `json:"config"`
	}
	st, err := openOutput(context.Background(), out, false)
	if err != nil {
		return "", c, err
	}
	defer st.Close()
	p := st.Location("run.json")
	data, err := newStoreCache(st).read("run.json")
	if err != nil {
		return "", c, fmt.Errorf("%s: %w (run `segdiscover run IN_DIR -o %s` first)", p, err, out)
	}
	if err := json.Unmarshal(data, &rec); err != nil || rec.Format != runFormat {
		return "", c, fmt.Errorf("%s: not a segdiscover run record", p)
	}
	if err := decodeConfig(rec.Config, &c); err != nil {
		return "", c, fmt.Errorf("%s: %w", p, err)
	}
	return rec.InDir, c, nil
}

// WriteSummary prints s for people: what each stage did, the failures with
// their reasons, and where the outputs are.
func (s *Summary) WriteSummary(w io.Writer) {
	failed := len(s.Failures)
	status := "done"
	if s.Interrupted {
		status = "interrupted (rerun the same command to resume)"
	}
	shard := ""
	if s.Shard != "" {
		shard = " (shard " + s.Shard + ")"
	}
	fmt.Fprintf(w, "%s: %d images%s from %s, %d failed, in %s\n", status, s.Images, shard, s.InDir, failed, s.Wall.Round(time.Millisecond))
	for _, st := range s.Stages {
		if !st.Ran {
			why := "--until"
			if st.Note != "" {
				why = st.Note
			}
			fmt.Fprintf(w, "  %-13s not run (%s)\n", st.Name, why)
			continue
		}
		line := fmt.Sprintf("  %-13s %d computed, %d cached", st.Name, st.Computed, st.Cached)
		if st.Failed > 0 {
			line += fmt.Sprintf(", %d failed", st.Failed)
		}
		line += fmt.Sprintf(", %.1fs", st.Seconds)
		if st.Name == StageCluster && s.Concepts > 0 {
			line += fmt.Sprintf(", %d concepts", s.Concepts)
		}
		if st.Note != "" {
			line += " (" + st.Note + ")"
		}
		fmt.Fprintln(w, line)
	}
	if s.Adapt != nil && len(s.Adapt.Concepts) > 0 && s.Adapt.TargetRows > 0 {
		s.Adapt.write(w, s.InDir)
	}
	if failed > 0 {
		fmt.Fprintf(w, "failed inputs (also in %s):\n", filepath.Join(s.OutDir, "errors.json"))
		for _, f := range s.Failures {
			fmt.Fprintf(w, "  %s [%s]: %v\n", f.Path, f.Stage, f.Err)
		}
	}
	have := s.present
	if have == nil {
		// A summary not from Run: look in the folder.
		for _, o := range s.outputNames() {
			if _, err := os.Stat(filepath.Join(s.OutDir, filepath.FromSlash(o))); err == nil {
				have = append(have, o)
			}
		}
	}
	fmt.Fprintf(w, "outputs in %s: %s\n", s.OutDir, strings.Join(have, " "))
	if s.Next != "" {
		fmt.Fprintln(w, s.Next)
	}
}

// outputNames are the outputs the stages that ran may have written, as
// WriteSummary names them.
func (s *Summary) outputNames() []string {
	var outs []string
	for _, st := range s.Stages {
		if !st.Ran {
			continue
		}
		switch st.Name {
		case StageSuperpixels:
			outs = append(outs, "superpixels/")
		case StageFeatures:
			outs = append(outs, "features/")
		case StageCluster:
			outs = append(outs, gmmFile)
		case StagePseudolabels:
			outs = append(outs, "pseudolabels/")
		case StageTrain:
			outs = append(outs, "model/segnet.safetensors")
		case StageMasks:
			outs = append(outs, "masks/")
		case StageOverlays:
			outs = append(outs, "overlays/")
		}
		if st.Name == StageCluster {
			outs = append(outs, legendFile)
		}
	}
	outs = append(outs, "report.html", "concepts.json", "run.json", "errors.json")
	var uniq []string
	for _, o := range outs {
		if !slices.Contains(uniq, o) {
			uniq = append(uniq, o)
		}
	}
	return uniq
}

// noteOutputs records which of the outputs are in c's store, for
// WriteSummary: only what is there, since a stage that failed or was cut
// short may have written nothing.
func (s *Summary) noteOutputs(c *cache) {
	s.present = []string{}
	for _, o := range s.outputNames() {
		var there bool
		if strings.HasSuffix(o, "/") {
			// A folder: there if it holds an object.
			for _, err := range c.st.List(c.ctx, o) {
				there = err == nil
				break
			}
		} else {
			there, _ = store.Exists(c.ctx, c.st, o)
		}
		if there {
			s.present = append(s.present, o)
		}
	}
}

// readSmallFile reads a small metadata file (run.json, a config).
func readSmallFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 16<<20))
}
