package superpixel

import (
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

// TestSLICSynthetic segments the generated scenes of testdata/images/synthetic
// (go run ./testdata/gen) and requires the superpixels to follow the
// exact class boundaries: achievable segmentation accuracy of at least
// 0.985 and undersegmentation error at most 0.03 against the class masks.
// (Measured: SLIC 0.991-0.999 and 0.002-0.019; a regular grid of as many
// cells 0.94-0.97 and 0.06-0.11.)
func TestSLICSynthetic(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("..", "testdata", "images", "synthetic", "*.png"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no scenes in testdata/images/synthetic: %v", err)
	}
	for _, path := range paths {
		name := strings.TrimSuffix(filepath.Base(path), ".png")
		t.Run(name, func(t *testing.T) {
			img := toNRGBA(decodePNG(t, path))
			g, ok := decodePNG(t, filepath.Join("..", "testdata", "gt", "synthetic", name+".png")).(*image.Gray)
			if !ok {
				t.Fatal("ground truth is not 8-bit gray")
			}
			gt := &Labels{Width: g.Rect.Dx(), Height: g.Rect.Dy(), Pix: make([]int32, len(g.Pix))}
			for i, v := range g.Pix {
				gt.Pix[i] = int32(v)
				gt.N = max(gt.N, int(v)+1)
			}
			for _, p := range []Params{{Segments: 200}, {Segments: 200, SLICO: true}} {
				l := SLIC(img, p)
				checkLabels(t, l, gt.Width, gt.Height)
				asa, ue := AchievableSegmentationAccuracy(l, gt), UndersegmentationError(l, gt)
				grid := gridLabels(gt.Width, gt.Height, l.N)
				t.Logf("%+v: %d segments, ASA %.4f UE %.4f (grid: ASA %.4f UE %.4f)", p, l.N, asa, ue,
					AchievableSegmentationAccuracy(grid, gt), UndersegmentationError(grid, gt))
				if asa < 0.985 || ue > 0.03 {
					t.Errorf("%+v: ASA %.4f (want >= 0.985), UE %.4f (want <= 0.03)", p, asa, ue)
				}
			}
		})
	}
}

// gridLabels is the trivial baseline: n cells of a regular grid, laid out
// as SLIC lays out its seeds.
func gridLabels(w, h, n int) *Labels {
	lab := LabImage{Width: w, Height: h, L: make([]float32, w*h), A: make([]float32, w*h), B: make([]float32, w*h)}
	s := newSolver(&lab, Params{Segments: n}.withDefaults())
	return &Labels{Width: w, Height: h, N: len(s.cl), Pix: s.label}
}
