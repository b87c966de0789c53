package pipeline

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Classes of the adaptation scenes.
var adaptClasses = []string{"sky", "grass", "box"}

// adaptScene draws a scene of three regions — a smooth blue sky, a
// textured green ground and a red box — and its class map, with each
// channel of the colours scaled by gain (a white balance: {1, 1, 1} is the
// source's).
func adaptScene(seed uint64, w, h int, gain [3]float64) (*image.NRGBA, *image.Gray) {
	rng := rand.New(rand.NewPCG(seed, 11))
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	gt := image.NewGray(img.Rect)
	horizon := h/3 + rng.IntN(h/3)
	bw, bh := w/4+rng.IntN(w/4), h/5+rng.IntN(h/6)
	bx, by := rng.IntN(w-bw), horizon+rng.IntN(max(1, h-horizon-bh))
	for y := range h {
		for x := range w {
			cls, c, noise := 0, [3]float64{80, 130, 215}, 6
			if y >= horizon {
				cls, c, noise = 1, [3]float64{70, 150, 50}, 40
			}
			if x >= bx && x < bx+bw && y >= by && y < by+bh {
				cls, c, noise = 2, [3]float64{200, 50, 45}, 12
			}
			gt.Pix[y*gt.Stride+x] = uint8(cls)
			n := float64(rng.IntN(2*noise+1) - noise)
			for i := range 3 {
				img.Pix[y*img.Stride+4*x+i] = uint8(max(0, min(255, (c[i]+n)*gain[i])))
			}
			img.Pix[y*img.Stride+4*x+3] = 255
		}
	}
	return img, gt
}

