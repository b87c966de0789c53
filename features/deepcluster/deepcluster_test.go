package deepcluster

import (
	"context"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/segdiscover/segdiscover/cluster"
	"github.com/segdiscover/segdiscover/features"
	"github.com/segdiscover/segdiscover/segnet"
	"github.com/segdiscover/segdiscover/superpixel"
)

// Test scenes: w x h images split into two regions, each filled with one of
// two textures; cells x cells grid superpixels, aligned with the split, so
// that every superpixel holds one texture and the test measures the
// features, not the superpixels.
const (
	sceneW, sceneH = 64, 48
	cell           = 8
)

// texture returns the grey level of pixel (x, y) of texture t:
//
//	0: horizontal stripes, 1: vertical stripes (same grey levels, same
//	   counts: the same colour histogram over any cell)
//	2: flat grey, 3: a checkerboard of the same mean
func texture(t, x, y int) int {
	const lo, hi, mid = 64, 192, 128
	var on bool
	switch t {
	case 0:
		on = y/period%2 == 0
	case 1:
		on = x/period%2 == 0
	case 2:
		return mid
	case 3:
		on = (x/period+y/period)%2 == 0
	}
	if on {
		return hi
	}
	return lo
}

const period = 2

// textureScene draws scene i of a pair of textures (a, b): the image, its
// grid superpixels and the true class (0 for a, 1 for b) of each
// superpixel. The split is vertical at a random multiple of the cell size
// and which texture is left is random, so that neither position nor the
// cell's centroid tells the class.
func textureScene(rng *rand.Rand, a, b int) (*image.NRGBA, *superpixel.Labels, []int) {
	img := image.NewNRGBA(image.Rect(0, 0, sceneW, sceneH))
	cw, ch := sceneW/cell, sceneH/cell
	split := cell * (1 + rng.IntN(cw-1))
	left, right := a, b
	if rng.IntN(2) == 1 {
		left, right = b, a
	}
	l := &superpixel.Labels{Width: sceneW, Height: sceneH, N: cw * ch, Pix: make([]int32, sceneW*sceneH)}
	class := make([]int, l.N)
	for y := range sceneH {
		for x := range sceneW {
			t := left
			if x >= split {
				t = right
			}
			v := texture(t, x, y) + rng.IntN(9) - 4
			o := y*img.Stride + 4*x
			img.Pix[o], img.Pix[o+1], img.Pix[o+2], img.Pix[o+3] = uint8(v), uint8(v), uint8(v), 255
			id := (y/cell)*cw + x/cell
			l.Pix[y*sceneW+x] = int32(id)
			if t == b {
				class[id] = 1
			} else {
				class[id] = 0
			}
		}
	}
	return img, l, class
}

func textureData(n, a, b int, seed uint64) ([]Image, [][]int) {
	rng := rand.New(rand.NewPCG(seed, 1))
	data := make([]Image, n)
	classes := make([][]int, n)
	for i := range data {
		img, l, c := textureScene(rng, a, b)
		data[i] = Image{Image: img, Labels: l, Hand: features.Describe(img, l, nil)}
		classes[i] = c
	}
	return data, classes
}

// twoClassMIoU clusters the rows of xs (one matrix per image, standardised
// over all images) into two by the Gaussian mixture and returns the mIoU
// of the best of the two matchings of clusters to classes (every
// superpixel has the same number of pixels, so superpixel counts are pixel
// counts).
func twoClassMIoU(t *testing.T, xs []*mat.Dense, classes [][]int) float64 {
	t.Helper()
	var mom features.Moments
	for _, x := range xs {
		mom.Add(x)
	}
	norm, ok := features.FitNormalizer(&mom, features.NormalizerSettings{})
	if !ok {
		t.Fatal("normalizer failed")
	}
	_, cols := xs[0].Dims()
	var all []float64
	for _, x := range xs {
		all = append(all, x.RawMatrix().Data...)
	}
	fx := mat.NewDense(len(all)/cols, cols, all)
	g, _, ok := cluster.Fit(norm.Apply(fx), cluster.Settings{K: 2, Workers: 1}, rand.NewPCG(1, 2))
	if !ok {
		t.Fatal("mixture fit failed")
	}
	var conf [2][2]float64 // [class][cluster]
	for i, x := range xs {
		for j, p := range g.Predict(norm.Apply(x), 1) {
			conf[classes[i][j]][p]++
		}
	}
	iou := func(c, k int) float64 {
		return conf[c][k] / (conf[c][0] + conf[c][1] + conf[0][k] + conf[1][k] - conf[c][k])
	}
	return max((iou(0, 0)+iou(1, 1))/2, (iou(0, 1)+iou(1, 0))/2)
}

