package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// blobs returns a w x h id map of n random Voronoi cells with ids in
// [0, ids), and, when void, one rectangle of 255 (ignored pixels).
func blobs(rng *rand.Rand, w, h, n, ids int, void bool) *image.Gray {
	type site struct{ x, y, id int }
	s := make([]site, n)
	for i := range s {
		s[i] = site{rng.IntN(w), rng.IntN(h), rng.IntN(ids)}
	}
	g := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			best, bd := 0, math.MaxInt
			for i, p := range s {
				if d := (p.x-x)*(p.x-x) + (p.y-y)*(p.y-y); d < bd {
					best, bd = i, d
				}
			}
			g.Pix[y*g.Stride+x] = uint8(s[best].id)
		}
	}
	if void {
		x0, y0 := rng.IntN(w/2), rng.IntN(h/2)
		for y := y0; y < y0+h/4; y++ {
			for x := x0; x < x0+w/3; x++ {
				g.Pix[y*g.Stride+x] = 255
			}
		}
	}
	return g
}

// pythonWithNumpy returns the first of python3 on PATH and /usr/bin/python3
// that imports numpy, scipy and PIL, or skips the test.
func pythonWithNumpy(t *testing.T) string {
	t.Helper()
	var tried []string
	for _, c := range []string{"python3", "/usr/bin/python3"} {
		py, err := exec.LookPath(c)
		if err != nil {
			continue
		}
		if err := exec.Command(py, "-c", "import numpy, scipy.ndimage, PIL").Run(); err == nil {
			return py
		}
		tried = append(tried, py)
	}
	t.Skipf("no python3 with numpy, scipy and PIL (tried %v)", tried)
	return ""
}

func writePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}

// TestEvalBoundaryMatchesPython checks the boundary F-measure of `eval`
// against bench/boundary_f.py, an independent numpy/scipy version (exact
// Euclidean distance transform instead of a disc of offsets), on random
// Voronoi maps with void rectangles. It skips without a python3 with
// numpy, scipy and PIL.
func TestEvalBoundaryMatchesPython(t *testing.T) {
	py := pythonWithNumpy(t)
	root := t.TempDir()
	pred, gt := filepath.Join(root, "pred"), filepath.Join(root, "gt")
	for _, d := range []string{pred, gt} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(18, 2))
	for i, sz := range [][2]int{{37, 29}, {64, 48}, {80, 61}, {23, 90}} {
		name := string(rune('a'+i)) + ".png"
		writePNG(t, filepath.Join(gt, name), blobs(rng, sz[0], sz[1], 6+i, 4, true))
		writePNG(t, filepath.Join(pred, name), blobs(rng, sz[0], sz[1], 9+2*i, 6, false))
	}
	report := filepath.Join(root, "report.json")
	gopts := &globalOptions{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, Quiet: true}
	if err := runEval(context.Background(), gopts, evalOptions{Pred: pred, GT: gt, Ignore: 255, Classes: 4, JSON: report}, nil); err != nil {
		t.Fatal(err)
	}
	got := readJSONFile(t, report)["boundary"].(map[string]any)
	out, err := exec.Command(py, filepath.Join("..", "..", "bench", "boundary_f.py"), pred, "--gt", gt, "--tol", "2").Output()
	if err != nil {
		t.Fatalf("boundary_f.py: %v", err)
	}
	var want map[string]any
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatalf("boundary_f.py output %q: %v", out, err)
	}
	for _, k := range []string{"pred_boundary_px", "gt_boundary_px"} {
		if got[k] != want[k] {
			t.Errorf("%s: eval %v, python %v", k, got[k], want[k])
		}
	}
	for _, k := range []string{"precision", "recall", "f"} {
		if math.Abs(got[k].(float64)-want[k].(float64)) > 1e-12 {
			t.Errorf("%s: eval %v, python %v", k, got[k], want[k])
		}
	}
	if f := want["f"].(float64); f <= 0.05 || f >= 0.95 {
		t.Errorf("F %v: the random maps should give an F-measure away from 0 and 1", f)
	}
}
