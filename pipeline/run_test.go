package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segdiscover/segdiscover/pipeline/artifact"
	"github.com/segdiscover/segdiscover/pipeline/artifact/artifacttest"
)

// scene draws a small synthetic scene: a sky band, a ground band and a red
// box, with noise, so that the clusters are real but every image differs.
func scene(seed uint64, w, h int) *image.NRGBA {
	rng := rand.New(rand.NewPCG(seed, 7))
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	horizon := h/3 + rng.IntN(h/3)
	bx, by := rng.IntN(w/2), horizon+rng.IntN(h-horizon)/2
	bw, bh := w/4+rng.IntN(w/4), h/6+rng.IntN(h/6)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := [3]int{70, 120, 210} // sky
			if y >= horizon {
				c = [3]int{60, 150, 50} // grass
			}
			if x >= bx && x < bx+bw && y >= by && y < by+bh {
				c = [3]int{200, 40, 40} // box
			}
			var px [4]uint8
			for i := range 3 {
				v := c[i] + rng.IntN(21) - 10
				px[i] = uint8(max(0, min(255, v)))
			}
			px[3] = 255
			copy(img.Pix[y*img.Stride+4*x:], px[:])
		}
	}
	return img
}

// writeScenes writes n synthetic scenes under dir (some in a sub-folder,
// some as JPEG) and returns their <rel> names.
func writeScenes(t testing.TB, dir string, first, n int) []string {
	t.Helper()
	var rels []string
	for i := first; i < first+n; i++ {
		img := scene(uint64(i), 64+8*(i%3), 48)
		rel := fmt.Sprintf("s%03d", i)
		if i%4 == 1 {
			rel = "sub/" + rel
		}
		var data []byte
		var ext string
		if i%2 == 0 {
			data, ext = artifacttest.Encode(t, func(b *bytes.Buffer) error { return png.Encode(b, img) }), ".png"
		} else {
			data, ext = artifacttest.Encode(t, func(b *bytes.Buffer) error { return jpeg.Encode(b, img, &jpeg.Options{Quality: 95}) }), ".jpg"
		}
		p := filepath.Join(dir, filepath.FromSlash(rel)+ext)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		rels = append(rels, rel)
	}
	return rels
}

// testConfig is small and fast: few superpixels and concepts, 2 workers.
func testConfig() Config {
	return Config{Workers: 2, Segments: 40, Concepts: ConceptCount{K: 3}, Epochs: 1, Batch: 4, CropHeight: 32, CropWidth: 32}
}

func runTest(t testing.TB, in, out string, c Config) (*Summary, error) {
	t.Helper()
	return Run(context.Background(), Options{InDir: in, OutDir: out, Config: c, Progress: ProgressNone})
}

// stats returns computed/cached per stage as a compact string, e.g.
// "superpixels 0/12 features 0/12 cluster 1/0 pseudolabels 12/0 train 1/0 masks 12/0 overlays 12/0".
func stats(s *Summary) string {
	var b strings.Builder
	for _, st := range s.Stages {
		if !st.Ran || st.Name == StageReport { // the report is rewritten by every run
			continue
		}
		fmt.Fprintf(&b, "%s %d/%d ", st.Name, st.Computed, st.Cached)
	}
	return strings.TrimSpace(b.String())
}