func testSettings() Settings {
	return Settings{Rounds: 2, Epochs: 3, Clusters: 8, Layers: []segnet.LayerSpec{{Out: 8, Stride: 2, Dilation: 1}, {Out: 8, Stride: 1, Dilation: 1}},
		Train: segnet.TrainSettings{Batch: 4, Height: 32, Width: 32}, Area: sceneW * sceneH, Workers: 2}
}

func train(t *testing.T, data []Image, s Settings, seed uint64) *Trainer {
	t.Helper()
	ctx := context.Background()
	tr, _, err := New(ctx, data, s, seed)
	if err != nil {
		t.Fatal(err)
	}
	for !tr.Done() {
		if tr.NeedsCluster() {
			if _, err := tr.Cluster(ctx); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if _, err := tr.Epoch(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return tr
}

// pool returns the encoder's features averaged over each superpixel.
func pool(enc *segnet.Encoder, data []Image) []*mat.Dense {
	xs := make([]*mat.Dense, len(data))
	for i, d := range data {
		f, c, fh, fw := enc.DenseFeatures(d.Image)
		xs[i] = features.PoolDense(f, c, fh, fw, d.Labels)
	}
	return xs
}

// purity returns the share of superpixels whose label is its cluster's
// majority class: 1 when no cluster mixes the two textures.
func purity(labels [][]uint8, classes [][]int) float64 {
	var cnt [256][2]int
	n := 0
	for i, l := range labels {
		for j, c := range l {
			cnt[c][classes[i][j]]++
			n++
		}
	}
	m := 0
	for _, c := range cnt {
		m += max(c[0], c[1])
	}
	return float64(m) / float64(n)
}

// TestTextureKnownAnswer: scenes of two regions with the same mean colour
// that differ only in texture, clustered into two concepts, on grid
// superpixels that never straddle the two regions.
//
// Horizontal against vertical stripes of the same two grey levels have the
// same colour histogram in every superpixel, so the hand-crafted block
// (Lab mean, Lab std, centroid y) cannot tell them apart: its two-concept
// mIoU is about 0.33-0.36 (seeds 1-5), what a split unrelated to the
// classes gets. Round 0's labels, clusters of that block, mix the textures
// accordingly (purity near 0.5). The DeepCluster body's pooled features
// separate them (mIoU 1.0) and so do the next round's clusters (purity 1).
//
// What this measures, honestly: the distinction comes from the
// convolutional body, not from what the rounds teach it. The untrained
// body (random weights, round 0 before any step) already separates the
// stripes perfectly (mIoU 1.0 at seeds 1-5), as Caron et al. note that a
// random convnet's features are far above chance; the test checks that
// the rounds, trained on labels blind to texture, keep and recover the
// distinction in their own clusters rather than train it away.
//
// Flat grey against a checkerboard of the same mean is the case the issue
// describes, but there the hand-crafted Lab std already separates the
// textures (mIoU 0.98): it is kept as a row to say so.
func TestTextureKnownAnswer(t *testing.T) {
	for _, tc := range []struct {
		name         string
		a, b         int
		handSeparate bool // whether the hand-crafted block separates the pair
	}{
		{"horizontal vs vertical stripes", 0, 1, false},
		{"flat vs checkerboard", 2, 3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, classes := textureData(16, tc.a, tc.b, 1)
			hand := make([]*mat.Dense, len(data))
			for i, d := range data {
				hand[i] = d.Hand
			}
			hm := twoClassMIoU(t, hand, classes)
			ctx := context.Background()
			tr, _, err := New(ctx, data, testSettings(), 1)
			if err != nil {
				t.Fatal(err)
			}
			p0 := purity(tr.Labels(), classes)
			r0 := twoClassMIoU(t, pool(tr.Encoder(), data), classes)
			var p1 float64
			for !tr.Done() {
				if tr.NeedsCluster() {
					cs, err := tr.Cluster(ctx)
					if err != nil {
						t.Fatal(err)
					}
					// DeepCluster's degenerate solution is empty clusters
					// (Caron et al. 2018, section 3.3): the network's
					// features should keep every cluster in use.
					if cs.Used != tr.Settings().Clusters {
						t.Errorf("round %d's labels use %d of %d clusters", cs.Round+1, cs.Used, tr.Settings().Clusters)
					}
					p1 = purity(tr.Labels(), classes)
				} else if _, err := tr.Epoch(ctx); err != nil {
					t.Fatal(err)
				}
			}
			dm := twoClassMIoU(t, pool(tr.Encoder(), data), classes)
			t.Logf("mIoU: hand-crafted %.3f, untrained body %.3f, deepcluster %.3f; label purity round 0 %.3f, round 1 %.3f", hm, r0, dm, p0, p1)
			if dm < 0.8 {
				t.Errorf("deepcluster features: mIoU %.3f, want >= 0.8", dm)
			}
			if p1 < 0.95 {
				t.Errorf("round 1's clusters (of the trained body's features): purity %.3f, want >= 0.95", p1)
			}
			if tc.handSeparate {
				if hm < 0.8 {
					t.Errorf("hand-crafted features: mIoU %.3f, want >= 0.8 (Lab std differs)", hm)
				}
				return
			}
			if hm > 0.5 {
				t.Errorf("hand-crafted features: mIoU %.3f, want <= 0.5 (same colour histogram)", hm)
			}
			if p0 > 0.75 {
				t.Errorf("round 0's clusters (of the hand-crafted features): purity %.3f, want <= 0.75", p0)
			}
		})
	}
}

// step advances tr by one event: an epoch or a re-clustering.
func step(t *testing.T, tr *Trainer) {
	t.Helper()
	var err error
	if tr.NeedsCluster() {
		_, err = tr.Cluster(context.Background())
	} else {
		_, err = tr.Epoch(context.Background())
	}
	if err != nil {
		t.Fatal(err)
	}
}

func weights(tr *Trainer) []segnet.Tensor { return tr.Encoder().Net.StateDict() }

func sameWeights(t *testing.T, what string, a, b []segnet.Tensor) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%s: %d tensors vs %d", what, len(a), len(b))
	}
	for i := range a {
		if a[i].Name != b[i].Name || len(a[i].Data) != len(b[i].Data) {
			t.Fatalf("%s: tensor %d: %s vs %s", what, i, a[i].Name, b[i].Name)
		}
		for j := range a[i].Data {
			if math.Float32bits(a[i].Data[j]) != math.Float32bits(b[i].Data[j]) {
				t.Errorf("%s: %s[%d] = %g vs %g", what, a[i].Name, j, a[i].Data[j], b[i].Data[j])
				return
			}
		}
	}
}

