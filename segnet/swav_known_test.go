package segnet_test

import (
	"context"
	"image"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/segdiscover/segdiscover/cluster"
	"github.com/segdiscover/segdiscover/features"
	"github.com/segdiscover/segdiscover/segnet"
	"github.com/segdiscover/segdiscover/superpixel"
)

// textureScene returns a size x size scene split at column split (a
// multiple of the superpixel block) into horizontal and vertical stripes
// of the same two colours (period 4 px, random phase), so that both
// classes have the same colour mean and spread; left says which texture
// is on the left. gt holds the class of every pixel (0: horizontal).
func textureScene(rng *rand.Rand, size, split int, left int) (*image.NRGBA, []uint8) {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	gt := make([]uint8, size*size)
	dark, light := [3]int{70, 95, 120}, [3]int{185, 170, 150}
	ph, pv := rng.IntN(4), rng.IntN(4)
	for y := range size {
		for x := range size {
			cls := left
			if x >= split {
				cls = 1 - left
			}
			gt[y*size+x] = uint8(cls)
			on := (y+ph)%4 < 2
			if cls == 1 {
				on = (x+pv)%4 < 2
			}
			c := dark
			if on {
				c = light
			}
			o := img.PixOffset(x, y)
			for k := range 3 {
				img.Pix[o+k] = uint8(min(255, max(0, c[k]+rng.IntN(21)-10)))
			}
			img.Pix[o+3] = 255
		}
	}
	return img, gt
}

// gridLabels returns block x block superpixels over a size x size image.
func gridLabels(size, block int) *superpixel.Labels {
	per := size / block
	l := &superpixel.Labels{Width: size, Height: size, N: per * per, Pix: make([]int32, size*size)}
	for y := range size {
		for x := range size {
			l.Pix[y*size+x] = int32((y/block)*per + x/block)
		}
	}
	return l
}

// clusterMIoU standardises the stacked superpixel features, fits a
// two-component GMM and returns the pixel mIoU of its concepts against gt
// under the better of the two matchings.
func clusterMIoU(t *testing.T, xs []*mat.Dense, labels *superpixel.Labels, gts [][]uint8) float64 {
	t.Helper()
	var all *mat.Dense
	for _, b := range xs {
		if all == nil {
			all = mat.DenseCopyOf(b)
			continue
		}
		var s mat.Dense
		s.Stack(all, b)
		all = &s
	}
	var mom features.Moments
	mom.Add(all)
	norm, ok := features.FitNormalizer(&mom, features.NormalizerSettings{})
	if !ok {
		t.Fatal("normaliser fit failed")
	}
	g, _, ok := cluster.Fit(norm.Apply(all), cluster.Settings{K: 2, Covariance: cluster.Diag, NInit: 3}, rand.NewPCG(1, 2))
	if !ok {
		t.Fatal("GMM fit failed")
	}
	pred := g.Predict(norm.Apply(all), 1)
	var conf [2][2]float64
	for i, gt := range gts {
		for p, c := range gt {
			conf[c][pred[i*labels.N+int(labels.Pix[p])]]++
		}
	}
	iou := func(a, b int) float64 {
		tp := conf[a][b]
		return tp / (conf[a][0] + conf[a][1] + conf[0][b] + conf[1][b] - tp)
	}
	return max((iou(0, 0)+iou(1, 1))/2, (iou(0, 1)+iou(1, 0))/2)
}

