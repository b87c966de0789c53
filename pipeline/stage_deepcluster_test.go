package pipeline

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
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
	e, kind, err := LoadConvEncoder(filepath.Join(out, encoderFile))
	if err != nil {
		t.Fatal(err)
	}
	if kind != "deepcluster" || e.Channels() != 8 || e.FeatureLayer != 2 || e.Area != 32*24 {
		t.Errorf("encoder read back: %s, %d channels from layer %d at %d pixels", kind, e.Channels(), e.FeatureLayer, e.Area)
	}
	if _, err := LoadSwAVEncoder(filepath.Join(out, encoderFile)); err == nil || !strings.Contains(err.Error(), "not a SwAV encoder") {
		t.Errorf("LoadSwAVEncoder of a deepcluster encoder: err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, ".cache", "v1", "encoder", "deepcluster-checkpoint.safetensors")); !os.IsNotExist(err) {
		t.Errorf("the training checkpoint is left after the encoder is written (stat: %v)", err)
	}
	x, err := (&runner{cfg: c.Defaults(), cache: newCache(out)}).readFeatures("s000")
	if err != nil {
		t.Fatal(err)
	}
	if _, cols := x.Dims(); cols != 8 {
		t.Errorf("feature columns %d, want the 8 channels of the last layer", cols)
	}
	if sum, err = runTest(t, in, out, c); err != nil {
		t.Fatal(err)
	}
	if got, want := stats(sum), "superpixels 0/6 encoder 0/1 features 0/6 cluster 0/1 pseudolabels 0/6 overlays 0/6"; got != want {
		t.Errorf("rerun: %s, want %s", got, want)
	}
	// The hand-crafted block beside it: the encoder is reused.
	c.Encoder = "handcrafted+deepcluster"
	if sum, err = runTest(t, in, out, c); err != nil {
		t.Fatal(err)
	}
	if got, want := stats(sum), "superpixels 0/6 encoder 0/1 features 6/0 cluster 1/0 pseudolabels 6/0 overlays 6/0"; got != want {
		t.Errorf("handcrafted+deepcluster: %s, want %s", got, want)
	}
	if x, err = (&runner{cfg: c.Defaults(), cache: newCache(out)}).readFeatures("s000"); err != nil {
		t.Fatal(err)
	}
	if _, cols := x.Dims(); cols != 7+8 {
		t.Errorf("handcrafted+deepcluster: %d feature columns, want 7+8", cols)
	}
	// Another round count is another encoder.
	c.deepcluster.Rounds = 3
	if sum, err = runTest(t, in, out, c); err != nil {
		t.Fatal(err)
	}
	if got := sum.stageStats(StageEncoder); got.Computed != 1 {
		t.Errorf("3 rounds after 2: encoder %d computed, %d cached; want it retrained", got.Computed, got.Cached)
	}
}

// cancelOn is a slog handler that cancels a context at the first record
// whose message starts with prefix.
type cancelOn struct {
	prefix string
	cancel context.CancelFunc
	once   *sync.Once
}

func (h cancelOn) Enabled(context.Context, slog.Level) bool { return true }
func (h cancelOn) Handle(_ context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, h.prefix) {
		h.once.Do(h.cancel)
	}
	return nil
}
func (h cancelOn) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h cancelOn) WithGroup(string) slog.Handler      { return h }

// TestRunDeepClusterCancelledThenResumed cancels a run between two rounds
// (as soon as the second round's labels are clustered and checkpointed),
// reruns it with another worker count, and checks that the rerun resumes
// from the checkpoint and that its encoder and features equal, byte for
// byte, those of an uninterrupted run.
func TestRunDeepClusterCancelledThenResumed(t *testing.T) {
	in, ref, out := t.TempDir(), t.TempDir(), t.TempDir()
	writeScenes(t, in, 0, 6)
	c := deepClusterTestConfig()
	c.deepcluster.Rounds = 3
	if _, err := runTest(t, in, ref, c); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(cancelOn{prefix: "encoder: clustered encoder features", cancel: cancel, once: new(sync.Once)})
	sum, err := Run(ctx, Options{InDir: in, OutDir: out, Config: c, Progress: ProgressNone, Logger: log})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled run: err = %v, want context.Canceled", err)
	}
	if got := sum.stageStats(StageEncoder).Computed; got != 0 {
		t.Fatalf("cancelled run wrote the encoder (%d)", got)
	}
	c.Workers = 1
	if sum, err = runTest(t, in, out, c); err != nil {
		t.Fatal(err)
	}
	note := sum.stageStats(StageEncoder).Note
	t.Logf("resumed run: %s; %s", stats(sum), note)
	if !strings.HasPrefix(note, "resumed in round 2 ") {
		t.Errorf("encoder note %q: the rerun did not resume in round 2 from the checkpoint", note)
	}
	sameOutputs(t, ref, out, encoderFile, featurePath("s000"), featurePath("sub/s001"))
}

