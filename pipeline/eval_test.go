package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/segdiscover/segdiscover/pseudolabel"
	"github.com/segdiscover/segdiscover/superpixel"
)

// The fixtures under testdata/eval were written by testdata/eval/gen.py
// with the peer scorers peers/eval_miou.py and peers/spmetrics.py.

const evalPeerTol = 1e-6

func evalNear(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) <= evalPeerTol
}

func evalCompareMatch(t *testing.T, what string, got, want pseudolabel.Match) {
	t.Helper()
	if !evalNear(got.MIoU, want.MIoU) || !evalNear(got.PixelAcc, want.PixelAcc) {
		t.Errorf("%s: mIoU %v pixel acc %v, peer %v %v", what, got.MIoU, got.PixelAcc, want.MIoU, want.PixelAcc)
	}
	if len(got.IoU) != len(want.IoU) {
		t.Fatalf("%s: %d IoUs, peer %d", what, len(got.IoU), len(want.IoU))
	}
	for i := range got.IoU {
		if !evalNear(got.IoU[i], want.IoU[i]) {
			t.Errorf("%s: IoU[%d] = %v, peer %v", what, i, got.IoU[i], want.IoU[i])
		}
	}
	if !slices.Equal(got.ClusterToClass, want.ClusterToClass) {
		t.Errorf("%s: cluster->class %v, peer %v", what, got.ClusterToClass, want.ClusterToClass)
	}
}

func TestEvaluateMasksPeer(t *testing.T) {
	cases, err := filepath.Glob("testdata/eval/miou/*")
	if err != nil || len(cases) < 5 {
		t.Fatalf("fixtures: %v %v", cases, err)
	}
	for _, dir := range cases {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(dir, "expected.json"))
			if err != nil {
				t.Fatal(err)
			}
			var want MaskEvalReport
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatal(err)
			}
			got, err := EvaluateMasks(context.Background(), filepath.Join(dir, "pred"), filepath.Join(dir, "gt"), MaskEvalOptions{Workers: 2})
			if err != nil {
				t.Fatal(err)
			}
			if got.Images != want.Images || got.NumPredIDs != want.NumPredIDs || got.NumClustersUsed != want.NumClustersUsed ||
				got.NumClasses != want.NumClasses || got.ValidPixels != want.ValidPixels || got.UnassignedPixels != want.UnassignedPixels {
				t.Errorf("counts: got images %d K %d used %d C %d valid %d unassigned %d; peer %d %d %d %d %d %d",
					got.Images, got.NumPredIDs, got.NumClustersUsed, got.NumClasses, got.ValidPixels, got.UnassignedPixels,
					want.Images, want.NumPredIDs, want.NumClustersUsed, want.NumClasses, want.ValidPixels, want.UnassignedPixels)
			}
			if !slices.EqualFunc(got.Confusion, want.Confusion, slices.Equal) {
				t.Errorf("confusion %v, peer %v", got.Confusion, want.Confusion)
			}
			if !slices.Equal(got.Classes, want.Classes) {
				t.Errorf("classes %v, peer %v", got.Classes, want.Classes)
			}
			evalCompareMatch(t, "hungarian", got.Hungarian, want.Hungarian)
			if (got.ManyToOne == nil) != (want.ManyToOne == nil) {
				t.Fatalf("many-to-one present %v, peer %v", got.ManyToOne != nil, want.ManyToOne != nil)
			}
			if got.ManyToOne != nil {
				evalCompareMatch(t, "many-to-one", *got.ManyToOne, *want.ManyToOne)
			}
		})
	}
}

