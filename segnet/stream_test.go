package segnet

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
)

// lazySamples makes sample i afresh on every call (new pixels, as a source
// reading files would), counting the calls, and fails on index failAt once
// failing is set.
type lazySamples struct {
	n, h, w int
	mu      sync.Mutex
	calls   []int
	failAt  int
	failing bool
}

func (l *lazySamples) Len() int { return l.n }

func (l *lazySamples) Sample(i int) (Sample, error) {
	l.mu.Lock()
	l.calls = append(l.calls, i)
	fail := l.failing && i == l.failAt
	l.mu.Unlock()
	if fail {
		return Sample{}, fmt.Errorf("img%03d.png: %w", i, errors.New("unexpected EOF"))
	}
	return synthetic(1, l.h, l.w, uint64(100+i))[0], nil
}

func (l *lazySamples) all() []Sample {
	out := make([]Sample, l.n)
	for i := range out {
		out[i], _ = l.Sample(i)
	}
	l.calls = nil
	return out
}

func trainAll(t *testing.T, tr *Trainer) Checkpoint {
	t.Helper()
	for !tr.Done() {
		if _, err := tr.Epoch(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	return tr.Checkpoint()
}

func sameState(t *testing.T, a, b Checkpoint) {
	t.Helper()
	if len(a.Tensors) != len(b.Tensors) {
		t.Fatalf("%d vs %d tensors", len(a.Tensors), len(b.Tensors))
	}
	for i := range a.Tensors {
		if a.Tensors[i].Name != b.Tensors[i].Name || !slices.Equal(a.Tensors[i].Data, b.Tensors[i].Data) {
			t.Fatalf("tensor %s differs", a.Tensors[i].Name)
		}
	}
	for _, k := range []string{"segnet.rng", "segnet.epoch", "segnet.step"} {
		if a.Meta[k] != b.Meta[k] {
			t.Fatalf("%s: %q vs %q", k, a.Meta[k], b.Meta[k])
		}
	}
}

// TestStreamTrainerMatchesSlice checks that training over samples read one
// batch at a time gives bit for bit the weights of training over the same
// samples held in memory, fresh and resumed from a checkpoint, with images
// large enough to be shrunk on every read, and that each epoch reads every
// sample exactly once.
func TestStreamTrainerMatchesSlice(t *testing.T) {
	for _, workers := range []int{1, 3} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			// 80 x 120 against a 16 x 24 crop: shrink resizes every image.
			src := &lazySamples{n: 7, h: 80, w: 120}
			arch := Arch{Classes: 3, Layers: []LayerSpec{{6, 2, 1}, {8, 1, 2}}}
			set := TrainSettings{Epochs: 3, Batch: 3, Height: 16, Width: 24, MinConf: 0.3, ConfWeight: true, Workers: workers}
			mem, err := NewTrainer(arch, src.all(), set, 7)
			if err != nil {
				t.Fatal(err)
			}
			want := trainAll(t, mem)

			st, err := NewStreamTrainer(arch, src, set, 7)
			if err != nil {
				t.Fatal(err)
			}
			if len(src.calls) != src.n {
				t.Fatalf("construction read %d samples, want %d", len(src.calls), src.n)
			}
			src.calls = nil
			if _, err := st.Epoch(context.Background()); err != nil {
				t.Fatal(err)
			}
			got := slices.Sorted(slices.Values(src.calls))
			if !slices.Equal(got, []int{0, 1, 2, 3, 4, 5, 6}) {
				t.Fatalf("an epoch read samples %v, want each once", got)
			}
			ck := st.Checkpoint()
			sameState(t, want, trainAll(t, st))

			// Resume the streaming trainer's checkpoint with either kind.
			rs, err := ResumeStreamTrainer(ck, src, workers)
			if err != nil {
				t.Fatal(err)
			}
			sameState(t, want, trainAll(t, rs))
			rm, err := ResumeTrainer(ck, src.all(), workers)
			if err != nil {
				t.Fatal(err)
			}
			sameState(t, want, trainAll(t, rm))
		})
	}
}

// TestStreamTrainerErrors checks that a sample that cannot be read is an
// error naming it, from NewStreamTrainer and from Epoch, and that bad
// samples are caught when reading them.
func TestStreamTrainerErrors(t *testing.T) {
	arch := Arch{Classes: 3, Layers: []LayerSpec{{4, 2, 1}}}
	set := TrainSettings{Epochs: 2, Batch: 2, Height: 16, Width: 24, Workers: 2}
	t.Run("construction", func(t *testing.T) {
		src := &lazySamples{n: 5, h: 20, w: 28, failAt: 3, failing: true}
		_, err := NewStreamTrainer(arch, src, set, 1)
		if err == nil || !strings.Contains(err.Error(), "sample 3") || !strings.Contains(err.Error(), "img003.png") {
			t.Fatalf("err = %v, want one naming sample 3 and img003.png", err)
		}
	})
	t.Run("epoch", func(t *testing.T) {
		src := &lazySamples{n: 5, h: 20, w: 28, failAt: 4}
		tr, err := NewStreamTrainer(arch, src, set, 1)
		if err != nil {
			t.Fatal(err)
		}
		src.failing = true
		_, err = tr.Epoch(context.Background())
		if err == nil || !strings.Contains(err.Error(), "sample 4") || !strings.Contains(err.Error(), "unexpected EOF") {
			t.Fatalf("err = %v, want one naming sample 4 and its cause", err)
		}
	})
	// A resume that fails on a sample is the data's fault, not the
	// checkpoint's: the engine starts over only on ErrCheckpoint.
	t.Run("resume", func(t *testing.T) {
		src := &lazySamples{n: 5, h: 20, w: 28, failAt: 2}
		tr, err := NewStreamTrainer(arch, src, set, 1)
		if err != nil {
			t.Fatal(err)
		}
		ck := tr.Checkpoint()
		src.failing = true
		_, err = ResumeStreamTrainer(ck, src, 2)
		if err == nil || errors.Is(err, ErrCheckpoint) || !strings.Contains(err.Error(), "img002.png") {
			t.Fatalf("sample failure on resume: err = %v, want one naming img002.png, not ErrCheckpoint", err)
		}
		src.failing = false
		bad := Checkpoint{Tensors: ck.Tensors, Meta: maps.Clone(ck.Meta)}
		bad.Meta["segnet.rng"] = "not hex"
		if _, err = ResumeStreamTrainer(bad, src, 2); !errors.Is(err, ErrCheckpoint) {
			t.Fatalf("malformed checkpoint: err = %v, want ErrCheckpoint", err)
		}
	})
	t.Run("empty", func(t *testing.T) {
		if _, err := NewStreamTrainer(arch, &lazySamples{}, set, 1); err == nil {
			t.Fatal("no error for no samples")
		}
	})
	t.Run("label", func(t *testing.T) {
		data := synthetic(3, 20, 28, 1)
		data[2].Mask.Pix[5] = 7
		_, err := NewStreamTrainer(arch, SampleSlice(data), set, 1)
		if err == nil || !strings.Contains(err.Error(), "sample 2: label 7") {
			t.Fatalf("err = %v, want one naming sample 2's label 7", err)
		}
	})
}
