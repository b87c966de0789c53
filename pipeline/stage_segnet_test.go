package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
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

// TestTTAMasks checks that --tta recomputes only the masks, for every
// refinement, that the default keeps them current, and that the masks
// stage applies the views: with --tta flip and --refine none, the masks
// of a mirrored image are the mirror of the image's bit for bit (its two
// views are the image's two views, swapped), which the single view's
// confidences are not.
func TestTTAMasks(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	writeScenes(t, in, 0, 4)
	img := scene(0, 64, 48)
	mir := image.NewNRGBA(img.Bounds())
	w := img.Bounds().Dx()
	for y := range img.Bounds().Dy() {
		for x := range w {
			mir.SetNRGBA(w-1-x, y, img.NRGBAAt(x, y))
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, mir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(in, "mirror.png"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	c := testConfig()
	c.Until = StageMasks
	if _, err := runTest(t, in, out, c); err != nil {
		t.Fatal(err)
	}
	const recompute = "superpixels 0/5 features 0/5 cluster 0/1 pseudolabels 0/5 train 0/1 masks 5/0 overlays 5/0"
	for _, tc := range []struct{ refine, tta, want string }{
		{RefineSuperpixels, "flip,scales", recompute},
		{RefineSuperpixels, "flip,scales", "superpixels 0/5 features 0/5 cluster 0/1 pseudolabels 0/5 train 0/1 masks 0/5 overlays 0/5"},
		{RefineCRFSuper, "flip", recompute},
		{RefineCRF, "scales", recompute},
		{RefineNone, "", recompute},
		{RefineNone, "none", "superpixels 0/5 features 0/5 cluster 0/1 pseudolabels 0/5 train 0/1 masks 0/5 overlays 0/5"},
	} {
		c.Refine, c.TTA = tc.refine, tc.tta
		sum, err := runTest(t, in, out, c)
		if err != nil {
			t.Fatal(err)
		}
		if got := stats(sum); got != tc.want {
			t.Errorf("--refine %s --tta %q: %s, want %s", tc.refine, tc.tta, got, tc.want)
		}
	}
	r := &runner{cache: newCache(out), cfg: c.Defaults()}
	mirrored := func() (masks, confs int) {
		m0, err := r.readMask(maskPath("s000"))
		if err != nil {
			t.Fatal(err)
		}
		m1, err := r.readMask(maskPath("mirror"))
		if err != nil {
			t.Fatal(err)
		}
		var cf [2]*image.Gray
		for i, rel := range []string{"s000", "mirror"} {
			f, err := os.Open(filepath.Join(out, maskConfPath(rel)))
			if err != nil {
				t.Fatal(err)
			}
			cf[i], err = artifact.DecodeConfidence(f, 0)
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
		}
		for y := range m0.Bounds().Dy() {
			for x := range w {
				if m0.ColorIndexAt(x, y) != m1.ColorIndexAt(w-1-x, y) {
					masks++
				}
				if cf[0].GrayAt(x, y) != cf[1].GrayAt(w-1-x, y) {
					confs++
				}
			}
		}
		return masks, confs
	}
	if _, confs := mirrored(); confs == 0 {
		t.Fatal("one view: the confidences of the mirrored image are already the mirror: the test proves nothing")
	}
	c.TTA = "flip"
	if _, err := runTest(t, in, out, c); err != nil {
		t.Fatal(err)
	}
	if masks, confs := mirrored(); masks != 0 || confs != 0 {
		t.Errorf("--tta flip: %d mask and %d confidence pixels of the mirrored image are not the mirror", masks, confs)
	}
}
