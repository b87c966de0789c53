package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/segdiscover/segdiscover/cluster"
	"github.com/segdiscover/segdiscover/features"
	"github.com/segdiscover/segdiscover/pipeline/artifact"
)

// TestClusterStreamsLikeInMemory checks that the cluster stage, which
// streams the feature files (column sums, then scatter and the sampled
// rows), writes byte for byte the model/normalizer.safetensors and
// model/gmm.json that the stage wrote when it held every feature row
// (loadFeatures, one Moments.Add, Fit or SelectK on the whole normalised
// matrix: kept here as the reference), with and without sampling, with
// PCA and with the BIC sweep.
func TestClusterStreamsLikeInMemory(t *testing.T) {
	in := t.TempDir()
	writeScenes(t, in, 0, 9)
	for _, tc := range []struct {
		name string
		edit func(*Config)
	}{
		{"all rows", func(c *Config) {}},
		{"sample of 50", func(c *Config) { c.MaxSamples = 50 }},
		{"sample of 120, PCA 5", func(c *Config) { c.MaxSamples, c.PCA = 120, 5 }},
		{"auto K, sample of 90", func(c *Config) {
			c.MaxSamples, c.Concepts, c.ConceptMin, c.ConceptMax = 90, ConceptCount{Auto: true}, 2, 4
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			c := testConfig()
			c.Until = StageCluster
			tc.edit(&c)
			if _, err := runTest(t, in, out, c); err != nil {
				t.Fatal(err)
			}
			gotNorm, err := os.ReadFile(out + "/" + normalizerFile)
			if err != nil {
				t.Fatal(err)
			}
			gotGMM, err := os.ReadFile(out + "/" + gmmFile)
			if err != nil {
				t.Fatal(err)
			}

			// The fit as the stage did it with every row in memory.
			r, items := inputRunner(t, c, in, out)
			x, err := r.loadFeatures(context.Background(), items)
			if err != nil {
				t.Fatal(err)
			}
			var mom features.Moments
			mom.Add(x)
			cols := x.RawMatrix().Cols
			norm, ok := features.FitNormalizer(&mom, features.NormalizerSettings{Weights: r.columnWeights(cols), PCA: min(max(r.cfg.PCA, 0), cols)})
			if !ok {
				t.Fatal("normaliser")
			}
			z := norm.Apply(x)
			ct, _ := cluster.ParseCovarianceType(r.cfg.Covariance)
			im, _ := cluster.ParseInitMethod(r.cfg.Init)
			s := cluster.Settings{Covariance: ct, MaxSamples: r.cfg.MaxSamples, NInit: r.cfg.NInit, InitMethod: im, Workers: r.cfg.Workers}
			src := rand.NewPCG(r.cfg.Seed, 0x5e9d15c0)
			kmin, kmax, _ := r.cfg.conceptRange()
			var g *cluster.GMM
			var info cluster.FitInfo
			var curve []cluster.KScore
			if r.cfg.Concepts.Auto {
				g, curve, info, ok = cluster.SelectK(z, kmin, kmax, s, src)
			} else {
				s.K = kmin
				g, info, ok = cluster.Fit(z, s, src)
			}
			if !ok {
				t.Fatal("fit")
			}
			if want := r.cfg.MaxSamples > 0 && r.cfg.MaxSamples < z.RawMatrix().Rows; info.Sampled != want {
				t.Fatalf("sampled %v over %d rows", info.Sampled, z.RawMatrix().Rows)
			}
			params, meta := norm.Params()
			var wantNorm, wantGMM bytes.Buffer
			if err := artifact.EncodeSafetensors(&wantNorm, artifact.FromParams(params), meta); err != nil {
				t.Fatal(err)
			}
			gf := &artifact.GMMFile{Model: g, Normaliser: artifact.NormaliserRef{File: "normalizer.safetensors", SHA256: hashBytes(wantNorm.Bytes())},
				Seed: r.cfg.Seed, Info: info, KCurve: curve}
			if err := artifact.EncodeGMM(&wantGMM, gf); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(gotNorm, wantNorm.Bytes()) {
				t.Error("normalizer.safetensors differs from the in-memory fit's")
			}
			if !bytes.Equal(gotGMM, wantGMM.Bytes()) {
				t.Errorf("gmm.json differs from the in-memory fit's:\n%s\nwant\n%s", firstLines(gotGMM), firstLines(wantGMM.Bytes()))
			}
		})
	}
}

func firstLines(b []byte) string {
	if len(b) > 600 {
		b = b[:600]
	}
	return fmt.Sprintf("%s...", b)
}
