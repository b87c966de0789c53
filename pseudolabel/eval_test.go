package pseudolabel

import (
	"encoding/json"
	"image"
	"image/color"
	"math"
	"slices"
	"strings"
	"testing"
)

// The hand-worked example: C = 2 classes, predicted ids 0..2.
//
//	pixel: 0 1 2 3 4 5 6   7
//	pred:  1 1 0 0 2 2 255 1
//	gt:    0 0 0 1 1 1 0   255
//
// M = [[1 1] [2 0] [0 2]], unassigned per class [1 0].
// Hungarian: 1->0, 2->1 (4 pixels). TP [2 2], gt totals [4 3], predicted
// [2 2]: IoU [2/4, 2/3], accuracy 4/7.
// Many-to-one: 0->0 (tie: lowest class), 1->0, 2->1. TP [3 2], predicted
// [4 2]: IoU [3/5, 2/3], accuracy 5/7.
var (
	examplePred = []uint8{1, 1, 0, 0, 2, 2, 255, 1}
	exampleGT   = []uint8{0, 0, 0, 1, 1, 1, 0, 255}
)

func grayImage(w, h int, v []uint8) *image.Gray {
	g := image.NewGray(image.Rect(0, 0, w, h))
	copy(g.Pix, v)
	return g
}

func palettedImage(w, h int, v []uint8) *image.Paletted {
	p := image.NewPaletted(image.Rect(0, 0, w, h), Palette())
	copy(p.Pix, v)
	return p
}

func gray16Image(w, h int, v []uint8) *image.Gray16 {
	g := image.NewGray16(image.Rect(0, 0, w, h))
	for i, x := range v {
		g.Pix[2*i+1] = x
	}
	return g
}

// shifted returns img as a sub-image of a larger one, so that strides and
// offsets are exercised.
func shifted(img *image.Gray) *image.Gray {
	b := img.Bounds()
	big := image.NewGray(image.Rect(-3, -2, b.Dx()+5, b.Dy()+4))
	for i := range big.Pix {
		big.Pix[i] = 77
	}
	r := image.Rect(1, 1, 1+b.Dx(), 1+b.Dy())
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			big.SetGray(r.Min.X+x, r.Min.Y+y, img.GrayAt(x, y))
		}
	}
	return big.SubImage(r).(*image.Gray)
}

func TestConfusionExample(t *testing.T) {
	imgs := map[string]func([]uint8) image.Image{
		"gray":     func(v []uint8) image.Image { return grayImage(4, 2, v) },
		"paletted": func(v []uint8) image.Image { return palettedImage(4, 2, v) },
		"gray16":   func(v []uint8) image.Image { return gray16Image(4, 2, v) },
		"subimage": func(v []uint8) image.Image { return shifted(grayImage(4, 2, v)) },
	}
	for pn, pf := range imgs {
		for gn, gf := range imgs {
			t.Run(pn+"-"+gn, func(t *testing.T) {
				c := NewConfusion(2, DefaultIgnore)
				if err := c.Add(pf(examplePred), gf(exampleGT)); err != nil {
					t.Fatal(err)
				}
				s := c.Score(nil)
				checkExample(t, s)
			})
		}
	}
}

func checkExample(t *testing.T, s Scores) {
	t.Helper()
	if want := [][]int64{{1, 1}, {2, 0}, {0, 2}}; !slices.EqualFunc(s.Confusion, want, slices.Equal) {
		t.Errorf("confusion %v, want %v", s.Confusion, want)
	}
	if s.NumPredIDs != 3 || s.NumClustersUsed != 3 || s.NumClasses != 2 || s.ValidPixels != 7 || s.UnassignedPixels != 1 {
		t.Errorf("counts %+v", s)
	}
	checkMatch(t, "hungarian", s.Hungarian, []float64{0.5, 2.0 / 3}, 4.0/7, []int{-1, 0, 1})
	if s.ManyToOne == nil {
		t.Fatal("no many-to-one with K > C")
	}
	checkMatch(t, "many-to-one", *s.ManyToOne, []float64{0.6, 2.0 / 3}, 5.0/7, []int{0, 0, 1})
}

