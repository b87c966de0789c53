package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/segdiscover/segdiscover/pipeline"
)

// The fixtures were written by the peer scorers (pipeline/testdata/eval/gen.py).
const evalFixtures = "../../pipeline/testdata/eval"

func readJSONFile(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestRunEvalMatchesPeer(t *testing.T) {
	dir := filepath.Join(evalFixtures, "miou", "more_pred")
	out := filepath.Join(t.TempDir(), "sub", "report.json")
	var stdout, stderr bytes.Buffer
	gopts := &globalOptions{stdout: &stdout, stderr: &stderr, LogFormat: "text"}
	opts := evalOptions{Pred: filepath.Join(dir, "pred"), GT: filepath.Join(dir, "gt"), Ignore: 255, JSON: out}
	if err := runEval(context.Background(), gopts, opts, nil); err != nil {
		t.Fatal(err)
	}
	got, want := readJSONFile(t, out), readJSONFile(t, filepath.Join(dir, "expected.json"))
	for _, m := range []string{"hungarian", "many_to_one"} {
		g, w := got[m].(map[string]any), want[m].(map[string]any)
		for _, k := range []string{"miou", "pixel_acc"} {
			if math.Abs(g[k].(float64)-w[k].(float64)) > 1e-6 {
				t.Errorf("%s %s: %v, peer %v", m, k, g[k], w[k])
			}
		}
	}
	for _, k := range []string{"n_images", "n_pred_ids", "valid_pixels", "unassigned_pixels"} {
		if got[k] != want[k] {
			t.Errorf("%s: %v, peer %v", k, got[k], want[k])
		}
	}
	for _, s := range []string{"hungarian", "many-to-one", "mIoU 0.6701", "class3"} {
		if !strings.Contains(stdout.String(), s) {
			t.Errorf("summary lacks %q:\n%s", s, stdout.String())
		}
	}
}

func TestEvalCommandExitCodes(t *testing.T) {
	root := t.TempDir()
	gt, pred := filepath.Join(root, "gt"), filepath.Join(root, "pred")
	for _, d := range []string{gt, pred} {
		os.MkdirAll(d, 0o755)
	}
	os.WriteFile(filepath.Join(root, "classes.txt"), []byte("a\nb\n"), 0o644)
	g := image.NewGray(image.Rect(0, 0, 2, 1))
	g.Pix[1] = 1
	for _, p := range []string{filepath.Join(gt, "x.png"), filepath.Join(gt, "y.png"), filepath.Join(pred, "x.png")} {
		var buf bytes.Buffer
		png.Encode(&buf, g)
		os.WriteFile(p, buf.Bytes(), 0o644)
	}
	report := filepath.Join(root, "r.json")
	spFix := filepath.Join(evalFixtures, "spmetrics")
	tests := []struct {
		name string
		args []string
		want int
		out  string // expected in stdout or stderr
	}{
		{"partial", []string{"eval", "--pred", pred, "--gt", gt, "--json", report}, exitPartial, "no prediction"},
		{"no-pred-flag", []string{"eval", "--gt", gt}, exitUsage, "pred"},
		{"bad-classes", []string{"eval", "--pred", pred, "--gt", gt, "--classes", "-1"}, exitUsage, "--classes"},
		{"missing-folder", []string{"eval", "--pred", filepath.Join(root, "nope"), "--gt", gt}, exitFailure, "nope"},
		{"superpixels", []string{"eval", "superpixels", "--pred", filepath.Join(spFix, "pred"), "--gt", filepath.Join(spFix, "gt")}, exitOK, "boundary recall@2px"},
		{"superpixels-bad-tol", []string{"eval", "superpixels", "--pred", pred, "--gt", gt, "--tol", "-3"}, exitUsage, "--tol"},
		{"superpixels-partial", []string{"eval", "superpixels", "--pred", pred, "--gt", gt}, exitFailure, "no label map could be scored"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			got := run(context.Background(), tc.args, &stdout, &stderr)
			if got != tc.want {
				t.Errorf("exit code %d, want %d; stderr:\n%s", got, tc.want, stderr.String())
			}
			if all := stdout.String() + stderr.String(); !strings.Contains(all, tc.out) {
				t.Errorf("output lacks %q:\n%s", tc.out, all)
			}
		})
	}
	// The partial run still wrote its report, with the failure in it.
	r := readJSONFile(t, report)
	if r["n_images"] != 1.0 || len(r["failures"].([]any)) != 1 {
		t.Errorf("report: %v", r)
	}
}

func TestRunEvalSuperpixelsMatchesPeer(t *testing.T) {
	fix := filepath.Join(evalFixtures, "spmetrics")
	want := readJSONFile(t, filepath.Join(fix, "expected.json"))
	for _, tol := range []int{0, 2} {
		out := filepath.Join(t.TempDir(), "sp.json")
		var stdout bytes.Buffer
		gopts := &globalOptions{stdout: &stdout, stderr: &stdout, Quiet: true}
		err := runEvalSuperpixels(context.Background(), gopts, evalSuperpixelsOptions{Pred: filepath.Join(fix, "pred"), GT: filepath.Join(fix, "gt"), Tol: tol, JSON: out}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if stdout.Len() != 0 {
			t.Errorf("quiet run printed %q", stdout.String())
		}
		got := readJSONFile(t, out)["summary"].(map[string]any)
		w := want["tol"+string(rune('0'+tol))].(map[string]any)["summary"].(map[string]any)
		for k, v := range w {
			if math.Abs(got[k].(float64)-v.(float64)) > 1e-6 {
				t.Errorf("tol %d %s: %v, peer %v", tol, k, got[k], v)
			}
		}
	}
}

func TestRunEvalCancelled(t *testing.T) {
	dir := filepath.Join(evalFixtures, "miou", "equal")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	gopts := &globalOptions{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	err := runEval(ctx, gopts, evalOptions{Pred: filepath.Join(dir, "pred"), GT: filepath.Join(dir, "gt"), Ignore: 255}, nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
	var pe *pipeline.PartialError
	if errors.As(err, &pe) {
		t.Error("cancelled run reported as partial")
	}
}
