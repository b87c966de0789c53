package pipeline

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segdiscover/segdiscover/segnet"
)

// swavTestConfig trains a tiny SwAV network for a few steps.
func swavTestConfig() Config {
	c := testConfig()
	c.Until = StagePseudolabels
	c.Encoder = "swav"
	c.swav = &segnet.SwAVSettings{Layers: []segnet.LayerSpec{{Out: 8, Stride: 2, Dilation: 1}, {Out: 8, Stride: 1, Dilation: 1}}, ProjHidden: 8, ProjDim: 8,
		Prototypes: 6, Batch: 4, Steps: 25, GlobalSize: 16, LocalSize: 8, Locals: 2}
	return c
}

func TestRunSwAVEncoder(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	writeScenes(t, in, 0, 6)
	c := swavTestConfig()
	sum, err := runTest(t, in, out, c)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := stats(sum), "superpixels 6/0 encoder 1/0 features 6/0 cluster 1/0 pseudolabels 6/0 overlays 6/0"; got != want {
		t.Errorf("first run: %s, want %s", got, want)
	}
	x, err := (&runner{cfg: c.Defaults(), cache: newCache(out)}).readFeatures("s000")
	if err != nil {
		t.Fatal(err)
	}
	if _, cols := x.Dims(); cols != 8 {
		t.Errorf("feature columns %d, want the 8 channels of the last layer", cols)
	}
	e, err := LoadSwAVEncoder(filepath.Join(out, encoderFile))
	if err != nil {
		t.Fatal(err)
	}
	if e.Channels() != 8 || e.FeatureLayer != 2 {
		t.Errorf("encoder read back: %d channels from layer %d", e.Channels(), e.FeatureLayer)
	}
	if sum, err = runTest(t, in, out, c); err != nil {
		t.Fatal(err)
	}
	if got, want := stats(sum), "superpixels 0/6 encoder 0/1 features 0/6 cluster 0/1 pseudolabels 0/6 overlays 0/6"; got != want {
		t.Errorf("rerun: %s, want %s", got, want)
	}
	// The hand-crafted block beside it: the encoder is reused.
	c.Encoder = "handcrafted+swav"
	if sum, err = runTest(t, in, out, c); err != nil {
		t.Fatal(err)
	}
	if got, want := stats(sum), "superpixels 0/6 encoder 0/1 features 6/0 cluster 1/0 pseudolabels 6/0 overlays 6/0"; got != want {
		t.Errorf("handcrafted+swav: %s, want %s", got, want)
	}
	if x, err = (&runner{cfg: c.Defaults(), cache: newCache(out)}).readFeatures("s000"); err != nil {
		t.Fatal(err)
	}
	if _, cols := x.Dims(); cols != 8+7 {
		t.Errorf("handcrafted+swav: %d feature columns, want 7+8", cols)
	}
	w := (&runner{cfg: c.Defaults()}).columnWeights(15)
	var hv, lv float64
	for i, v := range w {
		if i < 7 {
			hv += v * v
		} else {
			lv += v * v
		}
	}
	if d := hv/lv - 1; d > 1e-12 || d < -1e-12 {
		t.Errorf("hand-weight 1: block variances %g vs %g, want equal", hv, lv)
	}
}

// TestRunSwAVHelperProcess is not a test: TestRunSwAVKilledThenResumed runs
// the test binary with it selected to get a run it can SIGKILL.
func TestRunSwAVHelperProcess(t *testing.T) {
	in, out := os.Getenv("SEGDISCOVER_TEST_IN"), os.Getenv("SEGDISCOVER_TEST_OUT")
	if in == "" || out == "" {
		t.Skip("helper process for TestRunSwAVKilledThenResumed")
	}
	c := swavTestConfig()
	c.Workers = 1
	c.swav.Steps = 60
	if _, err := runTest(t, in, out, c); err != nil {
		os.Exit(1)
	}
	os.Exit(0)
}

// TestRunSwAVKilledThenResumed kills runs with SIGKILL during encoder
// training and checks that the resumed run's encoder (and features) equal,
// byte for byte, those of an uninterrupted run with another worker count.
func TestRunSwAVKilledThenResumed(t *testing.T) {
	if testing.Short() {
		t.Skip("runs subprocesses")
	}
	in, ref, out := t.TempDir(), t.TempDir(), t.TempDir()
	writeScenes(t, in, 0, 6)
	c := swavTestConfig()
	c.swav.Steps = 60
	if _, err := runTest(t, in, ref, c); err != nil {
		t.Fatal(err)
	}
	// Kill the helper as soon as it has written a training checkpoint.
	ckpt := filepath.Join(out, ".cache", "v1", "encoder", "checkpoint.safetensors")
	if !killAtCheckpoint(t, "TestRunSwAVHelperProcess", in, out, ckpt, 1) {
		t.Fatal("the helper run finished before writing a checkpoint")
	}
	c.Workers = 1
	sum, err := runTest(t, in, out, c)
	if err != nil {
		t.Fatal(err)
	}
	note := sum.stageStats(StageEncoder).Note
	t.Logf("resumed run: %s; %s", stats(sum), note)
	if !strings.HasPrefix(note, "resumed after step") {
		t.Errorf("encoder note %q: the rerun did not resume from the checkpoint", note)
	}
	sameOutputs(t, ref, out, encoderFile, featurePath("s000"), featurePath("sub/s001"))
}

// killAtCheckpoint runs the test binary's helper test (which runs the
// pipeline from in to out) and SIGKILLs it once the checkpoint file ckpt
// has been written the given number of times (counted by modification
// time). It reports whether it killed the helper before it finished.
func killAtCheckpoint(t *testing.T, helper, in, out, ckpt string, writes int) bool {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+helper+"$")
	cmd.Env = append(os.Environ(), "SEGDISCOVER_TEST_IN="+in, "SEGDISCOVER_TEST_OUT="+out)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	seen := 0
	var last time.Time
	for {
		select {
		case <-done:
			return false
		case <-time.After(time.Millisecond):
			if fi, err := os.Stat(ckpt); err == nil && !fi.ModTime().Equal(last) {
				last = fi.ModTime()
				if seen++; seen == writes {
					cmd.Process.Signal(syscall.SIGKILL)
					<-done
					return true
				}
			}
		}
	}
}

// sameOutputs checks that each file exists in ref and is byte-identical in
// out.
func sameOutputs(t *testing.T, ref, out string, files ...string) {
	t.Helper()
	for _, f := range files {
		a, _ := os.ReadFile(filepath.Join(ref, f))
		b, _ := os.ReadFile(filepath.Join(out, f))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s differs from the uninterrupted run's", f)
		}
	}
}

// TestRunSwAVCancelled: a cancelled training stops with the context's
// error, and the rerun finishes it.
func TestRunSwAVCancelled(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	writeScenes(t, in, 0, 4)
	c := swavTestConfig()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := Run(ctx, Options{InDir: in, OutDir: out, Config: c, Progress: ProgressNone}); err == nil {
		t.Log("run finished before the deadline")
	}
	if _, err := runTest(t, in, out, c); err != nil {
		t.Fatal(err)
	}
}