// writeAdaptScenes writes n scenes (seeds first..first+n-1) as PNGs into
// in, and their class maps (with classes.txt beside) into gt.
func writeAdaptScenes(t testing.TB, in, gt string, first, n, w, h int, gain [3]float64) {
	t.Helper()
	for _, d := range []string{in, gt} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for i := first; i < first+n; i++ {
		img, g := adaptScene(uint64(i), w, h, gain)
		for _, f := range []struct {
			dir string
			im  image.Image
		}{{in, img}, {gt, g}} {
			var b bytes.Buffer
			if err := png.Encode(&b, f.im); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(f.dir, fmt.Sprintf("s%03d.png", i)), b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.WriteFile(filepath.Join(gt, "classes.txt"), []byte(strings.Join(adaptClasses, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// adaptTestConfig is small enough for a unit test and good enough on the
// scenes for the comparison to mean something.
func adaptTestConfig() Config {
	return Config{Workers: 2, Segments: 60, Concepts: ConceptCount{K: 3}, Epochs: 12, Batch: 4, LR: 0.01, CropHeight: 48, CropWidth: 64}
}

// treeHash hashes every file under dir (path, mode, bytes): equal hashes
// mean nothing was written, removed or added.
func treeHash(t testing.TB, dir string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%v\x00%d\x00", rel, fi.Mode(), fi.ModTime().UnixNano())
		if d.Type().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h.Write(data)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func adaptTest(t testing.TB, model, in, out string, s AdaptSettings) (*Summary, error) {
	t.Helper()
	return Adapt(context.Background(), AdaptOptions{ModelDir: model, InDir: in, OutDir: out, Workers: 2, Settings: s, Progress: ProgressNone})
}

func evalDir(t testing.TB, pred, gt string) *MaskEvalReport {
	t.Helper()
	rep, err := EvaluateMasks(context.Background(), pred, gt, MaskEvalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Failures) > 0 {
		t.Fatalf("scoring %s: %v", pred, rep.Failures)
	}
	return rep
}

// TestAdaptWhiteBalance is the acceptance test on synthetic scenes: a model
// trained on neutral scenes, applied as it is (predict) to the same kind of
// scenes under a strong warm white balance, degrades; adapt recovers at
// least 90% of a fresh run's score on them, with every concept still
// covering the class it covered in the source; the model folder is left
// byte for byte as it was; and a rerun is all cached.
func TestAdaptWhiteBalance(t *testing.T) {
	root := t.TempDir()
	srcIn, srcGT := filepath.Join(root, "src"), filepath.Join(root, "src_gt")
	tgtIn, tgtGT := filepath.Join(root, "tgt"), filepath.Join(root, "tgt_gt")
	const w, h = 64, 48
	warm := [3]float64{1.5, 1.0, 0.5}
	writeAdaptScenes(t, srcIn, srcGT, 0, 16, w, h, [3]float64{1, 1, 1})
	writeAdaptScenes(t, tgtIn, tgtGT, 100, 16, w, h, warm)
	model, fresh, pred, adapted := filepath.Join(root, "model"), filepath.Join(root, "fresh"), filepath.Join(root, "pred"), filepath.Join(root, "adapted")
	if _, err := runTest(t, srcIn, model, adaptTestConfig()); err != nil {
		t.Fatal(err)
	}
	if _, err := runTest(t, tgtIn, fresh, adaptTestConfig()); err != nil {
		t.Fatal(err)
	}
	if _, err := Predict(context.Background(), PredictOptions{ModelDir: model, InDir: tgtIn, OutDir: pred, Workers: 2, Progress: ProgressNone}); err != nil {
		t.Fatal(err)
	}
	before := treeHash(t, model)
	sum, err := adaptTest(t, model, tgtIn, adapted, AdaptSettings{})
	if err != nil {
		t.Fatal(err)
	}
	if after := treeHash(t, model); after != before {
		t.Errorf("adapt changed the model folder")
	}

	srcRep := evalDir(t, filepath.Join(model, "masks"), srcGT)
	freshRep := evalDir(t, filepath.Join(fresh, "masks"), tgtGT)
	predRep := evalDir(t, filepath.Join(pred, "masks"), tgtGT)
	adaptRep := evalDir(t, filepath.Join(adapted, "masks"), tgtGT)
	t.Logf("mIoU: source model on source %.3f; on target: predict %.3f, adapt %.3f, fresh run %.3f",
		srcRep.Hungarian.MIoU, predRep.Hungarian.MIoU, adaptRep.Hungarian.MIoU, freshRep.Hungarian.MIoU)
	if predRep.Hungarian.MIoU > srcRep.Hungarian.MIoU-0.05 {
		t.Errorf("predict does not degrade under the white balance (%.3f on the target, %.3f on the source): the test shows nothing",
			predRep.Hungarian.MIoU, srcRep.Hungarian.MIoU)
	}
	if adaptRep.Hungarian.MIoU < 0.9*freshRep.Hungarian.MIoU {
		t.Errorf("adapt mIoU %.3f is below 90%% of the fresh run's %.3f", adaptRep.Hungarian.MIoU, freshRep.Hungarian.MIoU)
	}
	// Identity: with the source's matching, each concept covers the same
	// class on the target. The target's own matching is compared for the
	// concepts matched in the source.
	for c, cls := range srcRep.Hungarian.ClusterToClass {
		if cls < 0 {
			continue
		}
		if got := adaptRep.Hungarian.ClusterToClass[c]; got != cls {
			t.Errorf("concept %d covers %s in the source but %s after adapt", c, adaptClasses[cls], className(got))
		}
	}

	// The drift account is in run.json and the summary.
	var rec struct {
		Format string       `json:"format"`
		Adapt  *AdaptRecord `json:"adapt"`
	}
	data, err := os.ReadFile(filepath.Join(adapted, "run.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &rec); err != nil || rec.Adapt == nil {
		t.Fatalf("run.json: no adapt section (%v)", err)
	}
	if len(rec.Adapt.Concepts) != 3 {
		t.Fatalf("drift of %d concepts, want 3", len(rec.Adapt.Concepts))
	}
	var tgtShare float64
	for _, c := range rec.Adapt.Concepts {
		tgtShare += c.TargetPixelShare
		if c.MeanShift <= 0 {
			t.Errorf("concept %d: mean shift %g under a white balance change", c.ID, c.MeanShift)
		}
	}
	if tgtShare < 0.99 || tgtShare > 1.01 {
		t.Errorf("target pixel shares sum to %g", tgtShare)
	}
	var b bytes.Buffer
	sum.WriteSummary(&b)
	for _, want := range []string{"drift from the model", "concept 0", "new concept suggested"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}

	// OUT2 is a run folder: its network is fresh for predict.
	if err := checkModelFresh(adapted, mustRead(t, filepath.Join(adapted, filepath.FromSlash(segnetFile)))); err != nil {
		t.Errorf("OUT2's network: %v", err)
	}
	// A rerun computes nothing.
	sum2, err := adaptTest(t, model, tgtIn, adapted, AdaptSettings{})
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range sum2.Stages {
		if st.Name != StageReport && st.Computed != 0 {
			t.Errorf("rerun: %s computed %d", st.Name, st.Computed)
		}
	}
	if treeHash(t, model) != before {
		t.Errorf("the rerun changed the model folder")
	}
	// A run into the adapted folder would refit the concepts: refused,
	// with nothing changed.
	snap := treeHash(t, adapted)
	if _, err := runTest(t, tgtIn, adapted, adaptTestConfig()); err == nil || !strings.Contains(err.Error(), "written by `segdiscover adapt`") {
		t.Errorf("run into OUT2: error %v", err)
	}
	if treeHash(t, adapted) != snap {
		t.Errorf("the refused run changed OUT2")
	}
}

func className(c int) string {
	if c < 0 || c >= len(adaptClasses) {
		return "nothing"
	}
	return adaptClasses[c]
}

func mustRead(t testing.TB, p string) []byte {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestAdaptBadInput: model folders adapt cannot use and targets it cannot
// work on fail before anything is written, with the file or folder and
// the reason; the model folder is never modified.
func TestAdaptBadInput(t *testing.T) {
	root := t.TempDir()
	srcIn, tgtIn := filepath.Join(root, "src"), filepath.Join(root, "tgt")
	writeAdaptScenes(t, srcIn, filepath.Join(root, "src_gt"), 0, 6, 48, 32, [3]float64{1, 1, 1})
	writeAdaptScenes(t, tgtIn, filepath.Join(root, "tgt_gt"), 50, 4, 48, 32, [3]float64{1.3, 1, 0.7})
	model := filepath.Join(root, "model")
	c := adaptTestConfig()
	c.Epochs = 1
	if _, err := runTest(t, srcIn, model, c); err != nil {
		t.Fatal(err)
	}
	// A copy to break in each case; the model itself must stay as it is.
	broken := func(t *testing.T, edit func(dir string)) string {
		d := filepath.Join(t.TempDir(), "model")
		copyTree(t, model, d)
		edit(d)
		return d
	}
	editRunJSON := func(f func(map[string]any)) func(string) {
		return func(d string) {
			p := filepath.Join(d, "run.json")
			var m map[string]any
			if err := json.Unmarshal(mustRead(t, p), &m); err != nil {
				t.Fatal(err)
			}
			f(m)
			data, _ := json.Marshal(m)
			os.WriteFile(p, data, 0o644)
		}
	}
	before := treeHash(t, model)
	empty := filepath.Join(root, "empty")
	os.MkdirAll(empty, 0o755)
	partial := filepath.Join(root, "partial")
	if _, err := runTest(t, srcIn, partial, Config{Workers: 2, Segments: 40, Concepts: ConceptCount{K: 3}, Until: StagePseudolabels}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		model, in  string
		out        string // "" = a fresh folder
		want       []string
		outWritten bool
	}{
		{"incomplete run", broken(t, editRunJSON(func(m map[string]any) { m["complete"] = false })), tgtIn, "",
			[]string{"did not finish", "run.json"}, false},
		{"older cache version", broken(t, editRunJSON(func(m map[string]any) { m["cache_version"] = 0.0 })), tgtIn, "",
			[]string{"cache version 0", "run.json"}, false},
		{"stopped before training", partial, tgtIn, "", []string{"--until pseudolabels", "no trained network"}, false},
		{"no run.json", broken(t, func(d string) { os.Remove(filepath.Join(d, "run.json")) }), tgtIn, "",
			[]string{"run.json", "no such file"}, false},
		{"changed mixture", broken(t, func(d string) {
			p := filepath.Join(d, filepath.FromSlash(gmmFile))
			os.WriteFile(p, append(mustRead(t, p), ' '), 0o644)
		}), tgtIn, "", []string{"gmm.json changed since the run wrote it"}, false},
		{"network gone", broken(t, func(d string) { os.Remove(filepath.Join(d, filepath.FromSlash(segnetFile))) }), tgtIn, "",
			[]string{"segnet.safetensors is missing"}, false},
		{"empty target", model, empty, "", []string{"no images in", empty}, false},
		{"OUT2 is OUT", model, tgtIn, model, []string{"is the model folder"}, false},
		{"OUT2 inside OUT", model, tgtIn, filepath.Join(model, "adapted"), []string{"inside the model folder"}, false},
		{"OUT inside OUT2", model, tgtIn, root, []string{"holds the model folder"}, false},
		{"model is a file", filepath.Join(srcIn, "s000.png"), tgtIn, "", []string{"s000.png is not a folder"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := tc.out
			if out == "" {
				out = filepath.Join(t.TempDir(), "out2")
			}
			_, err := adaptTest(t, tc.model, tc.in, out, AdaptSettings{})
			if err == nil {
				t.Fatal("no error")
			}
			t.Log(err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if tc.out == "" {
				if _, serr := os.Stat(out); serr == nil {
					t.Errorf("%s was created", out)
				}
			}
		})
	}
	if treeHash(t, model) != before {
		t.Errorf("a failed adapt changed the model folder")
	}
}

// TestAdaptOtherImageSizes: per-image stages take any size and the
// network predicts at any size, so a target of other image sizes is
// adapted (ids kept, masks of each image's size), with a note in the
// summary.
func TestAdaptOtherImageSizes(t *testing.T) {
	root := t.TempDir()
	srcIn, tgtIn := filepath.Join(root, "src"), filepath.Join(root, "tgt")
	writeAdaptScenes(t, srcIn, filepath.Join(root, "src_gt"), 0, 6, 48, 32, [3]float64{1, 1, 1})
	writeAdaptScenes(t, tgtIn, filepath.Join(root, "tgt_gt"), 50, 4, 80, 60, [3]float64{1, 1, 1})
	model, out := filepath.Join(root, "model"), filepath.Join(root, "out2")
	c := adaptTestConfig()
	c.Epochs = 1
	if _, err := runTest(t, srcIn, model, c); err != nil {
		t.Fatal(err)
	}
	sum, err := adaptTest(t, model, tgtIn, out, AdaptSettings{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := (&runner{cfg: Config{MaxPixels: 1 << 20}, cache: newCache(out)}).readMask(maskPath("s050"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Rect.Dx() != 80 || m.Rect.Dy() != 60 {
		t.Errorf("mask is %v, the image 80x60", m.Rect)
	}
	var b bytes.Buffer
	sum.WriteSummary(&b)
	if !strings.Contains(b.String(), "the images differ in size (48x32 vs 80x60)") {
		t.Errorf("summary lacks the size note:\n%s", b.String())
	}
	if got := slices.Max(m.Pix); int(got) >= 3 {
		t.Errorf("mask holds id %d of 3 concepts", got)
	}
}
