package pseudolabel

import (
	"encoding/json"
	"image"
	"math"
	"testing"
)

func grayOf(w, h int, f func(x, y int) uint8) *image.Gray {
	g := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			g.Pix[y*g.Stride+x] = f(x, y)
		}
	}
	return g
}

// TestBoundariesKnownAnswers checks hand-counted cases on a 6x6 image whose
// ground truth changes class between columns 2 and 3 (boundary pixels at
// x = 2, one per row).
func TestBoundariesKnownAnswers(t *testing.T) {
	gt := grayOf(6, 6, func(x, _ int) uint8 { return uint8(min(1, x/3)) })
	gtVoid := grayOf(6, 6, func(x, _ int) uint8 {
		if x == 5 {
			return 255
		}
		return uint8(min(1, x/3))
	})
	for _, tc := range []struct {
		name                 string
		pred, gt             *image.Gray
		pred0, predHit, gt0  int64
		gtHit                int64
		precision, recall, f float64
	}{
		// Edge one pixel to the right: every pixel matches both ways.
		{"shifted by 1", grayOf(6, 6, func(x, _ int) uint8 { return uint8(5 * min(1, x/4)) }), gt, 6, 6, 6, 6, 1, 1, 1},
		// Two pixels away is still within the tolerance.
		{"shifted by 2", grayOf(6, 6, func(x, _ int) uint8 { return uint8(min(1, x/5)) }), gt, 6, 6, 6, 6, 1, 1, 1},
		// A horizontal edge at y = 2: pixels (x, 2) match for x <= 4 and
		// ground-truth pixels (2, y) for y <= 4.
		{"crossing", grayOf(6, 6, func(_, y int) uint8 { return uint8(min(1, y/3)) }), gt, 6, 5, 6, 5, 5.0 / 6, 5.0 / 6, 5.0 / 6},
		// Column 5 void: the predicted pixel (5, 2) is not counted.
		{"void", grayOf(6, 6, func(_, y int) uint8 { return uint8(min(1, y/3)) }), gtVoid, 5, 5, 6, 5, 1, 5.0 / 6, 10.0 / 11},
		// No predicted edge at all: recall 0, precision undefined.
		{"flat", grayOf(6, 6, func(_, _ int) uint8 { return 3 }), gt, 0, 0, 6, 0, math.NaN(), 0, math.NaN()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b Boundaries
			if err := b.Add(tc.pred, tc.gt, DefaultIgnore); err != nil {
				t.Fatal(err)
			}
			if b.Pred != tc.pred0 || b.PredHit != tc.predHit || b.GT != tc.gt0 || b.GTHit != tc.gtHit {
				t.Fatalf("counts %+v, want pred %d/%d gt %d/%d", b, tc.predHit, tc.pred0, tc.gtHit, tc.gt0)
			}
			s := b.Score()
			for _, c := range []struct {
				name      string
				got, want float64
			}{{"precision", s.Precision, tc.precision}, {"recall", s.Recall, tc.recall}, {"F", s.F, tc.f}} {
				if !(math.Abs(c.got-c.want) < 1e-15 || math.IsNaN(c.got) && math.IsNaN(c.want)) {
					t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
				}
			}
			if _, err := json.Marshal(s); err != nil {
				t.Errorf("JSON: %v", err)
			}
		})
	}
}

// TestBoundariesMerge checks that per-image counts add up to the dataset's.
func TestBoundariesMerge(t *testing.T) {
	gt := grayOf(6, 6, func(x, _ int) uint8 { return uint8(min(1, x/3)) })
	pred := grayOf(6, 6, func(_, y int) uint8 { return uint8(min(1, y/3)) })
	var a, b, all Boundaries
	if err := a.Add(pred, gt, DefaultIgnore); err != nil {
		t.Fatal(err)
	}
	if err := b.Add(gt, gt, DefaultIgnore); err != nil {
		t.Fatal(err)
	}
	all.Add(pred, gt, DefaultIgnore)
	all.Add(gt, gt, DefaultIgnore)
	a.Merge(&b)
	if a != all {
		t.Errorf("merged %+v, accumulated %+v", a, all)
	}
	if err := a.Add(pred, grayOf(5, 6, func(_, _ int) uint8 { return 0 }), DefaultIgnore); err == nil {
		t.Error("no error on a size mismatch")
	}
}