func TestEvaluateSuperpixelsPeer(t *testing.T) {
	b, err := os.ReadFile("testdata/eval/spmetrics/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]struct {
		Summary  superpixel.QualitySummary     `json:"summary"`
		PerImage map[string]superpixel.Quality `json:"per_image"`
	}
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	for _, tol := range []int{0, 1, 2, 3} {
		w, ok := want["tol"+string(rune('0'+tol))]
		if !ok {
			t.Fatalf("no tol%d in fixture", tol)
		}
		opt := tol
		if tol == 0 {
			opt = -1
		}
		got, err := EvaluateSuperpixels(context.Background(), "testdata/eval/spmetrics/pred", "testdata/eval/spmetrics/gt", SuperpixelEvalOptions{Tolerance: opt})
		if err != nil {
			t.Fatalf("tol %d: %v", tol, err)
		}
		if got.Tolerance != tol {
			t.Errorf("tolerance %d, want %d", got.Tolerance, tol)
		}
		gs, ws := got.Summary, w.Summary
		for _, f := range []struct {
			name      string
			got, want float64
		}{
			{"br", gs.BR, ws.BR}, {"br_median", gs.BRMedian, ws.BRMedian},
			{"ue", gs.UE, ws.UE}, {"ue_median", gs.UEMedian, ws.UEMedian},
			{"asa", gs.ASA, ws.ASA}, {"asa_median", gs.ASAMedian, ws.ASAMedian},
			{"n_segments", gs.Segments, ws.Segments}, {"n_segments_median", gs.SegmentsMedian, ws.SegmentsMedian},
		} {
			if !evalNear(f.got, f.want) {
				t.Errorf("tol %d %s: %v, peer %v", tol, f.name, f.got, f.want)
			}
		}
		if gs.Images != ws.Images || len(got.PerImage) != len(w.PerImage) {
			t.Errorf("tol %d: %d images, peer %d", tol, gs.Images, ws.Images)
		}
		for id, wq := range w.PerImage {
			q := got.PerImage[id]
			if !evalNear(q.BR, wq.BR) || !evalNear(q.UE, wq.UE) || !evalNear(q.ASA, wq.ASA) || q.Segments != wq.Segments || q.Annotators != wq.Annotators {
				t.Errorf("tol %d %s: %+v, peer %+v", tol, id, q, wq)
			}
		}
	}
}

func evalWritePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(path, func(w io.Writer) error { return png.Encode(w, img) }); err != nil {
		t.Fatal(err)
	}
}

func evalGray(w, h int, v ...uint8) *image.Gray {
	g := image.NewGray(image.Rect(0, 0, w, h))
	copy(g.Pix, v)
	return g
}

