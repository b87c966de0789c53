package pipeline

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/png"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segdiscover/segdiscover/pipeline/artifact"
	"github.com/segdiscover/segdiscover/pipeline/artifact/artifacttest"
)

// The pixels of the images in flight never exceed the budget, and an image
// above it runs alone.
func TestForEachPixelBudget(t *testing.T) {
	dir := t.TempDir()
	sizes := []int{30, 30, 60, 20, 20, 20, 90, 10}
	var items []*item
	px := map[string]int64{}
	for i, w := range sizes {
		p := filepath.Join(dir, string(rune('a'+i))+".png")
		data := artifacttest.Encode(t, func(b *bytes.Buffer) error { return png.Encode(b, scene(uint64(i), w, 10)) })
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		items = append(items, &item{file: &ImageFile{Path: p}})
		px[p] = int64(w * 10)
	}
	r := &runner{cfg: Config{Workers: 4, MaxPixels: 600}}
	var mu sync.Mutex
	var inFlight, peak int64
	var alone atomic.Bool
	r.forEachOf(context.Background(), items, func(_ int, it *item) {
		w := min(px[it.file.Path], 600)
		mu.Lock()
		inFlight += w
		peak = max(peak, inFlight)
		if px[it.file.Path] > 600 && inFlight != 600 {
			alone.Store(true)
		}
		mu.Unlock()
		time.Sleep(5 * time.Millisecond)
		mu.Lock()
		inFlight -= w
		mu.Unlock()
	})
	if peak > 600 {
		t.Errorf("peak %d pixels in flight, budget 600", peak)
	}
	if alone.Load() {
		t.Error("an image above the budget ran beside another")
	}
	for _, it := range items {
		if it.pixels != px[it.file.Path] {
			t.Errorf("%s: %d pixels from the header, want %d", it.file.Path, it.pixels, px[it.file.Path])
		}
	}
}

// Refitting the concepts removes what was computed from the old ones, and
// predict refuses a network trained on concepts refitted since.
func TestRefitRemovesStaleAndPredictRefuses(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	writeScenes(t, in, 0, 4)
	if _, err := runTest(t, in, out, testConfig()); err != nil {
		t.Fatal(err)
	}
	net, err := os.ReadFile(filepath.Join(out, segnetFile))
	if err != nil {
		t.Fatal(err)
	}
	c := testConfig()
	c.Concepts, c.Until = ConceptCount{K: 2}, StageCluster
	sum, err := runTest(t, in, out, c)
	if err != nil {
		t.Fatal(err)
	}
	if st := sum.stageStats(StageCluster); st.Computed != 1 || !strings.Contains(st.Note, "removed") {
		t.Errorf("cluster: %+v", st)
	}
	for _, p := range []string{"pseudolabels", "masks", "overlays", segnetFile} {
		if _, err := os.Stat(filepath.Join(out, p)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s left after the concepts were refitted", p)
		}
	}
	popts := PredictOptions{ModelDir: out, InDir: in, OutDir: filepath.Join(t.TempDir(), "p"), Progress: ProgressNone}
	if _, err := Predict(context.Background(), popts); err == nil {
		t.Error("predict ran without a network")
	}
	// The old network put back: refused, its concepts are gone.
	if err := os.WriteFile(filepath.Join(out, segnetFile), net, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Predict(context.Background(), popts); err == nil || !strings.Contains(err.Error(), "refitted") {
		t.Errorf("predict with a stale network: %v", err)
	}
	// Inside its input: refused, like run.
	popts.OutDir = filepath.Join(in, "pred")
	os.Remove(filepath.Join(out, segnetFile))
	c.Until = ""
	if _, err := runTest(t, in, out, c); err != nil {
		t.Fatal(err)
	}
	if _, err := Predict(context.Background(), popts); err == nil || !strings.Contains(err.Error(), "inside the input") {
		t.Errorf("predict into its input: %v", err)
	}
	if _, err := os.Stat(popts.OutDir); err == nil {
		t.Error("predict created its output inside the input")
	}
}

// A run that cannot start leaves no output folder (and no .lock) behind.
func TestFailedStartLeavesNothing(t *testing.T) {
	base := t.TempDir()
	empty := filepath.Join(base, "empty")
	os.Mkdir(empty, 0o755)
	for _, in := range []string{filepath.Join(base, "missing"), empty} {
		out := filepath.Join(base, "out")
		if _, err := runTest(t, in, out, testConfig()); err == nil {
			t.Errorf("%s: no error", in)
		}
		if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: output folder created", in)
		}
	}
}

func TestAutoKNoteAtEdge(t *testing.T) {
	for _, tc := range []struct {
		k, lo, hi int
		want      string
	}{
		{16, 2, 16, "--concepts-max 32"}, {2, 2, 16, "--concepts-min 1"}, {7, 2, 16, ""}, {255, 2, 255, ""},
	} {
		got := autoKNote(tc.k, tc.lo, tc.hi)
		if tc.want == "" && strings.Contains(got, "try") || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("autoKNote(%d, %d..%d) = %q, want %q", tc.k, tc.lo, tc.hi, got, tc.want)
		}
	}
}

// Cached items do not enter the rate: a resumed run's rate is that of the
// images it computes.
func TestLogRateIgnoresCached(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	s := &logStage{name: "x", total: 1000, log: log, start: time.Now().Add(-10 * time.Second)}
	for range 900 {
		s.add(true)
	}
	for range 10 {
		s.add(false)
	}
	s.report("progress")
	if !strings.Contains(buf.String(), "per_second=1 ") || !strings.Contains(buf.String(), "elapsed_s=10 ") {
		t.Errorf("log line %q, want 1 per second over 10 s", buf.String())
	}
}

