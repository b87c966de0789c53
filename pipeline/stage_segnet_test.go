package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segdiscover/segdiscover/pseudolabel"
	"github.com/segdiscover/segdiscover/segnet"
)

// halves returns a w x h sample whose left half is red, concept 0 and
// confidence 100, and right half blue, concept 1 and confidence 200.
func halves(w, h int) segnet.Sample {
	r := image.Rect(0, 0, w, h)
	s := segnet.Sample{Image: image.NewNRGBA(r), Mask: image.NewPaletted(r, pseudolabel.Palette()), Conf: image.NewGray(r)}
	for y := range h {
		for x := range w {
			id, conf, c := uint8(0), uint8(100), color.NRGBA{255, 0, 0, 255}
			if x >= w/2 {
				id, conf, c = 1, 200, color.NRGBA{0, 0, 255, 255}
			}
			s.Image.SetNRGBA(x, y, c)
			s.Mask.SetColorIndex(x, y, id)
			s.Conf.SetGray(x, y, color.Gray{conf})
		}
	}
	return s
}

func TestShrinkSample(t *testing.T) {
	for _, tc := range []struct {
		name         string
		w, h         int
		cropH, cropW int
		wantW, wantH int
	}{
		{"stanford size is kept", 320, 240, 0, 0, 320, 240},
		{"twice the zoomed crop is kept", 480, 360, 120, 160, 480, 360},
		{"just above it", 481, 361, 120, 160, 480, 361},
		{"12 megapixels", 4000, 3000, 120, 160, 480, 360},
		{"portrait", 3000, 4000, 120, 160, 480, 640},
		{"larger crop", 4000, 3000, 240, 320, 960, 720},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := halves(tc.w, tc.h)
			out := shrinkSample(in, tc.cropH, tc.cropW)
			for _, r := range []image.Rectangle{out.Image.Bounds(), out.Mask.Bounds(), out.Conf.Bounds()} {
				if r.Dx() != tc.wantW || r.Dy() != tc.wantH {
					t.Fatalf("size %v, want %dx%d", r, tc.wantW, tc.wantH)
				}
			}
			if tc.wantW == tc.w && out.Image != in.Image {
				t.Fatal("an image that needs no shrinking was copied")
			}
			for _, y := range []int{0, tc.wantH / 2, tc.wantH - 1} {
				for _, x := range []int{0, tc.wantW/2 - 2, tc.wantW/2 + 1, tc.wantW - 1} {
					want := halves(tc.wantW, tc.wantH)
					if got, w := out.Mask.ColorIndexAt(x, y), want.Mask.ColorIndexAt(x, y); got != w {
						t.Errorf("mask (%d,%d) = %d, want %d", x, y, got, w)
					}
					if got, w := out.Conf.GrayAt(x, y), want.Conf.GrayAt(x, y); got != w {
						t.Errorf("confidence (%d,%d) = %d, want %d", x, y, got.Y, w.Y)
					}
					if got, w := out.Image.NRGBAAt(x, y), want.Image.NRGBAAt(x, y); got != w {
						t.Errorf("image (%d,%d) = %v, want %v", x, y, got, w)
					}
				}
			}
		})
	}
}

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
	r := &runner{cache: &cache{out: out}, cfg: c.Defaults()}
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
		conf, err := DecodeConfidence(f, 0)
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
	r := &runner{cache: &cache{out: out}, cfg: c.Defaults()}
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