// TestEvaluateMasksProblems: missing predictions, size mismatches and bad
// files are reported and the rest is still scored.
func TestEvaluateMasksProblems(t *testing.T) {
	root := t.TempDir()
	gt, pred := filepath.Join(root, "gt"), filepath.Join(root, "pred")
	os.WriteFile(filepath.Join(root, "classes.txt"), []byte("a\nb\n\n"), 0o644)
	evalWritePNG(t, filepath.Join(gt, "ok.png"), evalGray(2, 2, 0, 1, 1, 255))
	evalWritePNG(t, filepath.Join(pred, "ok.png"), evalGray(2, 2, 1, 0, 0, 0))
	evalWritePNG(t, filepath.Join(pred, "ok.conf.png"), evalGray(2, 2, 9, 9, 9, 9))
	evalWritePNG(t, filepath.Join(gt, "sub", "missing.png"), evalGray(1, 1, 0))
	evalWritePNG(t, filepath.Join(gt, "size.png"), evalGray(2, 2, 0, 0, 0, 0))
	evalWritePNG(t, filepath.Join(pred, "size.png"), evalGray(2, 1, 0, 0))
	evalWritePNG(t, filepath.Join(gt, "badclass.png"), evalGray(1, 1, 7))
	evalWritePNG(t, filepath.Join(pred, "badclass.png"), evalGray(1, 1, 0))
	evalWritePNG(t, filepath.Join(gt, "colour.png"), image.NewNRGBA(image.Rect(0, 0, 1, 1)))
	evalWritePNG(t, filepath.Join(pred, "colour.png"), evalGray(1, 1, 0))
	evalWritePNG(t, filepath.Join(pred, "extra.png"), evalGray(1, 1, 0))

	rep, err := EvaluateMasks(context.Background(), pred, gt, MaskEvalOptions{})
	var pe *PartialError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v, want a *PartialError", err)
	}
	if rep == nil || rep.Images != 1 {
		t.Fatalf("report %+v", rep)
	}
	if pe.Total != 5 || len(pe.Failures) != 4 {
		t.Errorf("partial error: %d of %d failed, want 4 of 5", len(pe.Failures), pe.Total)
	}
	reasons := map[string]string{}
	for _, f := range rep.Failures {
		reasons[f.Rel] = f.Error
	}
	for rel, want := range map[string]string{
		"sub/missing": "no prediction",
		"size":        "size mismatch",
		"badclass":    "not a class",
		"colour":      "not a single-channel id map",
	} {
		if !strings.Contains(reasons[rel], want) {
			t.Errorf("%s: reason %q, want it to mention %q", rel, reasons[rel], want)
		}
	}
	if !slices.Equal(rep.NoGroundTruth, []string{"extra"}) {
		t.Errorf("no ground truth: %v, want [extra]", rep.NoGroundTruth)
	}
	// ok: gt 0 1 1 (255 ignored), pred 1 0 0: cluster 1 -> class 0, cluster 0 -> class 1.
	if rep.Hungarian.PixelAcc != 1 || rep.Hungarian.MIoU != 1 || rep.ValidPixels != 3 {
		t.Errorf("scores of the valid pair: %+v", rep.Scores)
	}
	if !slices.Equal(rep.Classes, []string{"a", "b"}) {
		t.Errorf("classes %v", rep.Classes)
	}
}

func TestEvaluateMasksErrors(t *testing.T) {
	root := t.TempDir()
	gt, pred := filepath.Join(root, "gt"), filepath.Join(root, "pred")
	evalWritePNG(t, filepath.Join(gt, "a.png"), evalGray(1, 1, 0))
	evalWritePNG(t, filepath.Join(pred, "a.png"), evalGray(1, 1, 0))
	if _, err := EvaluateMasks(context.Background(), pred, gt, MaskEvalOptions{}); err == nil || !strings.Contains(err.Error(), "classes.txt") {
		t.Errorf("no classes: error %v", err)
	}
	if _, err := EvaluateMasks(context.Background(), filepath.Join(root, "nope"), gt, MaskEvalOptions{NumClasses: 1}); err == nil {
		t.Error("missing prediction folder: no error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := EvaluateMasks(ctx, pred, gt, MaskEvalOptions{NumClasses: 1}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: error %v", err)
	}
	zero := 0
	rep, err := EvaluateMasks(context.Background(), pred, gt, MaskEvalOptions{NumClasses: 1, Ignore: &zero})
	if err != nil {
		t.Fatal(err)
	}
	if rep.ValidPixels != 0 || rep.Ignore != 0 {
		t.Errorf("ignore 0: %d valid pixels, ignore %d", rep.ValidPixels, rep.Ignore)
	}
}

