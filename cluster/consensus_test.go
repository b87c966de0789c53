package cluster

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestAdjustedRand(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, b []int
		k    int
		want float64
	}{
		{"identical up to renaming", []int{0, 0, 1, 1, 2}, []int{2, 2, 0, 0, 1}, 3, 1},
		// sklearn.metrics.adjusted_rand_score([0,0,1,1], [0,0,1,2]) = 4/7.
		{"split", []int{0, 0, 1, 1}, []int{0, 0, 1, 2}, 3, 4.0 / 7},
		// ... and ([0,0,1,1], [0,1,0,1]) = -0.5.
		{"crossed", []int{0, 0, 1, 1}, []int{0, 1, 0, 1}, 2, -0.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := AdjustedRand(tc.a, tc.b, tc.k); math.Abs(got-tc.want) > 1e-12 {
				t.Errorf("ARI %v, want %v", got, tc.want)
			}
		})
	}
}

// TestConsensusFindsBlobs checks that the consensus initialisation finds
// well-separated clusters, sampling included, and that a seed fixes the
// result.
func TestConsensusFindsBlobs(t *testing.T) {
	x, truth := blobs(30000, 5, 4, 3)
	s := Settings{K: 5, InitMethod: InitConsensus}
	g, info, ok := Fit(x, s, rand.NewPCG(1, 2))
	if !ok {
		t.Fatal("fit failed")
	}
	if !samePartition(g.Predict(x, 0), truth) {
		t.Error("consensus fit did not recover the blobs")
	}
	g2, info2, _ := Fit(x, s, rand.NewPCG(1, 2))
	if info2.LowerBound != info.LowerBound || !samePartition(g2.Predict(x, 0), g.Predict(x, 0)) {
		t.Error("same seed, different fits")
	}
	if m, err := ParseInitMethod("Consensus"); err != nil || m != InitConsensus || m.String() != "consensus" {
		t.Errorf("ParseInitMethod: %v %v", m, err)
	}
	if _, err := ParseInitMethod("best"); err == nil {
		t.Error("ParseInitMethod accepted an unknown name")
	}
}
