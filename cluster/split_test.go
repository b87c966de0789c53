package cluster

import (
	"math/rand/v2"
	"testing"
)

// Binary splitting finds well-separated clusters and, making no random
// choice, gives the same mixture whatever the seed.
func TestSplitFindsBlobsWhateverTheSeed(t *testing.T) {
	x, truth := blobs(30000, 5, 4, 3)
	s := Settings{K: 5, InitMethod: InitSplit}
	g, info, ok := Fit(x, s, rand.NewPCG(1, 2))
	if !ok {
		t.Fatal("fit failed")
	}
	if !samePartition(g.Predict(x, 0), truth) {
		t.Error("split fit did not recover the blobs")
	}
	g2, info2, ok := Fit(x, s, rand.NewPCG(99, 7))
	if !ok {
		t.Fatal("fit failed")
	}
	if info2.LowerBound != info.LowerBound || !samePartition(g2.Predict(x, 0), g.Predict(x, 0)) {
		t.Errorf("seeds 1 and 99 gave different fits (lower bounds %v, %v)", info.LowerBound, info2.LowerBound)
	}
	if m, err := ParseInitMethod("SPLIT"); err != nil || m != InitSplit || m.String() != "split" {
		t.Errorf("ParseInitMethod: %v %v", m, err)
	}
}

// The entropy choice finds well-separated clusters too.
func TestEntropyFindsBlobs(t *testing.T) {
	x, truth := blobs(30000, 5, 4, 3)
	g, _, ok := Fit(x, Settings{K: 5, InitMethod: InitEntropy}, rand.NewPCG(1, 2))
	if !ok {
		t.Fatal("fit failed")
	}
	if !samePartition(g.Predict(x, 0), truth) {
		t.Error("entropy fit did not recover the blobs")
	}
}