func TestEvaluateSuperpixelsProblems(t *testing.T) {
	root := t.TempDir()
	gt, pred := filepath.Join(root, "gt"), filepath.Join(root, "pred")
	evalWritePNG(t, filepath.Join(gt, "a_0.png"), evalGray(2, 2, 1, 1, 2, 2))
	evalWritePNG(t, filepath.Join(gt, "a_1.png"), evalGray(2, 2, 1, 2, 1, 2))
	evalWritePNG(t, filepath.Join(pred, "a.png"), evalGray(2, 2, 0, 0, 1, 1))
	evalWritePNG(t, filepath.Join(gt, "b_0.png"), evalGray(2, 2, 1, 1, 2, 2))
	evalWritePNG(t, filepath.Join(pred, "c.png"), evalGray(2, 2, 0, 0, 1, 1))
	evalWritePNG(t, filepath.Join(gt, "d_0.png"), evalGray(2, 2, 1, 1, 2, 2))
	evalWritePNG(t, filepath.Join(pred, "d.png"), evalGray(1, 1, 0))
	evalWritePNG(t, filepath.Join(gt, "noannotator.png"), evalGray(1, 1, 0))
	rep, err := EvaluateSuperpixels(context.Background(), pred, gt, SuperpixelEvalOptions{})
	var pe *PartialError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v, want a *PartialError", err)
	}
	q, ok := rep.PerImage["a"]
	if !ok || len(rep.PerImage) != 1 {
		t.Fatalf("per image %v", rep.PerImage)
	}
	// Annotator 0 matches exactly; annotator 1 splits vertically: UE 0 and
	// 1 (every superpixel straddles both halves: min(1, 1) per cell, 4/4).
	if q.Annotators != 2 || q.ASA != 0.75 || q.UE != 0.5 || q.BR != 1 || q.Segments != 2 {
		t.Errorf("a: %+v", q)
	}
	got := map[string]bool{}
	for _, f := range rep.Failures {
		got[f.Rel] = true
	}
	for _, rel := range []string{"b", "c", "d", "noannotator"} {
		if !got[rel] {
			t.Errorf("%s not reported; failures %+v", rel, rep.Failures)
		}
	}
}

// TestEvaluateMasksStanford compares with the peer on real data when the
// shared data and the peer's predictions are present.
func TestEvaluateMasksStanford(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	shared := filepath.Join("..", "..", "shared")
	gt := filepath.Join(shared, "data", "stanford_background", "labels")
	pred := filepath.Join(shared, "peers", "results", "pseudo_k8")
	b, err := os.ReadFile(filepath.Join(shared, "peers", "results", "eval_pseudo_k8.json"))
	if err != nil {
		t.Skipf("no peer results: %v", err)
	}
	if _, err := os.Stat(pred); err != nil {
		t.Skip("no peer predictions")
	}
	var want MaskEvalReport
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	got, err := EvaluateMasks(context.Background(), pred, gt, MaskEvalOptions{Workers: runtime.GOMAXPROCS(0)})
	if err != nil {
		t.Fatal(err)
	}
	if got.Images != 715 || !slices.EqualFunc(got.Confusion, want.Confusion, slices.Equal) {
		t.Errorf("%d images; confusion differs from the peer's: %v", got.Images, got.Confusion)
	}
	evalCompareMatch(t, "hungarian", got.Hungarian, want.Hungarian)
}

// BenchmarkEvaluateMasksStanford times the 715-image evaluation of the
// peer's K=8 pseudo-labels (skipped without the shared data).
func BenchmarkEvaluateMasksStanford(b *testing.B) {
	shared := filepath.Join("..", "..", "shared")
	gt := filepath.Join(shared, "data", "stanford_background", "labels")
	pred := filepath.Join(shared, "peers", "results", "pseudo_k8")
	if _, err := os.Stat(pred); err != nil {
		b.Skip("no peer predictions")
	}
	for b.Loop() {
		if _, err := EvaluateMasks(context.Background(), pred, gt, MaskEvalOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEvaluateSuperpixelsBSDS scores annotator 0 of each BSDS500 test
// image, as if it were a superpixel map, against all annotators (skipped
// without the shared data).
func BenchmarkEvaluateSuperpixelsBSDS(b *testing.B) {
	gt := filepath.Join("..", "..", "shared", "data", "bsds500_test", "gt")
	first, err := filepath.Glob(filepath.Join(gt, "*_0.png"))
	if err != nil || len(first) == 0 {
		b.Skip("no BSDS500 ground truth")
	}
	pred := b.TempDir()
	for _, f := range first {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(pred, strings.TrimSuffix(filepath.Base(f), "_0.png")+".png"), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		if _, err := EvaluateSuperpixels(context.Background(), pred, gt, SuperpixelEvalOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
