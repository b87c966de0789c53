package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeImages writes n small two-colour PNG scenes into dir.
func writeImages(t *testing.T, dir string, n int) {
	t.Helper()
	for i := range n {
		img := image.NewNRGBA(image.Rect(0, 0, 48, 32))
		for y := range 32 {
			for x := range 48 {
				c := color.NRGBA{uint8(60 + 7*i), 120, 200, 255}
				if y > 12+i%5 {
					c = color.NRGBA{50, uint8(150 - 5*i), 40, 255}
				}
				c.R += uint8((x * y * (i + 3)) % 13)
				img.SetNRGBA(x, y, c)
			}
		}
		var b bytes.Buffer
		if err := png.Encode(&b, img); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("img%02d.png", i)), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

type effective struct {
	InDir  string         `json:"in_dir"`
	Config map[string]any `json:"config"`
}

func readRunJSON(t *testing.T, out string) effective {
	t.Helper()
	var e effective
	data, err := os.ReadFile(filepath.Join(out, "run.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &e); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestRunCommandConfigFileAndFlags(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	writeImages(t, in, 5)
	cfg := filepath.Join(t.TempDir(), "c.json")
	os.WriteFile(cfg, []byte(`{"segments": 20, "concepts": "3", "covariance": "diag", "epochs": 1, "crop-height": 32, "crop-width": 32}`), 0o644)
	var stdout, stderr bytes.Buffer
	// The flag given on the command line wins over the file.
	code := run(context.Background(), []string{"run", in, "-o", out, "--config", cfg, "--segments", "24", "--workers", "2"}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
	}
	e := readRunJSON(t, out)
	if e.Config["segments"] != 24.0 || e.Config["concepts"] != "3" || e.Config["covariance"] != "diag" {
		t.Errorf("effective config %v", e.Config)
	}
	for _, want := range []string{"superpixels", "pseudolabels", "3 concepts", "outputs in"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout.String())
		}
	}

	// A stage command continues the run in OUT_DIR with its own flags on top.
	stdout.Reset()
	code = run(context.Background(), []string{"cluster", out, "--concepts", "2", "-q"}, &stdout, &stderr)
	if code != exitOK || stdout.Len() != 0 {
		t.Fatalf("cluster: exit %d, stdout %q; stderr:\n%s", code, stdout.String(), stderr.String())
	}
	e = readRunJSON(t, out)
	if e.Config["segments"] != 24.0 || e.Config["concepts"] != "2" || e.Config["until"] != "cluster" {
		t.Errorf("after cluster: effective config %v", e.Config)
	}
	code = run(context.Background(), []string{"pseudolabel", out}, &stdout, &stderr)
	if code != exitOK || !strings.Contains(stdout.String(), "pseudolabels  5 computed") {
		t.Errorf("pseudolabel: exit %d, stdout:\n%s", code, stdout.String())
	}
	stdout.Reset()
	code = run(context.Background(), []string{"train", out, "-q"}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("train: exit %d; stderr:\n%s", code, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(out, "masks", "img00.png")); err != nil {
		t.Errorf("train wrote no refined masks: %v", err)
	}

	// predict applies the trained network to new images.
	in2, out2 := t.TempDir(), t.TempDir()
	writeImages(t, in2, 2)
	code = run(context.Background(), []string{"predict", "--model", out, in2, "-o", out2}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("predict: exit %d; stderr:\n%s", code, stderr.String())
	}
	for _, p := range []string{"masks/img00.png", "masks/img01.conf.png", "overlays/img01.jpg"} {
		if _, err := os.Stat(filepath.Join(out2, p)); err != nil {
			t.Errorf("predict: %v", err)
		}
	}
	if code = run(context.Background(), []string{"predict", in2, "-o", out2}, &stdout, &stderr); code != exitUsage {
		t.Errorf("predict without --model: exit %d, want %d", code, exitUsage)
	}
}

func TestRunCommandExitCodes(t *testing.T) {
	in := t.TempDir()
	writeImages(t, in, 3)
	os.WriteFile(filepath.Join(in, "broken.jpg"), []byte("not a jpeg"), 0o644)
	tests := []struct {
		name string
		args []string
		want int
		msg  string
	}{
		{"partial", []string{"run", in, "-o", t.TempDir(), "--segments", "20", "-k", "2", "--until", "pseudolabels"}, exitPartial, "1 of 4 inputs failed"},
		{"no-output", []string{"run", in}, exitUsage, "-o"},
		{"bad-until", []string{"run", in, "-o", t.TempDir(), "--until", "nowhere"}, exitUsage, "until"},
		{"bad-concepts", []string{"run", in, "-o", t.TempDir(), "--concepts", "many"}, exitUsage, "concepts"},
		{"missing-config", []string{"run", in, "-o", t.TempDir(), "--config", "/nonexistent.json"}, exitUsage, "config"},
		{"output-inside-input", []string{"run", in, "-o", filepath.Join(in, "out")}, exitFailure, "inside the input folder"},
		{"cluster-without-run", []string{"cluster", t.TempDir()}, exitFailure, "run.json"},
		{"superpixels", []string{"superpixels", in, "-o", t.TempDir(), "--segments", "20"}, exitPartial, "broken.jpg"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			got := run(context.Background(), tc.args, &stdout, &stderr)
			if got != tc.want {
				t.Errorf("exit %d, want %d; stderr:\n%s", got, tc.want, stderr.String())
			}
			if all := stdout.String() + stderr.String(); !strings.Contains(all, tc.msg) {
				t.Errorf("output lacks %q:\n%s", tc.msg, all)
			}
		})
	}
}

// TestFeaturesReusesSuperpixelSettings checks that `features` on an output
// folder continues from its run: superpixels made with --segments 20 are
// reused, not recomputed with the default.
func TestFeaturesReusesSuperpixelSettings(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	writeImages(t, in, 3)
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"superpixels", in, "-o", out, "--segments", "20"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("superpixels: exit %d; stderr:\n%s", code, stderr.String())
	}
	stdout.Reset()
	if code := run(context.Background(), []string{"features", in, "-o", out}, &stdout, &stderr); code != exitOK {
		t.Fatalf("features: exit %d; stderr:\n%s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "superpixels   0 computed, 3 cached") {
		t.Errorf("features recomputed the superpixels:\n%s", stdout.String())
	}
}
