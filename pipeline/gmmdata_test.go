package pipeline

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// modelScore is the mean log-likelihood, over every superpixel of the run
// in out, of the mixture the cluster stage wrote there.
func modelScore(t *testing.T, c Config, in, out string) float64 {
	t.Helper()
	r, items := inputRunner(t, c, in, out)
	m, err := r.readModel()
	if err != nil {
		t.Fatal(err)
	}
	x, err := r.loadFeatures(context.Background(), items)
	if err != nil {
		t.Fatal(err)
	}
	return m.gmm.Score(m.norm.Apply(x), 1)
}

func readOut(t *testing.T, out, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGMMDataAll checks --gmm-data all: its model explains every
// superpixel at least as well as the sample fit it starts from, when the
// sample is smaller than the data; a sharded run (2 shards, then fit)
// writes the unsharded run's model byte for byte; and the setting is in
// the model's cache key: switching recomputes the model and what follows,
// switching back recomputes it again, giving the first bytes.
func TestGMMDataAll(t *testing.T) {
	defer func(g int) { groupImages = g }(groupImages)
	groupImages = 3 // 11 images: 4 groups
	in := filepath.Join("..", "testdata", "images")
	c := testConfig()
	c.MaxSamples = 60
	c.Until = StagePseudolabels
	sampleCfg, allCfg := c, c
	allCfg.GMMData = GMMDataAll

	sampleOut, allOut := t.TempDir(), t.TempDir()
	if _, err := runTest(t, in, sampleOut, sampleCfg); err != nil {
		t.Fatal(err)
	}
	if _, err := runTest(t, in, allOut, allCfg); err != nil {
		t.Fatal(err)
	}
	sampleGMM, allGMM := readOut(t, sampleOut, gmmFile), readOut(t, allOut, gmmFile)
	if bytes.Equal(sampleGMM, allGMM) {
		t.Fatal("--gmm-data all wrote the sample fit's model")
	}
	ls, la := modelScore(t, sampleCfg, in, sampleOut), modelScore(t, allCfg, in, allOut)
	t.Logf("mean log-likelihood over every superpixel: sample fit %.6f, all %.6f", ls, la)
	if !(la >= ls) {
		t.Errorf("mean log-likelihood over every superpixel: all %v < sample fit %v", la, ls)
	}

	t.Run("sharded equals unsharded", func(t *testing.T) {
		out := t.TempDir()
		full := allCfg
		full.Until = ""
		for i := range 2 {
			if _, err := runShardTest(t, in, out, full, Shard{i, 2}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := fitTest(t, out, 2); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{gmmFile, normalizerFile} {
			if !bytes.Equal(readOut(t, out, f), readOut(t, allOut, f)) {
				t.Errorf("%s of the sharded run differs from the unsharded run's", f)
			}
		}
	})

	t.Run("cache key", func(t *testing.T) {
		if sampleCfg.clusterParams() == allCfg.clusterParams() {
			t.Fatal("the cluster parameters do not hold --gmm-data")
		}
		dflt := sampleCfg
		dflt.GMMData = GMMDataSample
		if d := dflt.Defaults(); d.clusterParams() != sampleCfg.Defaults().clusterParams() {
			t.Error("--gmm-data sample changes the cluster key of the default")
		}
		// allOut: switch to sample, then back to all.
		for _, step := range []struct {
			cfg  Config
			want []byte
		}{{sampleCfg, sampleGMM}, {allCfg, allGMM}} {
			sum, err := runTest(t, in, allOut, step.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := stats(sum), "superpixels 0/11 features 0/11 cluster 1/0 pseudolabels 11/0 overlays 11/0"; got != want {
				t.Errorf("gmm-data %q after a switch: %s, want %s", step.cfg.GMMData, got, want)
			}
			if !bytes.Equal(readOut(t, allOut, gmmFile), step.want) {
				t.Errorf("gmm-data %q after a switch: the model differs from a fresh run's", step.cfg.GMMData)
			}
		}
		// Unchanged: everything reused.
		sum, err := runTest(t, in, allOut, allCfg)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := stats(sum), "superpixels 0/11 features 0/11 cluster 0/1 pseudolabels 0/11 overlays 0/11"; got != want {
			t.Errorf("rerun: %s, want %s", got, want)
		}
	})
}
