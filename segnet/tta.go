package segnet

import (
	"fmt"
	"image"
	"math"
	"slices"

	"github.com/disintegration/imaging"
)

// TTA is test-time augmentation: the network's softmax posteriors averaged
// over several views of an image, each view's posteriors mapped back onto
// the image's own pixels before the average. The zero value is one view,
// the image as Predict sees it.
//
// The views are the training augmentations (see TrainSettings): a horizontal
// flip, and zooms of the network input relative to InputSize. Averaging
// over them estimates the expectation of the network's output over the
// distribution it was trained on, instead of one draw from it, so that a
// decision that flips with the view (a boundary that moves, a blob that
// comes and goes with the scale) is settled by the views' majority. This is
// the multi-scale and flipped inference of DeepLab (Chen et al. 2018,
// "DeepLab: semantic image segmentation with deep convolutional nets,
// atrous convolution, and fully connected CRFs", section 4: scales 0.5 to
// 1.75 and left-right flips, posteriors averaged).
type TTA struct {
	// Flip adds the mirror image of every view (twice the views).
	Flip bool
	// Scales are the network input sizes as factors of InputSize's (each
	// side rounded, at least 1 pixel); nil means {1}. DefaultTTAScales are
	// the ends and middle of training's zoom range.
	Scales []float64
}

// DefaultTTAScales are the zooms of TTA when scales are asked for without
// naming them: the smallest, the unit and the largest zoom of training's
// random scaled crop (DefaultMinScale, 1, DefaultMaxScale), so that every
// view is one the network was trained on and none is extrapolated.
var DefaultTTAScales = []float64{DefaultMinScale, 1, DefaultMaxScale}

// Views is the number of network evaluations per image.
func (t TTA) Views() int {
	v := max(1, len(t.Scales))
	if t.Flip {
		v *= 2
	}
	return v
}

// Cost is the network work per image relative to one view at scale 1:
// the sum of the views' input areas.
func (t TTA) Cost() float64 {
	c := 0.0
	for _, s := range t.scales() {
		c += s * s
	}
	if t.Flip {
		c *= 2
	}
	return c
}

// Validate reports scales that are not finite and positive, or so large
// (above MaxInputFactor) that the input would leave Predict's memory bound.
func (t TTA) Validate() error {
	for _, s := range t.Scales {
		if !(s > 0) || s > MaxInputFactor || math.IsInf(s, 0) {
			return fmt.Errorf("segnet: TTA scale %v not in (0, %d]", s, MaxInputFactor)
		}
	}
	return nil
}

// String is the views in a stable form, for cache keys and logs: "none",
// or "flip", "scales=0.75:1:1.5", or both joined by a comma.
func (t TTA) String() string {
	var s string
	if t.Flip {
		s = "flip"
	}
	if len(t.Scales) > 0 && !slices.Equal(t.Scales, []float64{1}) {
		if s != "" {
			s += ","
		}
		s += "scales="
		for i, v := range t.Scales {
			if i > 0 {
				s += ":"
			}
			s += fmt.Sprint(v)
		}
	}
	if s == "" {
		return "none"
	}
	return s
}

func (t TTA) scales() []float64 {
	if len(t.Scales) == 0 {
		return []float64{1}
	}
	return t.Scales
}

// viewSize is the network input for an image of oh x ow at scale s.
func (n *Net) viewSize(oh, ow int, s float64) (int, int) {
	h, w := n.InputSize(oh, ow)
	if s == 1 {
		return h, w
	}
	return max(1, int(math.Round(float64(h)*s))), max(1, int(math.Round(float64(w)*s)))
}

// PredictProbaTTA is PredictProba averaged over t's views: every pixel's
// mean softmax posteriors at img's size, pixel-major. With the zero TTA it
// is PredictProba. It panics on an empty image or invalid scales.
func (n *Net) PredictProbaTTA(img *image.NRGBA, t TTA) []float32 {
	b := img.Bounds()
	if b.Empty() {
		panic("segnet: Predict on an empty image")
	}
	if err := t.Validate(); err != nil {
		panic(err)
	}
	oh, ow := b.Dy(), b.Dx()
	return t.average(img, n.arch.Classes, func(s float64) (int, int) { return n.viewSize(oh, ow, s) },
		func(v *image.NRGBA, h, w int, prob []float32) {
			n.predict([]*image.NRGBA{v}, h, w, nil, nil, nil, nil, prob)
		})
}