// TestRunDeepClusterHelperProcess is not a test:
// TestRunDeepClusterKilledThenResumed runs the test binary with it selected
// to get a run it can SIGKILL.
func TestRunDeepClusterHelperProcess(t *testing.T) {
	in, out := os.Getenv("SEGDISCOVER_TEST_IN"), os.Getenv("SEGDISCOVER_TEST_OUT")
	if in == "" || out == "" {
		t.Skip("helper process for TestRunDeepClusterKilledThenResumed")
	}
	c := deepClusterTestConfig()
	c.deepcluster.Rounds, c.deepcluster.Epochs = 3, 8
	if _, err := runTest(t, in, out, c); err != nil {
		os.Exit(1)
	}
	os.Exit(0)
}

// TestRunDeepClusterKilledThenResumed kills a run with SIGKILL once it has
// checkpointed a few times and checks that the rerun resumes and its
// encoder equals, byte for byte, that of an uninterrupted run.
func TestRunDeepClusterKilledThenResumed(t *testing.T) {
	if testing.Short() {
		t.Skip("runs subprocesses")
	}
	in, ref, out := t.TempDir(), t.TempDir(), t.TempDir()
	writeScenes(t, in, 0, 6)
	c := deepClusterTestConfig()
	c.deepcluster.Rounds, c.deepcluster.Epochs = 3, 8
	if _, err := runTest(t, in, ref, c); err != nil {
		t.Fatal(err)
	}
	// Kill the helper once the checkpoint has been rewritten a few times
	// (the first is written before any step).
	ckpt := filepath.Join(out, ".cache", "v1", "encoder", "deepcluster-checkpoint.safetensors")
	if !killAtCheckpoint(t, "TestRunDeepClusterHelperProcess", in, out, ckpt, 3) {
		t.Fatal("the helper run finished before writing three checkpoints")
	}
	c.Workers = 1
	sum, err := runTest(t, in, out, c)
	if err != nil {
		t.Fatal(err)
	}
	note := sum.stageStats(StageEncoder).Note
	t.Logf("resumed run: %s; %s", stats(sum), note)
	if !strings.HasPrefix(note, "resumed in round ") {
		t.Errorf("encoder note %q: the rerun did not resume from the checkpoint", note)
	}
	sameOutputs(t, ref, out, encoderFile)
}

// TestRunDeepClusterWorkers: one worker and two give the same encoder file.
func TestRunDeepClusterWorkers(t *testing.T) {
	in := t.TempDir()
	writeScenes(t, in, 0, 5)
	var files [][]byte
	for _, w := range []int{1, 2} {
		out := t.TempDir()
		c := deepClusterTestConfig()
		c.Workers = w
		if _, err := runTest(t, in, out, c); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(out, encoderFile))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, b)
	}
	if !bytes.Equal(files[0], files[1]) {
		t.Error("encoder.safetensors differs between 1 and 2 workers")
	}
}

// TestDeepClusterConfig: the flags' defaults and limits.
func TestDeepClusterConfig(t *testing.T) {
	p := Config{Encoder: "deepcluster", Concepts: ConceptCount{K: 8}}.Defaults().deepClusterParams()
	if p.Settings.Rounds != deepcluster.DefaultRounds || p.Settings.Clusters != 32 || len(p.Settings.HandWeights) != 7 {
		t.Errorf("K=8 defaults: %d rounds, %d clusters, %d hand weights; want %d, 32 (4 x K, at least 32), 7", p.Settings.Rounds, p.Settings.Clusters, len(p.Settings.HandWeights), deepcluster.DefaultRounds)
	}
	if p := (Config{Encoder: "deepcluster", Concepts: ConceptCount{K: 33}}).Defaults().deepClusterParams(); p.Settings.Clusters != 132 {
		t.Errorf("K=33: %d clusters, want 132", p.Settings.Clusters)
	}
	if p := (Config{Encoder: "deepcluster", Concepts: ConceptCount{K: 100}}).Defaults().deepClusterParams(); p.Settings.Clusters != 255 {
		t.Errorf("K=100: %d clusters, want 255 (the network's limit)", p.Settings.Clusters)
	}
	for _, tc := range []struct {
		name string
		c    Config
		want string // in Validate's error; "" = valid
	}{
		{"defaults", Config{Encoder: "deepcluster"}, ""},
		{"with hand-crafted", Config{Encoder: "handcrafted+deepcluster", Rounds: 5, Prototypes: 255}, ""},
		{"256 clusters", Config{Encoder: "deepcluster", Prototypes: 256}, "prototypes"},
		{"1 cluster", Config{Encoder: "deepcluster", Prototypes: 1}, "prototypes"},
		{"256 swav prototypes are fine", Config{Encoder: "swav", Prototypes: 256}, ""},
		{"101 rounds", Config{Encoder: "deepcluster", Rounds: 101}, "rounds"},
		{"negative rounds", Config{Encoder: "deepcluster", Rounds: -1}, "rounds"},
		{"two learned encoders", Config{Encoder: "deepcluster+swav"}, "at most one learned encoder"},
		{"swav then deepcluster", Config{Encoder: "swav+deepcluster"}, "at most one learned encoder"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.CheckValues()
			if err == nil {
				err = tc.c.Defaults().Validate()
			}
			if tc.want == "" {
				if err != nil {
					t.Errorf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}
