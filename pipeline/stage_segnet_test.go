package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segdiscover/segdiscover/pipeline/artifact"
)

// TestTrainShowsProgress checks that training reports its optimiser steps
// through the run's progress, as the per-image stages do.
func TestTrainShowsProgress(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	writeScenes(t, in, 0, 8)
	var buf syncBuffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	c := testConfig()
	c.Epochs = 3
	_, err := Run(context.Background(), Options{InDir: in, OutDir: out, Config: c, Logger: log,
		Progress: ProgressLog, LogInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var last struct{ Done, Total int }
	lines := 0
	for _, line := range strings.Split(buf.String(), "\n") {
		var v struct {
			Msg   string `json:"msg"`
			Stage string `json:"stage"`
			Done  int    `json:"done"`
			Total int    `json:"total"`
		}
		if json.Unmarshal([]byte(line), &v) != nil || v.Msg != "progress" || v.Stage != StageTrain {
			continue
		}
		lines++
		if v.Done < last.Done {
			t.Errorf("steps went back from %d to %d", last.Done, v.Done)
		}
		last.Done, last.Total = v.Done, v.Total
	}
	// 8 images, batch 4, 3 epochs.
	if lines == 0 || last.Total != 6 {
		t.Errorf("%d train progress lines, total %d steps; want some, of 6 steps", lines, last.Total)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRefineSuperpixels checks that --refine superpixels gives masks that
// are constant on every superpixel, with their confidence, and that the
// setting recomputes only the masks.
func TestRefineSuperpixels(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	rels := writeScenes(t, in, 0, 6)
	c := testConfig()
	c.Until = StageMasks
	c.Refine = RefineNone
	if _, err := runTest(t, in, out, c); err != nil {
		t.Fatal(err)
	}
	c.Refine = RefineSuperpixels
	sum, err := runTest(t, in, out, c)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := stats(sum), "superpixels 0/6 features 0/6 cluster 0/1 pseudolabels 0/6 train 0/1 masks 6/0 overlays 6/0"; got != want {
		t.Errorf("refine changed: %s, want %s", got, want)
	}
	r := &runner{cache: newCache(out), cfg: c.Defaults()}
	for _, rel := range rels {
		l, err := r.readLabels(rel)
		if err != nil {
			t.Fatal(err)
		}
		m, err := r.readMask(maskPath(rel))
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(filepath.Join(out, maskConfPath(rel)))
		if err != nil {
			t.Fatal(err)
		}
		conf, err := artifact.DecodeConfidence(f, 0)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		first := make(map[int32]int)
		for i, s := range l.Pix {
			j, ok := first[s]
			if !ok {
				first[s] = i
				continue
			}
			if m.Pix[i] != m.Pix[j] || conf.Pix[i] != conf.Pix[j] {
				t.Fatalf("%s: superpixel %d has two concepts or confidences", rel, s)
			}
		}
	}
}

// TestRefineCRF checks that --refine crf and crf-superpixels recompute only
// the masks, and that crf-superpixels gives one concept per superpixel.
func TestRefineCRF(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	rels := writeScenes(t, in, 0, 4)
	c := testConfig()
	c.Until = StageMasks
	if _, err := runTest(t, in, out, c); err != nil {
		t.Fatal(err)
	}
	for _, refine := range []string{RefineCRF, RefineCRFSuper} {
		c.Refine = refine
		sum, err := runTest(t, in, out, c)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := stats(sum), "superpixels 0/4 features 0/4 cluster 0/1 pseudolabels 0/4 train 0/1 masks 4/0 overlays 4/0"; got != want {
			t.Errorf("%s: %s, want %s", refine, got, want)
		}
	}
	r := &runner{cache: newCache(out), cfg: c.Defaults()}
	for _, rel := range rels {
		l, err := r.readLabels(rel)
		if err != nil {
			t.Fatal(err)
		}
		m, err := r.readMask(maskPath(rel))
		if err != nil {
			t.Fatal(err)
		}
		first := make(map[int32]int)
		for i, s := range l.Pix {
			if j, ok := first[s]; !ok {
				first[s] = i
			} else if m.Pix[i] != m.Pix[j] {
				t.Fatalf("%s: superpixel %d has two concepts", rel, s)
			}
		}
	}
}
