package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAdaptCommand runs a small run, then adapt through runAdapt: the
// summary has the drift account, OUT2 has masks with the model's concepts
// and the model folder's files are unchanged; usage errors map to exit 2.
func TestAdaptCommand(t *testing.T) {
	in, model := t.TempDir(), t.TempDir()
	writeImages(t, in, 5)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"run", in, "-o", model, "--segments", "20", "--concepts", "2", "--epochs", "1",
		"--crop-height", "32", "--crop-width", "32", "--workers", "2", "-q"}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("run: exit %d; stderr:\n%s", code, stderr.String())
	}
	before := map[string][]byte{}
	filepath.WalkDir(model, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			before[p], _ = os.ReadFile(p)
		}
		return nil
	})
	in2, out2 := t.TempDir(), filepath.Join(t.TempDir(), "out2")
	writeImages(t, in2, 3)
	stdout.Reset()
	gopts := &globalOptions{stdout: &stdout, stderr: &stderr, Quiet: false, LogFormat: "text"}
	opts := adaptOptions{Model: model, Output: out2, Workers: 2, Keep: 0.5, Relevance: 16}
	if err := runAdapt(context.Background(), gopts, opts, []string{in2}); err != nil {
		t.Fatalf("adapt: %v\nstderr:\n%s", err, stderr.String())
	}
	for _, want := range []string{"drift from the model", "pix src", "new concept suggested", "outputs in"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout.String())
		}
	}
	for _, p := range []string{"masks/img00.png", "overlays/img02.jpg", "concepts.json", "model/drift.json", "model/segnet.safetensors", "report.html"} {
		if _, err := os.Stat(filepath.Join(out2, p)); err != nil {
			t.Errorf("adapt: %v", err)
		}
	}
	for p, data := range before {
		if now, err := os.ReadFile(p); err != nil || !bytes.Equal(now, data) {
			t.Errorf("adapt changed %s", p)
		}
	}
	// OUT2 is a run folder: predict takes it as a model.
	code = run(context.Background(), []string{"predict", "--model", out2, in2, "-o", filepath.Join(t.TempDir(), "p"), "-q"}, &stdout, &stderr)
	if code != exitOK {
		t.Errorf("predict --model OUT2: exit %d; stderr:\n%s", code, stderr.String())
	}

	for _, tc := range []struct {
		name string
		opts adaptOptions
		args []string
		want string
	}{
		{"no model", adaptOptions{Output: out2, Keep: 0.5}, []string{in2}, "missing --model"},
		{"no output", adaptOptions{Model: model, Keep: 0.5}, []string{in2}, "-o"},
		{"bad keep", adaptOptions{Model: model, Output: out2, Keep: 1.5}, []string{in2}, "--keep"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := runAdapt(context.Background(), gopts, tc.opts, tc.args)
			var u usageError
			if !errors.As(err, &u) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want a usage error mentioning %q", err, tc.want)
			}
		})
	}
	// OUT2 == OUT is refused before anything is written, exit 1.
	code = run(context.Background(), []string{"adapt", "--model", model, in2, "-o", model, "-q"}, &stdout, &stderr)
	if code != exitFailure || !strings.Contains(stderr.String(), "is the model folder") {
		t.Errorf("adapt -o MODEL: exit %d, stderr %q", code, stderr.String())
	}
}