// TestSwAVTextureKnownAnswer: two classes with the same colour statistics
// that differ only in texture orientation. The colour descriptor cannot
// tell them apart; a SwAV encoder trained on the scenes themselves does.
// It also checks that training does not collapse: the argmax prototypes of
// the views spread over the prototypes (entropy near log P).
func TestSwAVTextureKnownAnswer(t *testing.T) {
	const size, block, n = 48, 6, 12
	rng := rand.New(rand.NewPCG(3, 4))
	labels := gridLabels(size, block)
	var data []segnet.SwAVImage
	var gts [][]uint8
	for i := range n {
		split := block * (2 + rng.IntN(size/block-3))
		img, gt := textureScene(rng, size, split, i%2)
		var cs [][2]float32
		for y := block / 2; y < size; y += block {
			for x := block / 2; x < size; x += block {
				cs = append(cs, [2]float32{float32(x), float32(y)})
			}
		}
		data = append(data, segnet.SwAVImage{Image: img, Centers: cs})
		gts = append(gts, gt)
	}
	const protos = 8
	tr, err := segnet.NewSwAV(data, segnet.SwAVSettings{
		Layers: []segnet.LayerSpec{{Out: 8, Stride: 2, Dilation: 1}, {Out: 16, Stride: 1, Dilation: 1}, {Out: 16, Stride: 1, Dilation: 2}, {Out: 16, Stride: 1, Dilation: 1}}, FeatureLayer: 3,
		ProjDim: 16, Prototypes: protos, Batch: 16, Steps: 80, GlobalSize: 24, LocalSize: 12, Locals: 2,
	}, 1)
	if err != nil {
		t.Fatal(err)
	}
	var ent float64
	var last int
	for !tr.Done() {
		st, err := tr.Step(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.Step > 60 {
			ent += st.Entropy
			last++
		}
	}
	ent /= float64(last)
	// 32 global views per step: even uniform usage of 8 prototypes shows a
	// sample entropy a little under log 8 = 2.08.
	t.Logf("code usage entropy over the last %d steps: %.3f (log %d = %.3f)", last, ent, protos, math.Log(protos))
	if ent < 0.75*math.Log(protos) {
		t.Errorf("code usage entropy %.3f: the prototypes collapsed (log %d = %.3f)", ent, protos, math.Log(protos))
	}
	enc := &segnet.Encoder{Net: tr.Net(), FeatureLayer: tr.Settings().FeatureLayer, Area: size * size}
	var learned, colour []*mat.Dense
	for _, d := range data {
		f, c, fh, fw := enc.DenseFeatures(d.Image)
		learned = append(learned, features.PoolDense(f, c, fh, fw, labels))
		colour = append(colour, features.Describe(d.Image, labels, &features.Settings{Blocks: features.LabMean | features.LabStd}))
	}
	ml, mc := clusterMIoU(t, learned, labels, gts), clusterMIoU(t, colour, labels, gts)
	t.Logf("mIoU: SwAV features %.3f, colour statistics (Lab mean+std) %.3f", ml, mc)
	if ml < 0.8 {
		t.Errorf("SwAV features: mIoU %.3f, want >= 0.8", ml)
	}
	if mc > 0.7 {
		t.Errorf("colour statistics separate the textures (mIoU %.3f): the test scenes do not isolate texture", mc)
	}
}

// BenchmarkSwAVFeatures times the features of one 320x240 image with the
// default SwAV encoder: resizing to the working resolution, the network's
// forward pass and the masked average over 300 superpixels (20x15 blocks).
func BenchmarkSwAVFeatures(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	img := image.NewNRGBA(image.Rect(0, 0, 320, 240))
	for i := range img.Pix {
		img.Pix[i] = uint8(rng.IntN(256))
	}
	tr, err := segnet.NewSwAV([]segnet.SwAVImage{{Image: img, Centers: [][2]float32{{1, 1}}}}, segnet.SwAVSettings{}, 1)
	if err != nil {
		b.Fatal(err)
	}
	enc := (&segnet.Encoder{Net: tr.Net(), FeatureLayer: tr.Settings().FeatureLayer, Area: 160 * 120}).Clone()
	l := &superpixel.Labels{Width: 320, Height: 240, N: 300, Pix: make([]int32, 320*240)}
	for y := range 240 {
		for x := range 320 {
			l.Pix[y*320+x] = int32((y/16)*20 + x/16)
		}
	}
	for b.Loop() {
		f, c, fh, fw := enc.DenseFeatures(img)
		features.PoolDense(f, c, fh, fw, l)
	}
}

// BenchmarkSwAVStep times one default SwAV training step (32 superpixels,
// 2 global 64-px and 4 local 32-px views each).
func BenchmarkSwAVStep(b *testing.B) {
	data := make([]segnet.SwAVImage, 8)
	rng := rand.New(rand.NewPCG(7, 8))
	for i := range data {
		img := image.NewNRGBA(image.Rect(0, 0, 160, 120))
		for j := range img.Pix {
			img.Pix[j] = uint8(rng.IntN(256))
		}
		data[i] = segnet.SwAVImage{Image: img, Centers: [][2]float32{{40, 30}, {120, 90}}}
	}
	tr, err := segnet.NewSwAV(data, segnet.SwAVSettings{Steps: 1 << 30}, 1)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := tr.Step(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
