package superpixel

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func labelsOf(w, h int, v ...int32) *Labels {
	if len(v) != w*h {
		panic("labelsOf: wrong pixel count")
	}
	n := int32(0)
	for _, x := range v {
		n = max(n, x+1)
	}
	return &Labels{Width: w, Height: h, N: int(n), Pix: v}
}

// Naive definitions, straight from the formulas, to check the fast ones.

func naiveBR(seg, gt *Labels, tol int) float64 {
	w, h := seg.Width, seg.Height
	isB := func(l *Labels, x, y int) bool {
		v := l.At(x, y)
		for _, d := range [][2]int{{1, 0}, {-1, 0}, {0, 1}, {0, -1}} {
			nx, ny := x+d[0], y+d[1]
			if nx >= 0 && ny >= 0 && nx < w && ny < h && l.At(nx, ny) != v {
				return true
			}
		}
		return false
	}
	n, hit := 0, 0
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if !isB(gt, x, y) {
				continue
			}
			n++
		found:
			for dy := -tol; dy <= tol; dy++ {
				for dx := -tol; dx <= tol; dx++ {
					nx, ny := x+dx, y+dy
					if nx >= 0 && ny >= 0 && nx < w && ny < h && isB(seg, nx, ny) {
						hit++
						break found
					}
				}
			}
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return float64(hit) / float64(n)
}

func naiveUEASA(seg, gt *Labels) (ue, asa float64) {
	inter := map[[2]int32]int{}
	size := map[int32]int{}
	for i := range seg.Pix {
		inter[[2]int32{seg.Pix[i], gt.Pix[i]}]++
		size[seg.Pix[i]]++
	}
	best := map[int32]int{}
	var e int
	for k, v := range inter {
		e += min(v, size[k[0]]-v)
		best[k[0]] = max(best[k[0]], v)
	}
	var a int
	for _, v := range best {
		a += v
	}
	n := float64(len(seg.Pix))
	return float64(e) / n, float64(a) / n
}

func randomBlocks(rng *rand.Rand, w, h, n int, scale int32) *Labels {
	l := &Labels{Width: w, Height: h, Pix: make([]int32, w*h)}
	for k := 0; k < n; k++ {
		x0, y0 := rng.IntN(w), rng.IntN(h)
		x1, y1 := x0+1+rng.IntN(w/2+1), y0+1+rng.IntN(h/2+1)
		id := int32(rng.IntN(50)) * scale
		for y := y0; y < min(y1, h); y++ {
			for x := x0; x < min(x1, w); x++ {
				l.Pix[y*w+x] = id
			}
		}
	}
	return l
}

func TestMetricsMatchNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := 0; trial < 40; trial++ {
		w, h := 1+rng.IntN(25), 1+rng.IntN(25)
		seg := randomBlocks(rng, w, h, 1+rng.IntN(10), 1_000_003) // ids far apart: the sorted-ids path
		gt := randomBlocks(rng, w, h, 1+rng.IntN(6), 1)
		for tol := 0; tol <= 3; tol++ {
			got, want := BoundaryRecall(seg, gt, tol), naiveBR(seg, gt, tol)
			if !(got == want || (math.IsNaN(got) && math.IsNaN(want))) {
				t.Fatalf("trial %d %dx%d tol %d: BR %v, naive %v", trial, w, h, tol, got, want)
			}
		}
		ue, asa := naiveUEASA(seg, gt)
		if got := UndersegmentationError(seg, gt); math.Abs(got-ue) > 1e-15 {
			t.Fatalf("trial %d: UE %v, naive %v", trial, got, ue)
		}
		if got := AchievableSegmentationAccuracy(seg, gt); math.Abs(got-asa) > 1e-15 {
			t.Fatalf("trial %d: ASA %v, naive %v", trial, got, asa)
		}
	}
}

func TestMetricsKnown(t *testing.T) {
	// gt: left half 1, right half 2 (4×2). seg: one superpixel per column.
	gt := labelsOf(4, 2, 1, 1, 2, 2, 1, 1, 2, 2)
	cols := labelsOf(4, 2, 0, 1, 2, 3, 0, 1, 2, 3)
	one := labelsOf(4, 2, 5, 5, 5, 5, 5, 5, 5, 5)
	rows := labelsOf(4, 2, 0, 0, 0, 0, 9, 9, 9, 9)
	tests := []struct {
		name         string
		seg          *Labels
		tol          int
		br, ue, asa  float64
		segmentCount int
	}{
		{"columns", cols, 0, 1, 0, 1, 4},
		{"single", one, 2, 0, 1, 0.5, 1}, // per half: min(|S∩G| 4, |S−G| 4); 8/8
		{"rows", rows, 0, 1, 1, 0.5, 2},  // 2 rows: every pixel is on a row boundary
		{"same", gt, 0, 1, 0, 1, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := BoundaryRecall(tc.seg, gt, tc.tol); got != tc.br {
				t.Errorf("BR %v, want %v", got, tc.br)
			}
			if got := UndersegmentationError(tc.seg, gt); got != tc.ue {
				t.Errorf("UE %v, want %v", got, tc.ue)
			}
			if got := AchievableSegmentationAccuracy(tc.seg, gt); got != tc.asa {
				t.Errorf("ASA %v, want %v", got, tc.asa)
			}
			if got := CountSegments(tc.seg); got != tc.segmentCount {
				t.Errorf("segments %d, want %d", got, tc.segmentCount)
			}
		})
	}
	// 1-D: gt boundary at x 2|3, superpixel boundary at x 4|5.
	gt1 := labelsOf(6, 1, 1, 1, 1, 2, 2, 2)
	seg1 := labelsOf(6, 1, 0, 0, 0, 0, 0, 1)
	for tol, want := range []float64{0, 0.5, 1} {
		if got := BoundaryRecall(seg1, gt1, tol); got != want {
			t.Errorf("1-D tol %d: BR %v, want %v", tol, got, want)
		}
	}
	if br := BoundaryRecall(cols, one, 2); !math.IsNaN(br) {
		t.Errorf("BR against a one-segment gt: %v, want NaN", br)
	}
}

