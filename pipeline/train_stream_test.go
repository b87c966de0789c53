package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/segdiscover/segdiscover/segnet"
)

// TestTrainStreamsLikeInMemory checks that the train stage, which reads its
// samples from the files batch by batch, writes the network that training
// over the same samples held in memory (loadSamples and segnet.NewTrainer,
// as the stage did before) gives, bit for bit; and that a run resuming from
// the in-memory trainer's checkpoint after epoch 1 writes byte for byte the
// uninterrupted run's model/segnet.safetensors. Crops of 32 leave the
// scenes' samples as they are, crops of 8 shrink them on reading.
func TestTrainStreamsLikeInMemory(t *testing.T) {
	for _, crop := range []int{32, 8} {
		t.Run(fmt.Sprintf("crop=%d", crop), func(t *testing.T) {
			in, out := t.TempDir(), t.TempDir()
			writeScenes(t, in, 0, 7)
			c := testConfig()
			c.Epochs, c.Batch, c.CropHeight, c.CropWidth = 2, 3, crop, crop
			c.Until = StageTrain
			if _, err := runTest(t, in, out, c); err != nil {
				t.Fatal(err)
			}
			model, err := os.ReadFile(out + "/" + segnetFile)
			if err != nil {
				t.Fatal(err)
			}
			got, err := LoadSegnet(out + "/" + segnetFile)
			if err != nil {
				t.Fatal(err)
			}

			// The same training, in memory.
			r, items := inputRunner(t, c, in, out)
			_, tp := r.trainKeyOf(items)
			samples, err := r.loadSamples(context.Background(), items, tp)
			if err != nil {
				t.Fatal(err)
			}
			tr, err := segnet.NewTrainer(got.Arch(), samples, tp.settings(c.Workers), tp.Seed)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tr.Epoch(context.Background()); err != nil {
				t.Fatal(err)
			}
			ck := tr.Checkpoint()
			if _, err := tr.Epoch(context.Background()); err != nil {
				t.Fatal(err)
			}
			want := tr.Net().StateDict()
			have := got.StateDict()
			if len(want) != len(have) {
				t.Fatalf("%d vs %d tensors", len(want), len(have))
			}
			for i := range want {
				if want[i].Name != have[i].Name || !slices.Equal(want[i].Data, have[i].Data) {
					t.Fatalf("tensor %s: the streamed training differs from the in-memory one", want[i].Name)
				}
			}

			// Resume from the in-memory trainer's checkpoint.
			m, err := r.cache.readManifest(StageTrain, trainItem)
			if err != nil {
				t.Fatal(err)
			}
			if err := writeCheckpoint(r.checkpointPath(), m.Key, ck); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(r.cache.manifestPath(StageTrain, trainItem)); err != nil {
				t.Fatal(err)
			}
			sum, err := runTest(t, in, out, c)
			if err != nil {
				t.Fatal(err)
			}
			if note := sum.stageStats(StageTrain).Note; !strings.HasPrefix(note, "resumed after epoch 1") {
				t.Fatalf("train note %q: did not resume", note)
			}
			again, err := os.ReadFile(out + "/" + segnetFile)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(model, again) {
				t.Fatal("the resumed run's network file differs from the uninterrupted run's")
			}
		})
	}
}

// TestTrainUnreadableSample checks that a pseudo-label that cannot be read
// at training time fails the stage with an error naming the image and the
// file.
func TestTrainUnreadableSample(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	writeScenes(t, in, 0, 5)
	c := testConfig()
	c.Until = StagePseudolabels
	if _, err := runTest(t, in, out, c); err != nil {
		t.Fatal(err)
	}
	// Same size, so that the cache still takes it: corrupt past the header.
	p := out + "/" + confidencePath("s002")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	for i := 40; i < len(data)-12; i++ {
		data[i] ^= 0x5a
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	c.Until = StageTrain
	_, err = runTest(t, in, out, c)
	if err == nil || !strings.Contains(err.Error(), "s002.png") || !strings.Contains(err.Error(), confidencePath("s002")) {
		t.Fatalf("err = %v, want one naming s002.png and its confidence file", err)
	}
	t.Log(err)
}

// loadSamples reads every item's training sample into memory, as the train
// stage did before it streamed them: the reference of the tests.
func (r *runner) loadSamples(ctx context.Context, items []*item, tp trainParams) ([]segnet.Sample, error) {
	samples := make([]segnet.Sample, len(items))
	errs := make([]error, len(items))
	r.forEachOf(ctx, items, func(i int, it *item) {
		samples[i], errs[i] = r.loadSample(it, tp)
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("train: %s: %w", items[i].file.Path, err)
		}
	}
	return samples, nil
}

// inputRunner is a runner over OUT_DIR out with c's settings and the items
// of the images in in, as the stages see them (no keys computed).
func inputRunner(t *testing.T, c Config, in, out string) (*runner, []*item) {
	t.Helper()
	files, err := listInputs(in)
	if err != nil {
		t.Fatal(err)
	}
	items := make([]*item, len(files))
	for i := range files {
		items[i] = &item{file: &files[i]}
	}
	return &runner{cfg: c.Defaults(), cache: newCache(out)}, items
}