// snapshot returns the bytes of every output file under out, keyed by
// slash path; run.json (timings), the cache bookkeeping and the lock are
// left out.
func snapshot(t testing.TB, out string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(out, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == ".cache" || rel == ".locks" || rel == "report" {
				return filepath.SkipDir
			}
			return nil
		}
		// The report shows the run's timings and counts: it differs from
		// run to run by design.
		if rel == "run.json" || rel == ".lock" || rel == "report.html" {
			return nil
		}
		data, err := os.ReadFile(p)
		files[rel] = data
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func sameFiles(t testing.TB, got, want map[string][]byte) {
	t.Helper()
	for name, w := range want {
		g, ok := got[name]
		switch {
		case !ok:
			t.Errorf("%s missing", name)
		case !bytes.Equal(g, w):
			t.Errorf("%s differs from the uninterrupted run's", name)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: extra file", name)
		}
	}
}

func TestRunFullThenRerunIsCached(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	rels := writeScenes(t, in, 0, 10)
	sum, err := runTest(t, in, out, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := stats(sum), "superpixels 10/0 features 10/0 cluster 1/0 pseudolabels 10/0 train 1/0 masks 10/0 overlays 10/0"; got != want {
		t.Errorf("first run: %s, want %s", got, want)
	}
	if sum.Concepts != 3 {
		t.Errorf("concepts %d, want 3", sum.Concepts)
	}
	for _, rel := range rels {
		for _, p := range []string{superpixelPath(rel), featurePath(rel), pseudolabelPath(rel), confidencePath(rel), maskPath(rel), maskConfPath(rel), overlayPath(rel)} {
			if _, err := os.Stat(filepath.Join(out, p)); err != nil {
				t.Errorf("output: %v", err)
			}
		}
		f, err := os.Open(filepath.Join(out, pseudolabelPath(rel)))
		if err != nil {
			t.Fatal(err)
		}
		m, err := artifact.DecodeMask(f, 0)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range m.Pix {
			if v >= 3 {
				t.Fatalf("%s: concept id %d, want < 3", rel, v)
			}
		}
	}
	for _, p := range []string{gmmFile, normalizerFile, legendFile, segnetFile, "run.json", "errors.json"} {
		if _, err := os.Stat(filepath.Join(out, p)); err != nil {
			t.Errorf("output: %v", err)
		}
	}
	var rec runRecord
	data, _ := os.ReadFile(filepath.Join(out, "run.json"))
	if err := json.Unmarshal(data, &rec); err != nil || !rec.Complete || rec.Config.Segments != 40 || rec.Config.Covariance != "full" {
		t.Errorf("run.json: complete %v, config %+v, err %v", rec.Complete, rec.Config, err)
	}
	before := snapshot(t, out)

	sum, err = runTest(t, in, out, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := stats(sum), "superpixels 0/10 features 0/10 cluster 0/1 pseudolabels 0/10 train 0/1 masks 0/10 overlays 0/10"; got != want {
		t.Errorf("rerun: %s, want %s", got, want)
	}
	sameFiles(t, snapshot(t, out), before)
}

// copyTree copies folder src to dst.
func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRunParameterChangeRecomputesDownstreamOnly(t *testing.T) {
	in, base := t.TempDir(), t.TempDir()
	writeScenes(t, in, 0, 8)
	if _, err := runTest(t, in, base, testConfig()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"segments", func(c *Config) { c.Segments = 30 }, "superpixels 8/0 features 8/0 cluster 1/0 pseudolabels 8/0 train 1/0 masks 8/0 overlays 8/0"},
		{"blocks", func(c *Config) { c.Blocks = "lab_mean+centroid_y" }, "superpixels 0/8 features 8/0 cluster 1/0 pseudolabels 8/0 train 1/0 masks 8/0 overlays 8/0"},
		{"concepts", func(c *Config) { c.Concepts = ConceptCount{K: 2} }, "superpixels 0/8 features 0/8 cluster 1/0 pseudolabels 8/0 train 1/0 masks 8/0 overlays 8/0"},
		{"seed", func(c *Config) { c.Seed = 9 }, "superpixels 0/8 features 0/8 cluster 1/0 pseudolabels 8/0 train 1/0 masks 8/0 overlays 8/0"},
		{"min-confidence", func(c *Config) { c.MinConfidence = 0.9 }, "superpixels 0/8 features 0/8 cluster 0/1 pseudolabels 8/0 train 1/0 masks 8/0 overlays 8/0"},
		{"encoder", func(c *Config) {
			c.Encoder, c.Hidden, c.PatchSample, c.EncoderEpochs = "handcrafted+sae-relu", 6, 300, 2
		},
			"superpixels 0/8 encoder 1/0 features 8/0 cluster 1/0 pseudolabels 8/0 train 1/0 masks 8/0 overlays 8/0"},
		{"workers", func(c *Config) { c.Workers = 1 }, "superpixels 0/8 features 0/8 cluster 0/1 pseudolabels 0/8 train 0/1 masks 0/8 overlays 0/8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			copyTree(t, base, out)
			c := testConfig()
			tc.change(&c)
			sum, err := runTest(t, in, out, c)
			if err != nil {
				t.Fatal(err)
			}
			if got := stats(sum); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestRunNewImagesGoThroughPerImageStagesOnly(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	writeScenes(t, in, 0, 6)
	if _, err := runTest(t, in, out, testConfig()); err != nil {
		t.Fatal(err)
	}
	writeScenes(t, in, 6, 2)
	sum, err := runTest(t, in, out, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	// The mixture refits on all 8, so every pseudo-label changes.
	if got, want := stats(sum), "superpixels 2/6 features 2/6 cluster 1/0 pseudolabels 8/0 train 1/0 masks 8/0 overlays 8/0"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if note := sum.stageStats(StageCluster).Note; !strings.Contains(note, "8 images now, 6 at the last fit") {
		t.Errorf("cluster note %q does not say why it refitted", note)
	}
}

func TestRunUntil(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	writeScenes(t, in, 0, 4)
	c := testConfig()
	c.Until = StageFeatures
	sum, err := runTest(t, in, out, c)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := stats(sum), "superpixels 4/0 features 4/0"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	for _, p := range []string{"model", "pseudolabels"} {
		if _, err := os.Stat(filepath.Join(out, p)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s exists after --until features", p)
		}
	}
}

// TestRunBadInputs runs a folder holding every kind of bad input beside good
// images: each bad file is reported with its reason, the others complete.
func TestRunBadInputs(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	good := writeScenes(t, in, 0, 5)
	sc := scene(99, 64, 40)
	jpg := artifacttest.Encode(t, func(b *bytes.Buffer) error { return jpeg.Encode(b, sc, &jpeg.Options{Quality: 90}) })
	pngData := artifacttest.Encode(t, func(b *bytes.Buffer) error { return png.Encode(b, sc) })
	deep := image.NewNRGBA64(image.Rect(0, 0, 40, 30))
	for i := range deep.Pix {
		deep.Pix[i] = uint8(i * 31)
	}
	for i := 6; i < len(deep.Pix); i += 8 {
		deep.Pix[i], deep.Pix[i+1] = 0xff, 0xff // opaque
	}
	cmyk, err := os.ReadFile("artifact/testdata/images/card_cmyk.jpg")
	if err != nil {
		t.Fatal(err)
	}
	one := image.NewNRGBA(image.Rect(0, 0, 1, 1))
	one.Set(0, 0, color.NRGBA{10, 200, 30, 255})
	bad := map[string]string{ // file -> words the reason must contain
		"bad/bomb.png":      "pixel limit",
		"bad/empty.jpg":     "empty file",
		"bad/text.jpg":      "not a supported image",
		"bad/truncated.jpg": "corrupt",
		"bad/cut.png":       "corrupt",
	}
	files := map[string][]byte{
		"bad/bomb.png":      artifacttest.PNGBomb(t, 120_000, 120_000),
		"bad/empty.jpg":     nil,
		"bad/text.jpg":      []byte("name says JPEG, content says otherwise\n"),
		"bad/truncated.jpg": jpg[:len(jpg)/2],
		"bad/cut.png":       pngData[:len(pngData)/2],
		"odd/one.png":       artifacttest.Encode(t, func(b *bytes.Buffer) error { return png.Encode(b, one) }),
		"odd/cmyk.jpg":      cmyk,
		"odd/deep.png":      artifacttest.Encode(t, func(b *bytes.Buffer) error { return png.Encode(b, deep) }),
		"odd/rotated.jpg":   artifacttest.WithOrientation(jpg, 6),
	}
	for name, data := range files {
		p := filepath.Join(in, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sum, err := runTest(t, in, out, testConfig())
	var partial *PartialError
	if !errors.As(err, &partial) {
		t.Fatalf("err = %v, want a *PartialError", err)
	}
	if partial.Total != len(good)+len(files) || len(partial.Failures) != len(bad) {
		t.Errorf("partial: %d of %d failed, want %d of %d", len(partial.Failures), partial.Total, len(bad), len(good)+len(files))
	}
	seen := map[string]bool{}
	for _, f := range sum.Failures {
		rel, _ := filepath.Rel(in, f.Path)
		rel = filepath.ToSlash(rel)
		reason, ok := bad[rel]
		if !ok {
			t.Errorf("%s failed: %v", rel, f.Err)
			continue
		}
		seen[rel] = true
		if !strings.Contains(f.Error(), f.Path) || !strings.Contains(f.Error(), reason) {
			t.Errorf("%s: error %q lacks the file name or %q", rel, f.Error(), reason)
		}
	}
	for rel := range bad {
		if !seen[rel] {
			t.Errorf("%s: not reported", rel)
		}
	}
	var recs []errorRecord
	data, _ := os.ReadFile(filepath.Join(out, "errors.json"))
	if err := json.Unmarshal(data, &recs); err != nil || len(recs) != len(bad) {
		t.Errorf("errors.json: %d records (err %v), want %d", len(recs), err, len(bad))
	}
	for _, rel := range append(good, "odd/one", "odd/cmyk", "odd/deep", "odd/rotated") {
		if _, err := os.Stat(filepath.Join(out, pseudolabelPath(rel))); err != nil {
			t.Errorf("good input: %v", err)
		}
	}
	// The EXIF rotation is applied before segmenting: 64x40 becomes 40x64.
	l, err := (&runner{cfg: testConfig().Defaults(), cache: newCache(out)}).readLabels("odd/rotated")
	if err != nil || l.Width != 40 || l.Height != 64 {
		t.Errorf("rotated: labels %v, err %v; want 40x64", l, err)
	}
	// Failures are not cached: a rerun reports them again and computes nothing else.
	sum, err = runTest(t, in, out, testConfig())
	if !errors.As(err, &partial) || len(sum.Failures) != len(bad) {
		t.Errorf("rerun: err %v, %d failures", err, len(sum.Failures))
	}
	if got, want := stats(sum), "superpixels 0/9 features 0/9 cluster 0/1 pseudolabels 0/9 train 0/1 masks 0/9 overlays 0/9"; got != want {
		t.Errorf("rerun: %s, want %s", got, want)
	}
}

func TestRunRefusesConcurrentRun(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	writeScenes(t, in, 0, 2)
	held, err := lockDir(out)
	if err != nil {
		t.Fatal(err)
	}
	_, err = runTest(t, in, out, testConfig())
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), fmt.Sprint(os.Getpid())) {
		t.Errorf("err = %v, want ErrLocked naming process %d", err, os.Getpid())
	}
	held.unlock()
	// The lock file stays behind, as after a killed run: it must not block.
	if _, err := runTest(t, in, out, testConfig()); err != nil {
		t.Errorf("after the holder released it: %v", err)
	}
}

// TestRunHelperProcess is not a test: TestRunKilledThenResumed runs the test
// binary with it selected to get a run it can SIGKILL.
func TestRunHelperProcess(t *testing.T) {
	in, out := os.Getenv("SEGDISCOVER_TEST_IN"), os.Getenv("SEGDISCOVER_TEST_OUT")
	if in == "" || out == "" {
		t.Skip("helper process for TestRunKilledThenResumed")
	}
	c := testConfig()
	c.Workers = 1
	if _, err := runTest(t, in, out, c); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// TestRunKilledThenResumed kills runs with SIGKILL at several moments, then
// resumes, and checks the outputs equal, byte for byte, those of an
// uninterrupted run.
func TestRunKilledThenResumed(t *testing.T) {
	if testing.Short() {
		t.Skip("runs subprocesses")
	}
	in, ref, out := t.TempDir(), t.TempDir(), t.TempDir()
	writeScenes(t, in, 0, 24)
	c := testConfig()
	c.Workers = 1
	start := time.Now()
	if _, err := runTest(t, in, ref, c); err != nil {
		t.Fatal(err)
	}
	full := time.Since(start)
	want := snapshot(t, ref)

	killed := 0
	// Kill points spread over the run: process start-up comes on top.
	for _, frac := range []float64{0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestRunHelperProcess$")
		cmd.Env = append(os.Environ(), "SEGDISCOVER_TEST_IN="+in, "SEGDISCOVER_TEST_OUT="+out)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("helper run failed: %v\n%s", err, stderr.String())
			}
		case <-time.After(time.Duration(frac * float64(full))):
			cmd.Process.Signal(syscall.SIGKILL)
			<-done
			killed++
		}
	}
	if killed == 0 {
		t.Error("no run was killed: every helper run finished before its kill point")
	}
	sum, err := runTest(t, in, out, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d runs killed; resumed run: %s", killed, stats(sum))
	sameFiles(t, snapshot(t, out), want)
}

func TestRunCancelledStopsAndResumes(t *testing.T) {
	in, ref, out := t.TempDir(), t.TempDir(), t.TempDir()
	writeScenes(t, in, 0, 12)
	c := testConfig()
	c.Workers = 1
	if _, err := runTest(t, in, ref, c); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // before any item: nothing is processed
	sum, err := Run(ctx, Options{InDir: in, OutDir: out, Config: c, Progress: ProgressNone})
	if !errors.Is(err, context.Canceled) || !sum.Interrupted {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if got := sum.stageStats(StageSuperpixels).Computed; got != 0 {
		t.Errorf("%d images processed after cancellation", got)
	}
	if _, err := runTest(t, in, out, c); err != nil {
		t.Fatal(err)
	}
	sameFiles(t, snapshot(t, out), snapshot(t, ref))
}

func TestConfigFileKeysAreValidated(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c.json")
	os.WriteFile(p, []byte(`{"segments": 123, "concepts": "auto"}`), 0o644)
	c, err := ReadConfig(p)
	if err != nil || c.Segments != 123 || c.Concepts != (ConceptCount{Auto: true}) {
		t.Errorf("ReadConfig = %+v, %v", c, err)
	}
	os.WriteFile(p, []byte(`{"concepts": 5}`), 0o644)
	if c, err := ReadConfig(p); err != nil || c.Concepts != (ConceptCount{K: 5}) {
		t.Errorf("unquoted concepts: %+v, %v", c, err)
	}
	os.WriteFile(p, []byte(`{"segmnets": 123}`), 0o644)
	if _, err := ReadConfig(p); err == nil || !strings.Contains(err.Error(), "segmnets") {
		t.Errorf("misspelt key: err = %v", err)
	}
	for _, bad := range []Config{{Until: "nope"}, {Encoder: "sae-sigmoid+sae-relu"}, {Encoder: "pixels"}, {Concepts: ConceptCount{K: 300}}, {Concepts: ConceptCount{K: -1}}, {Covariance: "round"}, {Balance: "maybe"}, {MinConfidence: 2}} {
		if err := bad.Defaults().Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil", bad)
		}
	}
}

func TestRunLearnedEncoder(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	writeScenes(t, in, 0, 6)
	c := testConfig()
	c.Until = StagePseudolabels
	c.Encoder, c.Hidden, c.PatchSample, c.EncoderEpochs, c.PatchSize = "sae-sigmoid", 5, 400, 2, 8
	sum, err := runTest(t, in, out, c)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := stats(sum), "superpixels 6/0 encoder 1/0 features 6/0 cluster 1/0 pseudolabels 6/0 overlays 6/0"; got != want {
		t.Errorf("first run: %s, want %s", got, want)
	}
	x, err := (&runner{cfg: c.Defaults(), cache: newCache(out)}).readFeatures(filepath.ToSlash("s000"))
	if err != nil {
		t.Fatal(err)
	}
	if _, cols := x.Dims(); cols != 5 {
		t.Errorf("feature columns %d, want the 5 hidden units", cols)
	}
	if sum, err = runTest(t, in, out, c); err != nil {
		t.Fatal(err)
	}
	if got, want := stats(sum), "superpixels 0/6 encoder 0/1 features 0/6 cluster 0/1 pseudolabels 0/6 overlays 0/6"; got != want {
		t.Errorf("rerun: %s, want %s", got, want)
	}
	c.Hidden = 4
	if sum, err = runTest(t, in, out, c); err != nil {
		t.Fatal(err)
	}
	if got, want := stats(sum), "superpixels 0/6 encoder 1/0 features 6/0 cluster 1/0 pseudolabels 6/0 overlays 6/0"; got != want {
		t.Errorf("after --hidden: %s, want %s", got, want)
	}
}

// TestRunSyntheticScenesKnownAnswer runs the whole pipeline on the
// synthetic scenes of testdata/images/synthetic, whose exact class masks are in
// gt/, and checks that the concepts found match the classes: the
// pseudo-labels and the refined masks score well above chance.
func TestRunSyntheticScenesKnownAnswer(t *testing.T) {
	src := filepath.Join("..", "testdata", "images", "synthetic")
	gtDir := filepath.Join("..", "testdata", "gt", "synthetic")
	scenes, _ := filepath.Glob(filepath.Join(src, "*.png"))
	if len(scenes) == 0 {
		t.Skip("no testdata/images/synthetic scenes")
	}
	in, out := t.TempDir(), t.TempDir()
	for _, p := range scenes {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(in, filepath.Base(p)), data, 0o644)
	}
	classes, err := ReadClasses(gtDir)
	if err != nil {
		t.Fatal(err)
	}
	c := Config{Workers: 2, Concepts: ConceptCount{K: len(classes)}, Until: StageMasks, Epochs: 25, Batch: 4, LR: 0.01, CropHeight: 64, CropWidth: 64}
	if _, err := runTest(t, in, out, c); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"pseudolabels", "masks"} {
		rep, err := EvaluateMasks(context.Background(), filepath.Join(out, dir), gtDir, MaskEvalOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: mIoU %.3f, pixel accuracy %.3f over %d images", dir, rep.Hungarian.MIoU, rep.Hungarian.PixelAcc, rep.Images)
		if rep.Images != len(scenes) || len(rep.Failures) > 0 {
			t.Errorf("%s: %d images scored, failures %v", dir, rep.Images, rep.Failures)
		}
		if floor := map[string]float64{"pseudolabels": 0.6, "masks": 0.5}[dir]; rep.Hungarian.MIoU < floor {
			t.Errorf("%s: mIoU %.3f below %.2f", dir, rep.Hungarian.MIoU, floor)
		}
	}
}

func TestDefaultEpochs(t *testing.T) {
	for _, tc := range []struct{ images, batch, want int }{
		{715, 8, 5},  // 90 steps an epoch: the plain default
		{240, 8, 5},  // exactly 150 steps
		{7, 8, 150},  // one step an epoch
		{11, 0, 75},  // batch 0 is segnet's 8: two steps an epoch
		{11, 4, 50},  // three steps an epoch
		{1000, 1, 5}, // many steps an epoch
		{0, 8, 150},  // no images: never divide by zero
		{239, 8, 5},  // 30 steps an epoch
		{100, 8, 12}, // 13 steps an epoch: 12 x 13 = 156 >= 150
	} {
		if got := defaultEpochs(tc.images, tc.batch); got != tc.want {
			t.Errorf("defaultEpochs(%d, %d) = %d, want %d", tc.images, tc.batch, got, tc.want)
		}
	}
}
