package pipeline

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/segdiscover/segdiscover/features"
)

// TestRunDeepEncoders runs the stacked and variational encoders through
// the engine: features of --hidden columns, a rerun reuses everything, the
// stored encoder recomputes the stored features exactly (what a resumed
// run relies on), and changing the encoder's own flag retrains it.
func TestRunDeepEncoders(t *testing.T) {
	for _, tc := range []struct {
		encoder string
		change  func(*Config)
		want    string // a *features.Stacked or *features.VAE
	}{
		{"stacked", func(c *Config) { c.StackDepth = 3 }, "*features.Stacked"},
		{"handcrafted+vae", func(c *Config) { c.Beta = 2 }, "*features.VAE"},
	} {
		t.Run(tc.encoder, func(t *testing.T) {
			in, out := t.TempDir(), t.TempDir()
			writeScenes(t, in, 0, 5)
			c := testConfig()
			c.Until = StagePseudolabels
			c.Encoder, c.Hidden, c.PatchSample, c.EncoderEpochs, c.PatchSize = tc.encoder, 5, 400, 2, 8
			sum, err := runTest(t, in, out, c)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := stats(sum), "superpixels 5/0 encoder 1/0 features 5/0 cluster 1/0 pseudolabels 5/0 overlays 5/0"; got != want {
				t.Errorf("first run: %s, want %s", got, want)
			}
			r := &runner{cfg: c.Defaults(), cache: newCache(out), o: Options{OutDir: out}}
			x, err := r.readFeatures("s000")
			if err != nil {
				t.Fatal(err)
			}
			_, cols := x.Dims()
			wantCols := 5
			if tc.encoder == "handcrafted+vae" {
				wantCols += len(r.cfg.featureSettings().Columns())
			}
			if cols != wantCols {
				t.Errorf("feature columns %d, want %d", cols, wantCols)
			}
			if err := r.readEncoder(); err != nil {
				t.Fatal(err)
			}
			if got := typeName(r.encoder); got != tc.want {
				t.Fatalf("stored encoder is a %s, want %s", got, tc.want)
			}
			img, err := LoadImage(filepath.Join(in, "s000.png"), 0)
			if err != nil {
				t.Fatal(err)
			}
			l, err := r.readLabelsOf("s000", img)
			if err != nil {
				t.Fatal(err)
			}
			code := r.encoder.Encode(features.ExtractPatches(img, l, 8))
			stored := x.Slice(0, x.RawMatrix().Rows, cols-5, cols)
			var f32 mat.Dense // the feature file holds float32
			f32.Apply(func(_, _ int, v float64) float64 { return float64(float32(v)) }, code)
			if !mat.Equal(&f32, stored) {
				t.Error("the stored encoder does not give the stored features")
			}

			if sum, err = runTest(t, in, out, c); err != nil {
				t.Fatal(err)
			}
			if got, want := stats(sum), "superpixels 0/5 encoder 0/1 features 0/5 cluster 0/1 pseudolabels 0/5 overlays 0/5"; got != want {
				t.Errorf("rerun: %s, want %s", got, want)
			}
			tc.change(&c)
			if sum, err = runTest(t, in, out, c); err != nil {
				t.Fatal(err)
			}
			if got, want := stats(sum), "superpixels 0/5 encoder 1/0 features 5/0 cluster 1/0 pseudolabels 5/0 overlays 5/0"; got != want {
				t.Errorf("after changing its flag: %s, want %s", got, want)
			}
		})
	}
}

func typeName(v any) string {
	switch v.(type) {
	case *features.Stacked:
		return "*features.Stacked"
	case *features.VAE:
		return "*features.VAE"
	case *features.Encoder:
		return "*features.Encoder"
	}
	return "other"
}

// TestEncoderParamsKeepOldKeys: the deep encoders' settings enter only
// their own keys, so the one-layer encoders' cache keys (and outputs) are
// what they were before them, and their flags do not invalidate others'.
func TestEncoderParamsKeepOldKeys(t *testing.T) {
	c := Config{Encoder: "sae-relu", Beta: 3, StackDepth: 3}.Defaults()
	got, err := json.Marshal(c.encoderParams())
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"kind":"sae-relu","hidden":64,"denoise":false,"patch":16,"sample":10000,"epochs":30,"seed":1}`; string(got) != want {
		t.Errorf("sae-relu params %s, want %s", got, want)
	}
	vae := Config{Encoder: "vae", StackDepth: 3}.Defaults().encoderParams()
	if vae.Kind != "vae" || vae.Beta != 1 || vae.Depth != 0 {
		t.Errorf("vae params %+v", vae)
	}
	st := Config{Encoder: "handcrafted+stacked", Beta: 5, Denoise: true}.Defaults().encoderParams()
	if st.Kind != "stacked" || st.Depth != 2 || st.Beta != 0 || !st.Denoise {
		t.Errorf("stacked params %+v", st)
	}
	for _, bad := range []Config{{Encoder: "stacked+vae"}, {Encoder: "vae+sae-relu"}, {Encoder: "stacked", StackDepth: 4}, {Encoder: "vae", Beta: -1}, {Encoder: "vae", Denoise: true}} {
		if err := bad.Defaults().Validate(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}