func TestThrottleAndRounding(t *testing.T) {
	th := throttle{interval: 10 * time.Second}
	t0 := time.Now()
	var n int
	for i := range 100 {
		if th.ok(t0.Add(time.Duration(i) * time.Second)) {
			n++
		}
	}
	if n != 10 {
		t.Errorf("%d lines in 100 s, want 10", n)
	}
	for _, tc := range [][3]float64{{0.123456789, 4, 0.1235}, {1234.5678, 3, 1230}, {0, 3, 0}} {
		if got := roundSig(tc[0], int(tc[1])); got != tc[2] {
			t.Errorf("roundSig(%v, %v) = %v", tc[0], tc[1], got)
		}
	}
}

// The summary lists only outputs that exist, and no stage takes longer
// than the whole run.
func TestSummaryOutputsAndTimes(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	writeScenes(t, in, 0, 6)
	sum, err := runTest(t, in, out, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range sum.Stages {
		if st.Seconds > sum.Wall.Seconds() {
			t.Errorf("%s took %.3fs, the run %.3fs", st.Name, st.Seconds, sum.Wall.Seconds())
		}
	}
	// Interrupted before anything: nothing but the run records exists.
	out2 := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	sum, _ = Run(ctx, Options{InDir: in, OutDir: out2, Config: testConfig(), Progress: ProgressNone})
	var b bytes.Buffer
	sum.WriteSummary(&b)
	line := b.String()[strings.Index(b.String(), "outputs in"):]
	if want := out2 + ": run.json errors.json\n"; line != "outputs in "+want {
		t.Errorf("outputs line %q, want %q", line, want)
	}
}

// Ctrl-C (a cancelled context) ends the bars with their last frame whole,
// on its own line.
func TestBarsEndWholeOnCancel(t *testing.T) {
	var buf bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	p := newProgress(ctx, ProgressBars, &buf, nil, 0)
	s := p.stage("superpixels", 10)
	for range 3 {
		s.add(false)
	}
	cancel()
	time.Sleep(20 * time.Millisecond)
	s.done()
	p.wait()
	out := buf.String()
	if !strings.HasSuffix(out, "\n") || !strings.Contains(out[strings.LastIndex(out[:len(out)-1], "\n")+1:], "3/10") {
		t.Errorf("last frame %q", out)
	}
}

// Inputs reached through symbolic links from elsewhere are processed; when
// every input fails for one cause, the error says what to do.
func TestSymlinkedSubsetAndSameCauseHint(t *testing.T) {
	data, sub, out := t.TempDir(), t.TempDir(), t.TempDir()
	rels := writeScenes(t, data, 0, 4)
	for _, rel := range rels {
		matches, _ := filepath.Glob(filepath.Join(data, filepath.FromSlash(rel)) + ".*")
		if err := os.Symlink(matches[0], filepath.Join(sub, filepath.Base(matches[0]))); err != nil {
			t.Fatal(err)
		}
	}
	c := testConfig()
	c.Until = StagePseudolabels
	sum, err := runTest(t, sub, out, c)
	if err != nil {
		t.Fatalf("symlinked subset: %v", err)
	}
	if sum.stageStats(StagePseudolabels).Computed != 4 {
		t.Errorf("%s", stats(sum))
	}
	bad := t.TempDir()
	for _, n := range []string{"a.jpg", "b.png"} {
		os.WriteFile(filepath.Join(bad, n), []byte("not an image at all"), 0o644)
	}
	_, err = runTest(t, bad, t.TempDir(), c)
	if err == nil || !strings.Contains(err.Error(), "is IN_DIR the right folder") {
		t.Errorf("all inputs bad: %v", err)
	}
}

// Images of extreme aspect ratio go through every stage, masks at their
// own size.
func TestExtremeAspectThroughEveryStage(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	writeScenes(t, in, 0, 3)
	for name, sz := range map[string][2]int{"wide.png": {2000, 1}, "tall.png": {1, 2000}, "strip.png": {3000, 3}} {
		img := image.NewNRGBA(image.Rect(0, 0, sz[0], sz[1]))
		for i := 0; i < len(img.Pix); i += 4 {
			p := i / 4
			if p%sz[0] > sz[0]/2 || p/sz[0] > sz[1]/2 {
				copy(img.Pix[i:], []uint8{60, 150, 50, 255})
			} else {
				copy(img.Pix[i:], []uint8{70, 120, 210, 255})
			}
		}
		data := artifacttest.Encode(t, func(b *bytes.Buffer) error { return png.Encode(b, img) })
		os.WriteFile(filepath.Join(in, name), data, 0o644)
	}
	sum, err := runTest(t, in, out, testConfig())
	if err != nil {
		t.Fatalf("%v\n%v", err, sum.Failures)
	}
	for rel, size := range map[string][2]int{"wide": {2000, 1}, "tall": {1, 2000}, "strip": {3000, 3}} {
		f, err := os.Open(filepath.Join(out, maskPath(rel)))
		if err != nil {
			t.Fatal(err)
		}
		m, err := artifact.DecodeMask(f, 0)
		f.Close()
		if err != nil || m.Rect.Dx() != size[0] || m.Rect.Dy() != size[1] {
			t.Errorf("%s: mask %v, %v", rel, m.Rect, err)
		}
	}
}
