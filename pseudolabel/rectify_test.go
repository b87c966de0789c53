package pseudolabel

import (
	"image"
	"math/rand/v2"
	"testing"
)

// maskOf builds a 1-row mask and confidence map from ids and confidences.
func maskOf(ids, conf []uint8) (*image.Paletted, *image.Gray) {
	r := image.Rect(0, 0, len(ids), 1)
	m := image.NewPaletted(r, Palette())
	g := image.NewGray(r)
	copy(m.Pix, ids)
	copy(g.Pix, conf)
	return m, g
}

func TestThresholds(t *testing.T) {
	// Concept 0: confidences 0..255 once each. Concept 1: all 255.
	// Concept 2: low confidences only (10..19). Concept 3: absent.
	var ids, conf []uint8
	for v := range 256 {
		ids, conf = append(ids, 0), append(conf, uint8(v))
	}
	for range 7 {
		ids, conf = append(ids, 1), append(conf, 255)
	}
	for v := 10; v < 20; v++ {
		ids, conf = append(ids, 2), append(conf, uint8(v))
	}
	ids, conf = append(ids, Unassigned), append(conf, 255)
	m, g := maskOf(ids, conf)
	h := NewConfidenceHistogram(4)
	h.Add(m, g)
	for _, tc := range []struct {
		keep float64
		want []uint8
	}{
		{0.5, []uint8{128, 255, 15, 0}},
		{1, []uint8{0, 255, 10, 0}},
		{0.1, []uint8{230, 255, 19, 0}},
	} {
		got := h.Thresholds(tc.keep)
		for c := range got {
			if got[c] != tc.want[c] {
				t.Errorf("keep %v: thresholds %v, want %v", tc.keep, got, tc.want)
				break
			}
		}
		// Each concept keeps at least keep of its pixels, and raising its
		// threshold by one would keep fewer.
		kept := make([]int, 4)
		r := Rectify(m, g, got, nil)
		for _, v := range r.Pix {
			if v != Unassigned {
				kept[v]++
			}
		}
		for c, n := range []int{256, 7, 10, 0} {
			if float64(kept[c]) < tc.keep*float64(n) {
				t.Errorf("keep %v: concept %d keeps %d of %d", tc.keep, c, kept[c], n)
			}
		}
	}
	if n := h.Pixels(3); n != 0 {
		t.Errorf("absent concept counted %d pixels", n)
	}
}

// The point of class balance: a hard concept (all its confidences below an
// easy one's) keeps its most confident pixels, where one global threshold
// at the same overall fraction would drop it whole.
func TestThresholdsClassBalanced(t *testing.T) {
	var ids, conf []uint8
	for i := range 100 {
		ids, conf = append(ids, 0), append(conf, uint8(200+i%50))
		ids, conf = append(ids, 1), append(conf, uint8(50+i%50))
	}
	m, g := maskOf(ids, conf)
	h := NewConfidenceHistogram(2)
	h.Add(m, g)
	r := Rectify(m, g, h.Thresholds(0.5), nil)
	var kept [2]int
	for _, v := range r.Pix {
		if v != Unassigned {
			kept[v]++
		}
	}
	if kept[0] != 50 || kept[1] != 50 {
		t.Errorf("kept %v pixels per concept, want 50 each", kept)
	}
}

func TestRectifySecondOpinion(t *testing.T) {
	m, g := maskOf([]uint8{0, 0, 1, 1, 2}, []uint8{255, 255, 255, 255, 255})
	other, _ := maskOf([]uint8{0, 1, 1, Unassigned, 2}, make([]uint8, 5))
	got := Rectify(m, g, []uint8{0, 0}, other)
	// Concept 2 is beyond thr: dropped even where both agree.
	want := []uint8{0, Unassigned, 1, Unassigned, Unassigned}
	for i := range want {
		if got.Pix[i] != want[i] {
			t.Fatalf("rectified %v, want %v", got.Pix, want)
		}
	}
	if m.Pix[1] != 0 {
		t.Error("Rectify changed its input")
	}
}

func TestHistogramMergeEqualsAdd(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	one := NewConfidenceHistogram(5)
	parts := []*ConfidenceHistogram{NewConfidenceHistogram(5), NewConfidenceHistogram(5)}
	for i := range 6 {
		r := image.Rect(3, 2, 3+rng.IntN(20)+1, 2+rng.IntN(20)+1) // not at the origin
		m := image.NewPaletted(r, Palette())
		g := image.NewGray(r)
		for j := range m.Pix {
			m.Pix[j] = uint8(rng.IntN(6)) // 5 is out of range: skipped
			g.Pix[j] = uint8(rng.IntN(256))
		}
		one.Add(m, g)
		parts[i%2].Add(m, g)
	}
	parts[0].Merge(parts[1])
	for _, keep := range []float64{0.2, 0.5, 0.9} {
		a, b := one.Thresholds(keep), parts[0].Thresholds(keep)
		for c := range a {
			if a[c] != b[c] || one.Pixels(c) != parts[0].Pixels(c) {
				t.Fatalf("keep %v: merged %v (%d px), single pass %v (%d px)", keep, b, parts[0].Pixels(c), a, one.Pixels(c))
			}
		}
	}
}

func TestRectifyPanics(t *testing.T) {
	m, _ := maskOf([]uint8{0, 1}, []uint8{1, 2})
	_, g3 := maskOf([]uint8{0, 1, 2}, []uint8{1, 2, 3})
	for name, f := range map[string]func(){
		"bounds":     func() { Rectify(m, g3, nil, nil) },
		"keep 0":     func() { NewConfidenceHistogram(2).Thresholds(0) },
		"merge":      func() { NewConfidenceHistogram(2).Merge(NewConfidenceHistogram(3)) },
		"k too big":  func() { NewConfidenceHistogram(MaxConcepts + 1) },
		"add bounds": func() { NewConfidenceHistogram(2).Add(m, g3) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			f()
		})
	}
}
