package pipeline

import (
	"testing"

	"github.com/segdiscover/segdiscover/features/deepcluster"
	"github.com/segdiscover/segdiscover/segnet"
)

// deepClusterTestConfig trains a tiny FCN for two rounds of two epochs.
func deepClusterTestConfig() Config {
	c := testConfig()
	c.Until = StagePseudolabels
	c.Encoder = "deepcluster"
	c.deepcluster = &deepcluster.Settings{Rounds: 2, Epochs: 2, Clusters: 6, Layers: []segnet.LayerSpec{{Out: 8, Stride: 2, Dilation: 1}, {Out: 8, Stride: 1, Dilation: 1}},
		Train: segnet.TrainSettings{Batch: 2, Height: 24, Width: 32}, Area: 32 * 24}
	return c
}

func TestRunDeepClusterEncoder(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	writeScenes(t, in, 0, 6)
	c := deepClusterTestConfig()
	sum, err := runTest(t, in, out, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(sum.stageStats(StageEncoder).Note)
	if got, want := stats(sum), "superpixels 6/0 encoder 1/0 features 6/0 cluster 1/0 pseudolabels 6/0 overlays 6/0"; got != want {
		t.Errorf("first run: %s, want %s", got, want)
	}
}
