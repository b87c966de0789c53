//go:build !purego

package superpixel

import (
	"fmt"
	"image"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestAssignAVX2MatchesGo: the vector kernel must give the same distances
// and labels as the Go loop, bit for bit, for every window width (vector
// body and scalar tail), including ties and empty starting state.
func TestAssignAVX2MatchesGo(t *testing.T) {
	if !useAVX2 {
		t.Skip("no AVX2")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	w, h := 61, 23
	lab := LabImage{Width: w, Height: h, L: make([]float32, w*h), A: make([]float32, w*h), B: make([]float32, w*h)}
	for i := range lab.L {
		// Few distinct values, so that equal distances (ties) occur.
		lab.L[i] = float32(rng.IntN(4)) * 25
		lab.A[i] = float32(rng.IntN(3)*20 - 20)
		lab.B[i] = rng.Float32()*200 - 100
	}
	s := newSolver(&lab, Params{Segments: 40}.withDefaults())
	for trial := range 300 {
		if trial%50 == 0 {
			clear(s.dist)
		}
		k := rng.IntN(len(s.cl))
		s.cl[k], s.ca[k], s.cb[k] = float32(rng.IntN(4))*25, float32(rng.IntN(3)*20-20), rng.Float32()*200-100
		s.wc[k] = []float32{1, 0.25, 1e-3}[rng.IntN(3)]
		x0, y0 := rng.IntN(w), rng.IntN(h)
		n, rows := 1+rng.IntN(w-x0), 1+rng.IntN(h-y0)
		dxw, dyw := s.dxw[:n], s.dyw[:rows]
		for j := range dxw {
			dxw[j] = float32(rng.IntN(5))
		}
		for j := range dyw {
			dyw[j] = float32(rng.IntN(5))
		}
		o := y0*w + x0
		dist, label := slices.Clone(s.dist), slices.Clone(s.label)
		assignWindowAVX2(&lab.L[o], &lab.A[o], &lab.B[o], &s.dist[o], &s.label[o], &dxw[0], &dyw[0],
			n, rows, w, s.cl[k], s.ca[k], s.cb[k], s.wc[k], int32(k))
		avxDist, avxLabel := slices.Clone(s.dist), slices.Clone(s.label)
		copy(s.dist, dist)
		copy(s.label, label)
		s.assignWindowGo(o, dxw, dyw, k)
		if !slices.Equal(avxDist, s.dist) || !slices.Equal(avxLabel, s.label) {
			t.Fatalf("trial %d: window %dx%d at (%d,%d): AVX2 and Go differ", trial, n, rows, x0, y0)
		}
	}
}

// TestSLICAVX2MatchesGo: whole SLIC runs give identical labels with and
// without the vector kernel.
func TestSLICAVX2MatchesGo(t *testing.T) {
	if !useAVX2 {
		t.Skip("no AVX2")
	}
	defer func(v bool) { useAVX2 = v }(useAVX2)
	imgs := []*image.NRGBA{loadPhotos(t)["coffee.jpg"]}
	rng := rand.New(rand.NewPCG(8, 9))
	for range 6 {
		w, h := 1+rng.IntN(90), 1+rng.IntN(60)
		img := image.NewNRGBA(image.Rect(0, 0, w, h))
		for i := range img.Pix {
			img.Pix[i] = uint8(rng.IntN(256))
		}
		imgs = append(imgs, img)
	}
	for i, img := range imgs {
		for _, p := range []Params{{Segments: 200}, {Segments: 1000}, {Segments: 300, SLICO: true}} {
			t.Run(fmt.Sprintf("img%d/%+v", i, p), func(t *testing.T) {
				useAVX2 = true
				a := SLIC(img, p)
				useAVX2 = false
				g := SLIC(img, p)
				if a.N != g.N || !slices.Equal(a.Pix, g.Pix) {
					t.Fatalf("AVX2: %d segments, Go: %d; labels differ", a.N, g.N)
				}
			})
		}
	}
}

// TestUpdateRowAVX2MatchesGo: the vector row update must give the same sums
// as the Go one, bit for bit, for runs of every length (vector body, masked
// tail, run ends found by the vector and the scalar scan).
func TestUpdateRowAVX2MatchesGo(t *testing.T) {
	if !useAVX2 {
		t.Skip("no AVX2")
	}
	rng := rand.New(rand.NewPCG(10, 11))
	for trial := range 200 {
		w := 1 + rng.IntN(120)
		k := 1 + rng.IntN(6)
		lr := make([]int32, w)
		L, A, B := make([]float32, w), make([]float32, w), make([]float32, w)
		for x := 0; x < w; {
			run := 1 + rng.IntN(30)
			id := rng.Int32N(int32(k))
			for ; run > 0 && x < w; run, x = run-1, x+1 {
				lr[x] = id
			}
		}
		for x := range w {
			L[x], A[x], B[x] = rng.Float32()*100, rng.Float32()*200-100, rng.Float32()*1e-3
		}
		y := rng.Int64N(1000)
		want := make([]clusterSum, k)
		for j := range want {
			want[j] = clusterSum{lab: [4]float64{rng.Float64(), 1, 2}, x: 3, y: 4, n: 5}
		}
		got := slices.Clone(want)
		updateRowGo(lr, L, A, B, want, y)
		updateRowAVX2(&lr[0], &L[0], &A[0], &B[0], w, &got[0], y)
		if !slices.Equal(got, want) {
			t.Fatalf("trial %d (w %d): AVX2 %v, Go %v", trial, w, got, want)
		}
	}
}