// average is the mean over t's views of img of the posteriors that view
// writes (pixel-major [H, W, K] at img's size) for an image (img or its
// mirror) at network input h x w, size(scale) giving h x w.
func (t TTA) average(img *image.NRGBA, k int, size func(float64) (int, int), view func(v *image.NRGBA, h, w int, prob []float32)) []float32 {
	b := img.Bounds()
	oh, ow := b.Dy(), b.Dx()
	prob := make([]float32, ow*oh*k)
	views := t.Views()
	if views == 1 {
		h, w := size(t.scales()[0])
		view(img, h, w, prob)
		return prob
	}
	// Sums in float64: the mean of up to a dozen views keeps float32's
	// precision whatever the order.
	sum := make([]float64, ow*oh*k)
	var flipped *image.NRGBA
	if t.Flip {
		flipped = imaging.FlipH(img)
	}
	for _, s := range t.scales() {
		h, w := size(s)
		view(img, h, w, prob)
		for i, v := range prob {
			sum[i] += float64(v)
		}
		if flipped == nil {
			continue
		}
		view(flipped, h, w, prob)
		// Pixel x of the mirror is pixel ow-1-x of the image.
		for y := range oh {
			row := sum[y*ow*k:][:ow*k]
			vrow := prob[y*ow*k:][:ow*k]
			for x := range ow {
				d, s := row[x*k:][:k], vrow[(ow-1-x)*k:][:k]
				for c := range k {
					d[c] += float64(s[c])
				}
			}
		}
	}
	inv := 1 / float64(views)
	for i, v := range sum {
		prob[i] = float32(v * inv)
	}
	return prob
}

// PredictRegionsTTA is PredictRegions averaged over t's views: for each
// region, the mean over its pixels and over the views of the network's
// posteriors. It never holds a view's posteriors: each view adds them to
// the regions as they are resized (a mirrored view through the mirrored
// region map). With the zero TTA it is PredictRegions. It panics as
// PredictRegions does, or on invalid scales.
func (n *Net) PredictRegionsTTA(img *image.NRGBA, region []int32, regions int, t TTA) []float64 {
	b := img.Bounds()
	if b.Empty() {
		panic("segnet: Predict on an empty image")
	}
	if len(region) != b.Dx()*b.Dy() {
		panic("segnet: PredictRegions with a region map of the wrong size")
	}
	for _, v := range region {
		if v < 0 || int(v) >= regions {
			panic("segnet: PredictRegions with a region id out of range")
		}
	}
	if err := t.Validate(); err != nil {
		panic(err)
	}
	k := n.arch.Classes
	oh, ow := b.Dy(), b.Dx()
	acc := make([]float64, regions*k)
	var flipped *image.NRGBA
	var fregion []int32
	if t.Flip {
		flipped = imaging.FlipH(img)
		fregion = make([]int32, len(region))
		for y := range oh {
			src, dst := region[y*ow:][:ow], fregion[y*ow:][:ow]
			for x := range ow {
				dst[x] = src[ow-1-x]
			}
		}
	}
	for _, s := range t.scales() {
		h, w := n.viewSize(oh, ow, s)
		n.predict([]*image.NRGBA{img}, h, w, nil, nil, region, acc, nil)
		if flipped != nil {
			n.predict([]*image.NRGBA{flipped}, h, w, nil, nil, fregion, acc, nil)
		}
	}
	cnt := make([]float64, regions)
	for _, v := range region {
		cnt[v]++
	}
	views := float64(t.Views())
	for i, c := range cnt {
		if c > 0 {
			for j := range k {
				acc[i*k+j] /= c * views
			}
		}
	}
	return acc
}