// TestDeterministic: the same seed gives bit-identical weights, with one
// worker or two; another seed gives others.
func TestDeterministic(t *testing.T) {
	data, _ := textureData(8, 0, 1, 3)
	s := testSettings()
	ref := weights(train(t, data, s, 5))
	sameWeights(t, "same seed", ref, weights(train(t, data, s, 5)))
	s.Workers = 1
	sameWeights(t, "1 worker vs 2", ref, weights(train(t, data, s, 5)))
	other := weights(train(t, data, s, 6))
	same := true
	for i := range ref {
		if !slices.Equal(ref[i].Data, other[i].Data) {
			same = false
		}
	}
	if same {
		t.Error("seeds 5 and 6 gave the same weights")
	}
}

// TestResume: a trainer rebuilt from a Checkpoint taken after any epoch or
// re-clustering (round 0 included, with another worker count) finishes
// with bit-identical weights to an uninterrupted run.
func TestResume(t *testing.T) {
	data, _ := textureData(8, 0, 1, 4)
	s := testSettings()
	s.Rounds = 3
	s.Epochs = 2
	ref := train(t, data, s, 9)
	want := weights(ref)
	events := 0
	for tr, _, _ := New(context.Background(), data, s, 9); !tr.Done(); events++ {
		step(t, tr)
	}
	for k := range events {
		t.Run(fmt.Sprintf("after event %d", k), func(t *testing.T) {
			tr, _, err := New(context.Background(), data, s, 9)
			if err != nil {
				t.Fatal(err)
			}
			for range k {
				step(t, tr)
			}
			ck := tr.Checkpoint()
			round := tr.Round()
			tr = nil
			rs := s
			rs.Workers = 1
			rt, err := Resume(ck, data, rs, 9)
			if err != nil {
				t.Fatal(err)
			}
			if rt.Round() != round {
				t.Errorf("resumed in round %d, checkpoint of round %d", rt.Round(), round)
			}
			for !rt.Done() {
				step(t, rt)
			}
			sameWeights(t, "resumed", want, weights(rt))
			for i := range ref.Labels() {
				if !slices.Equal(ref.Labels()[i], rt.Labels()[i]) {
					t.Fatalf("image %d: last round's labels differ", i)
				}
			}
		})
	}
}