func checkMatch(t *testing.T, name string, m Match, iou []float64, acc float64, toClass []int) {
	t.Helper()
	var sum float64
	for i := range iou {
		if math.Abs(m.IoU[i]-iou[i]) > 1e-15 {
			t.Errorf("%s: IoU %v, want %v", name, m.IoU, iou)
		}
		sum += iou[i]
	}
	if math.Abs(m.MIoU-sum/float64(len(iou))) > 1e-15 || math.Abs(m.PixelAcc-acc) > 1e-15 {
		t.Errorf("%s: mIoU %v acc %v, want %v %v", name, m.MIoU, m.PixelAcc, sum/float64(len(iou)), acc)
	}
	if !slices.Equal(m.ClusterToClass, toClass) {
		t.Errorf("%s: map %v, want %v", name, m.ClusterToClass, toClass)
	}
}

// TestConfusionMerge: accumulating images one by one, or in separate
// matrices merged afterwards, gives the same matrix as one big image.
func TestConfusionMerge(t *testing.T) {
	a, b := NewConfusion(2, DefaultIgnore), NewConfusion(2, DefaultIgnore)
	if err := a.Add(grayImage(2, 2, examplePred[:4]), grayImage(2, 2, exampleGT[:4])); err != nil {
		t.Fatal(err)
	}
	if err := b.Add(grayImage(4, 1, examplePred[4:]), grayImage(4, 1, exampleGT[4:])); err != nil {
		t.Fatal(err)
	}
	a.Merge(b)
	checkExample(t, a.Score(nil))
	// Merging into a matrix with fewer rows grows it.
	b2 := NewConfusion(2, DefaultIgnore)
	b2.Add(grayImage(4, 1, examplePred[4:]), grayImage(4, 1, exampleGT[4:]))
	a2 := NewConfusion(2, DefaultIgnore)
	a2.Add(grayImage(2, 2, examplePred[:4]), grayImage(2, 2, exampleGT[:4]))
	b2.Merge(a2)
	checkExample(t, b2.Score(nil))
}

func TestConfusionAddErrors(t *testing.T) {
	tests := []struct {
		name     string
		pred, gt image.Image
		msg      string
	}{
		{"size", grayImage(2, 2, nil), grayImage(2, 3, nil), "size mismatch"},
		{"class", grayImage(2, 1, []uint8{0, 0}), grayImage(2, 1, []uint8{0, 2}), "not a class"},
		{"colour-pred", image.NewRGBA(image.Rect(0, 0, 1, 1)), grayImage(1, 1, nil), "prediction"},
		{"colour-gt", grayImage(1, 1, nil), image.NewNRGBA(image.Rect(0, 0, 1, 1)), "ground truth"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := NewConfusion(2, DefaultIgnore)
			err := c.Add(tc.pred, tc.gt)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.msg)
			}
			if s := c.Score(nil); s.ValidPixels != 0 || s.NumPredIDs != 1 {
				t.Errorf("failed Add changed the matrix: %+v", s)
			}
		})
	}
}

func TestConfusionIgnoreAndUnassigned(t *testing.T) {
	// Ignore 0: class 0 pixels are skipped; a 16-bit prediction of 255 is
	// still unassigned, 256 is an id.
	pred := image.NewGray16(image.Rect(0, 0, 3, 1))
	pred.SetGray16(0, 0, color.Gray16{255})
	pred.SetGray16(1, 0, color.Gray16{256})
	pred.SetGray16(2, 0, color.Gray16{1})
	c := NewConfusion(2, 0)
	if err := c.Add(pred, grayImage(3, 1, []uint8{1, 1, 0})); err != nil {
		t.Fatal(err)
	}
	s := c.Score(nil)
	if s.NumPredIDs != 257 || s.ValidPixels != 2 || s.UnassignedPixels != 1 || s.Confusion[256][1] != 1 {
		t.Errorf("K %d valid %d unassigned %d", s.NumPredIDs, s.ValidPixels, s.UnassignedPixels)
	}
	if s.Hungarian.PixelAcc != 0.5 || s.Hungarian.MIoU != 0.5 || !math.IsNaN(s.Hungarian.IoU[0]) {
		t.Errorf("hungarian %+v", s.Hungarian)
	}
}