func TestEvaluateAverages(t *testing.T) {
	gtA := labelsOf(4, 2, 1, 1, 2, 2, 1, 1, 2, 2)
	gtB := labelsOf(4, 2, 1, 1, 1, 1, 1, 1, 1, 1) // no boundary: BR NaN, skipped
	gtC := labelsOf(4, 2, 0, 0, 0, 0, 3, 3, 3, 3)
	seg := labelsOf(4, 2, 0, 1, 2, 3, 0, 1, 2, 3)
	q, err := Evaluate(seg, []*Labels{gtA, gtB, gtC}, QualitySettings{Tolerance: -1})
	if err != nil {
		t.Fatal(err)
	}
	// BR: gtA 1, gtC 1 (every pixel of a 2-row map is on its boundary, and
	// every pixel of seg is on a column boundary) -> 1. UE: 0, 0, 1 (each column split in two) -> 1/3.
	// ASA: 1, 1, 0.5 -> 2.5/3.
	if q.BR != 1 || math.Abs(q.UE-1.0/3) > 1e-15 || math.Abs(q.ASA-2.5/3) > 1e-15 || q.Segments != 4 || q.Annotators != 3 {
		t.Errorf("%+v", q)
	}
	if _, err := Evaluate(seg, nil, QualitySettings{}); err == nil {
		t.Error("no ground truth: no error")
	}
	if _, err := Evaluate(seg, []*Labels{labelsOf(2, 1, 0, 0)}, QualitySettings{}); err == nil || !strings.Contains(err.Error(), "2x1") {
		t.Errorf("size mismatch: %v", err)
	}
	// Default tolerance is 2 px, negative means 0 px.
	gt1 := labelsOf(6, 1, 1, 1, 1, 2, 2, 2)
	seg1 := labelsOf(6, 1, 0, 0, 0, 0, 0, 1)
	for tol, want := range map[int]float64{0: 1, -1: 0, 1: 0.5} {
		q, _ := Evaluate(seg1, []*Labels{gt1}, QualitySettings{Tolerance: tol})
		if q.BR != want {
			t.Errorf("Tolerance %d: BR %v, want %v", tol, q.BR, want)
		}
	}
}

func TestSummarize(t *testing.T) {
	per := []Quality{{BR: 0.5, UE: 0.1, ASA: 0.9, Segments: 10}, {BR: 1, UE: 0.3, ASA: 0.8, Segments: 20},
		{BR: 0.9, UE: 0.2, ASA: 0.7, Segments: 40}, {BR: 0.6, UE: 0.4, ASA: 1, Segments: 30}}
	s := Summarize(per)
	if s.Images != 4 || s.BR != 0.75 || s.BRMedian != 0.75 || math.Abs(s.UE-0.25) > 1e-15 || s.Segments != 25 || s.SegmentsMedian != 25 {
		t.Errorf("%+v", s)
	}
	s = Summarize(per[:3])
	if s.BRMedian != 0.9 || s.SegmentsMedian != 20 {
		t.Errorf("odd count median: %+v", s)
	}
	per[1].BR = math.NaN()
	s = Summarize(per)
	if !math.IsNaN(s.BR) || !math.IsNaN(s.BRMedian) || s.UE == 0 {
		t.Errorf("NaN not propagated to BR only: %+v", s)
	}
	b, err := json.Marshal(s)
	if err != nil || !strings.Contains(string(b), `"br":null`) || !strings.Contains(string(b), `"n_segments_median":25`) {
		t.Errorf("JSON %s %v", b, err)
	}
	var back QualitySummary
	if err := json.Unmarshal(b, &back); err != nil || !math.IsNaN(back.BR) || back.Segments != 25 {
		t.Errorf("round trip %+v %v", back, err)
	}
}

func BenchmarkEvaluateBSDS(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	const w, h = 481, 321
	seg := &Labels{Width: w, Height: h, Pix: make([]int32, w*h)}
	for i := range seg.Pix {
		x, y := i%w, i/w
		seg.Pix[i] = int32(x/20 + (y/20)*25)
	}
	gts := []*Labels{randomBlocks(rng, w, h, 30, 1), randomBlocks(rng, w, h, 30, 1), randomBlocks(rng, w, h, 30, 1)}
	for b.Loop() {
		if _, err := Evaluate(seg, gts, QualitySettings{}); err != nil {
			b.Fatal(err)
		}
	}
}

func ExampleEvaluate() {
	// Ground truth: left and right halves. Superpixels: one per column.
	gt := &Labels{Width: 4, Height: 2, N: 2, Pix: []int32{0, 0, 1, 1, 0, 0, 1, 1}}
	seg := &Labels{Width: 4, Height: 2, N: 4, Pix: []int32{0, 1, 2, 3, 0, 1, 2, 3}}
	q, err := Evaluate(seg, []*Labels{gt}, QualitySettings{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("BR %.2f UE %.2f ASA %.2f segments %d\n", q.BR, q.UE, q.ASA, q.Segments)
	// Output: BR 1.00 UE 0.00 ASA 1.00 segments 4
}