// TestResumeBadCheckpoint: a checkpoint that does not fit the images or
// the settings is refused with a reason.
func TestResumeBadCheckpoint(t *testing.T) {
	data, _ := textureData(4, 0, 1, 4)
	s := testSettings()
	tr, _, err := New(context.Background(), data, s, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(ck *segnet.Checkpoint)
		want string
	}{
		{"round past the last", func(ck *segnet.Checkpoint) { ck.Meta["deepcluster.round"] = "2" }, "round"},
		{"no round", func(ck *segnet.Checkpoint) { delete(ck.Meta, "deepcluster.round") }, "round"},
		{"label out of range", func(ck *segnet.Checkpoint) { labelTensor(ck).Data[0] = 8 }, "label 8"},
		{"fractional label", func(ck *segnet.Checkpoint) { labelTensor(ck).Data[0] = 0.5 }, "label 0.5"},
		{"too few labels", func(ck *segnet.Checkpoint) { l := labelTensor(ck); l.Data = l.Data[:10] }, "too few"},
		{"too many labels", func(ck *segnet.Checkpoint) { l := labelTensor(ck); l.Data = append(l.Data, 0) }, "too many"},
		{"unknown tensor", func(ck *segnet.Checkpoint) {
			ck.Tensors = append(ck.Tensors, segnet.Tensor{Name: "deepcluster.extra", Shape: []int{1}, Data: []float32{0}})
		}, "deepcluster.extra"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ck := tr.Checkpoint()
			tc.edit(&ck)
			_, err := Resume(ck, data, s, 1)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func labelTensor(ck *segnet.Checkpoint) *segnet.Tensor {
	for i := range ck.Tensors {
		if ck.Tensors[i].Name == "deepcluster.labels" {
			return &ck.Tensors[i]
		}
	}
	panic("no labels tensor")
}

// TestValidate: bad settings are refused naming the setting.
func TestValidate(t *testing.T) {
	data, _ := textureData(4, 0, 1, 4)
	for _, tc := range []struct {
		name string
		edit func(s *Settings)
		want string // in the error; "" = valid
	}{
		{"defaults", func(s *Settings) {}, ""},
		{"one round", func(s *Settings) { s.Rounds = 1 }, ""},
		{"negative rounds", func(s *Settings) { s.Rounds = -1 }, "rounds -1"},
		{"too many rounds", func(s *Settings) { s.Rounds = 101 }, "rounds 101"},
		{"negative epochs", func(s *Settings) { s.Epochs = -2 }, "epochs per round -2"},
		{"one cluster", func(s *Settings) { s.Clusters = 1 }, "clusters 1"},
		{"256 clusters", func(s *Settings) { s.Clusters = 256 }, "clusters 256"},
		{"negative max samples", func(s *Settings) { s.MaxSamples = -1 }, "max samples -1"},
		{"negative area", func(s *Settings) { s.Area = -5 }, "area -5"},
		{"NaN weight", func(s *Settings) { s.HandWeights = []float64{1, 1, 1, 1, 1, 1, math.NaN()} }, "column weights"},
		{"negative weight", func(s *Settings) { s.HandWeights = []float64{1, 1, 1, -1, 1, 1, 1} }, "column weights"},
		{"empty layer", func(s *Settings) { s.Layers = []segnet.LayerSpec{{Out: 0, Stride: 1, Dilation: 1}} }, "layers"},
		{"no layers", func(s *Settings) { s.Layers = []segnet.LayerSpec{} }, "layers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := testSettings()
			tc.edit(&s)
			err := s.Resolved(len(data)).validate()
			if tc.want == "" {
				if err != nil {
					t.Errorf("valid settings refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tc.want)
			}
			// New refuses them too, before any work.
			if _, _, err := New(context.Background(), data, s, 1); err == nil {
				t.Error("New accepted them")
			}
		})
	}
}

// TestBadData: images that do not fit their superpixel maps or
// descriptors are refused naming the image.
func TestBadData(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(d []Image)
		want string
	}{
		{"no images", nil, "no images"},
		{"nil descriptor", func(d []Image) { d[1].Hand = nil }, "image 1"},
		{"map of another size", func(d []Image) {
			d[2].Labels = &superpixel.Labels{Width: 8, Height: 8, N: 1, Pix: make([]int32, 64)}
		}, "image 2"},
		{"rows for another map", func(d []Image) { d[0].Hand = mat.NewDense(3, 7, nil) }, "image 0: 3 feature rows"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, _ := textureData(4, 0, 1, 4)
			if tc.edit == nil {
				data = nil
			} else {
				tc.edit(data)
			}
			_, _, err := New(context.Background(), data, testSettings(), 1)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}