func TestScoreManyToOneSwitch(t *testing.T) {
	c := NewConfusion(3, DefaultIgnore)
	c.Add(grayImage(2, 1, []uint8{0, 1}), grayImage(2, 1, []uint8{0, 2}))
	if s := c.Score(nil); s.ManyToOne != nil {
		t.Error("many-to-one reported with K <= C")
	}
	yes, no := true, false
	if s := c.Score(&yes); s.ManyToOne == nil {
		t.Error("many-to-one not reported when asked")
	}
	c.Add(grayImage(2, 1, []uint8{5, 4}), grayImage(2, 1, []uint8{1, 1}))
	if s := c.Score(&no); s.ManyToOne != nil {
		t.Error("many-to-one reported when refused")
	}
}

func TestScoresJSON(t *testing.T) {
	c := NewConfusion(3, DefaultIgnore)
	c.Add(grayImage(2, 1, []uint8{0, 1}), grayImage(2, 1, []uint8{0, 0}))
	s := c.Score(nil)
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"n_clusters_used":2`, `"n_pred_ids":2`, `"valid_pixels":2`, `"iou_per_class":[0.5,0,null]`, `"cluster_to_class":[0,1]`, `"confusion":[[1,0,0],[1,0,0]]`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON %s lacks %s", b, key)
		}
	}
	var back Scores
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(back.Hungarian.IoU[2]) || back.Hungarian.MIoU != s.Hungarian.MIoU {
		t.Errorf("round trip: %+v", back.Hungarian)
	}
}

func BenchmarkConfusionAdd(b *testing.B) {
	const w, h = 320, 240
	pred, gt := image.NewPaletted(image.Rect(0, 0, w, h), Palette()), image.NewGray(image.Rect(0, 0, w, h))
	for i := range pred.Pix {
		pred.Pix[i] = uint8(i * 7 % 9)
		gt.Pix[i] = uint8(i * 13 % 8)
	}
	c := NewConfusion(8, DefaultIgnore)
	for b.Loop() {
		if err := c.Add(pred, gt); err != nil {
			b.Fatal(err)
		}
	}
}

// TestConfusionAddCounts checks that tallies given per predicted id score
// exactly as the pixels they count: the example without its unassigned
// pixel (M = [[1 1] [2 0] [0 2]]), added in another order.
func TestConfusionAddCounts(t *testing.T) {
	pred := slices.Delete(slices.Clone(examplePred), 6, 7)
	gt := slices.Delete(slices.Clone(exampleGT), 6, 7)
	px := NewConfusion(2, DefaultIgnore)
	if err := px.Add(grayImage(7, 1, pred), grayImage(7, 1, gt)); err != nil {
		t.Fatal(err)
	}
	ct := NewConfusion(2, DefaultIgnore)
	ct.AddCounts(2, []int64{0, 2})
	ct.AddCounts(0, []int64{1, 0})
	ct.AddCounts(1, []int64{2, 0})
	ct.AddCounts(0, []int64{0, 1})
	a, _ := json.Marshal(px.Score(nil))
	b, _ := json.Marshal(ct.Score(nil))
	if string(a) != string(b) {
		t.Errorf("AddCounts scores\n%s\npixels\n%s", b, a)
	}
	defer func() {
		if recover() == nil {
			t.Error("AddCounts with 3 classes on a 2-class matrix did not panic")
		}
	}()
	ct.AddCounts(0, []int64{1, 2, 3})
}
