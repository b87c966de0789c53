package segnet

import (
	"image"

	"github.com/disintegration/imaging"
	"image/color"
	"math"
)

// loadImage writes img, bilinearly resized to h x w (PyTorch/OpenCV
// half-pixel convention) and normalised, into dst [3, h, w].
func (n *Net) loadImage(img *image.NRGBA, h, w int, dst []float32) {
	b := img.Bounds()
	ih, iw := b.Dy(), b.Dx()
	var sc, off [3]float32
	for c := range 3 {
		sc[c] = 1 / (255 * n.std[c])
		off[c] = -n.mean[c] / n.std[c]
	}
	if ih == h && iw == w {
		for y := range h {
			o := img.PixOffset(b.Min.X, b.Min.Y+y)
			row := img.Pix[o : o+4*w]
			for x := range w {
				for c := range 3 {
					dst[c*h*w+y*w+x] = float32(row[4*x+c])*sc[c] + off[c]
				}
			}
		}
		return
	}
	y0s, y1s, lys := axis(ih, h)
	x0s, x1s, lxs := axis(iw, w)
	for y := range h {
		r0, r1, ly := img.PixOffset(b.Min.X, b.Min.Y+y0s[y]), img.PixOffset(b.Min.X, b.Min.Y+y1s[y]), lys[y]
		for x := range w {
			x0, x1, lx := 4*x0s[x], 4*x1s[x], lxs[x]
			for c := range 3 {
				v00, v01 := float32(img.Pix[r0+x0+c]), float32(img.Pix[r0+x1+c])
				v10, v11 := float32(img.Pix[r1+x0+c]), float32(img.Pix[r1+x1+c])
				top := v00 + lx*(v01-v00)
				bot := v10 + lx*(v11-v10)
				dst[c*h*w+y*w+x] = (top+ly*(bot-top))*sc[c] + off[c]
			}
		}
	}
}

// predictImage runs image j of n.input through the network in evaluation
// mode and writes its mask and confidence. The logits are resized one
// output row at a time, straight into the softmax: the full-size logits
// (K floats per output pixel) are never stored.
//
// With a non-nil acc it writes no mask: it adds each pixel's softmax
// probabilities to acc[region[pixel]*K:][:K] instead (region is row-major
// over the output size).
//
// With a non-nil prob (and nil acc) it writes each pixel's softmax
// probabilities to prob[(y*W+x)*K:][:K] instead.
func (n *Net) predictImage(j int, s *scratch, mask *image.Paletted, conf *image.Gray, region []int32, acc []float64, prob []float32) {
	for i := range n.convs {
		n.convImage(i, j, false, s)
	}
	L := len(n.convs)
	lhw := n.sizes[L][0] * n.sizes[L][1]
	k := n.arch.Classes
	low := n.low[j*k*lhw : (j+1)*k*lhw]
	n.head.forwardImage(n.layerInput(L, j, false, s.in), lhw, low)
	r := n.up
	plane := r.ih * r.ow
	s.pred = grow(s.pred, k*(plane+r.ow))
	hr, row := s.pred[:k*plane], s.pred[k*plane:]
	for p := range k {
		r.horizontal(low[p*lhw:(p+1)*lhw], hr[p*plane:(p+1)*plane])
	}
	for oy := range r.oh {
		for p := range k {
			r.row(hr[p*plane:(p+1)*plane], oy, row[p*r.ow:(p+1)*r.ow])
		}
		if acc != nil {
			accumulateRow(row, k, r.ow, region[oy*r.ow:][:r.ow], acc)
			continue
		}
		if prob != nil {
			probRow(row, k, r.ow, prob[oy*r.ow*k:][:r.ow*k])
			continue
		}
		softmaxRow(row, k, r.ow, 0, r.ow, mask.Pix[oy*mask.Stride:][:r.ow], conf.Pix[oy*conf.Stride:][:r.ow])
	}
}

// accumulateRow adds the softmax probabilities of the n pixels of logits z
// [k, n] to acc[region[x]*k:][:k].
func accumulateRow(z []float32, k, n int, region []int32, acc []float64) {
	p := make([]float64, k)
	for x := range n {
		best := z[x]
		for c := 1; c < k; c++ {
			best = max(best, z[c*n+x])
		}
		var se float64
		for c := range k {
			e := math.Exp(float64(z[c*n+x] - best))
			p[c] = e
			se += e
		}
		a := acc[int(region[x])*k:][:k]
		inv := 1 / se
		for c, e := range p {
			a[c] += e * inv
		}
	}
}

// probRow writes the softmax probabilities of the n pixels of logits z
// [k, n] pixel-major into out [n, k].
func probRow(z []float32, k, n int, out []float32) {
	for x := range n {
		best := z[x]
		for c := 1; c < k; c++ {
			best = max(best, z[c*n+x])
		}
		var se float64
		o := out[x*k : (x+1)*k]
		for c := range k {
			e := math.Exp(float64(z[c*n+x] - best))
			o[c] = float32(e)
			se += e
		}
		inv := float32(1 / se)
		for c := range o {
			o[c] *= inv
		}
	}
}

// PredictProba runs img through the network as Predict does and returns
// every pixel's softmax posteriors over the K concepts at img's size,
// pixel-major: p[(y*W+x)*K+c]. Predict's mask is their per-pixel arg-max.
// It panics on an empty image.
func (n *Net) PredictProba(img *image.NRGBA) []float32 {
	return n.PredictProbaTTA(img, TTA{})
}

// PredictRegions runs img through the network as Predict does and returns,
// for each region of a partition of its pixels (region[y*W+x] in
// [0, regions), row-major over img's bounds; typically SLIC superpixels),
// the mean of the network's per-pixel softmax posteriors over the region:
// regions x K values, row-major. Taking the arg-max of a region's mean
// posterior instead of each pixel's puts the mask's edges on the region
// boundaries, which follow the image's own edges, at full resolution. A
// region without pixels gets all zeros. It panics if region does not cover
// img or holds an id outside [0, regions).
func (n *Net) PredictRegions(img *image.NRGBA, region []int32, regions int) []float64 {
	return n.PredictRegionsTTA(img, region, regions, TTA{})
}

// palette is the colour table of predicted masks: grey levels by concept id,
// so that masks view sensibly; the pixel values (concept ids) are what count.
// pipeline/ may replace the palette when it encodes masks.
func palette(k int) color.Palette {
	p := make(color.Palette, 256)
	for i := range p {
		v := uint8(0)
		if k > 1 && i < k {
			v = uint8(i * 255 / (k - 1))
		}
		p[i] = color.RGBA{v, v, v, 255}
	}
	return p
}

// Predict segments img (evaluation mode: BN running statistics) and returns
// the concept id of every pixel (0..K-1) and the confidence
// round(255 * softmax probability of that concept). The images
// have img's bounds. The network sees img rescaled as in training (see
// Arch.Input and InputSize). It panics on an empty image.
func (n *Net) Predict(img *image.NRGBA) (*image.Paletted, *image.Gray) {
	m, c := n.PredictBatch([]*image.NRGBA{img}, 0, 0)
	return m[0], c[0]
}

// MaxInputFactor bounds the network input Predict uses: each side is at
// most MaxInputFactor times the training crop's side (Arch.Input), so an
// image of extreme aspect ratio (1 x 5000) is squeezed along its long side
// instead of becoming an input of 120 x 600000. With Arch.Input zero, the
// input is at most MaxInputPixels pixels (aspect kept). Either way the
// network's memory per image is bounded whatever the image; the logits are
// resized back to the image's own size.
const (
	MaxInputFactor = 4
	MaxInputPixels = 1 << 20
)

// InputSize returns the network input size Predict uses for an image of
// h x w: scaled by max(Input[0]/h, Input[1]/w) so that it just covers the
// training crop, as training's random scaled crop does at zoom 1, each side
// then capped at MaxInputFactor times the crop's; h x w itself (scaled down
// to MaxInputPixels if larger) if Arch.Input is zero.
func (n *Net) InputSize(h, w int) (int, int) {
	in := n.arch.Input
	if h <= 0 || w <= 0 {
		return h, w
	}
	if in[0] == 0 {
		if a := float64(h) * float64(w); a > MaxInputPixels {
			z := math.Sqrt(MaxInputPixels / a)
			return max(1, int(float64(h)*z)), max(1, int(float64(w)*z))
		}
		return h, w
	}
	z := max(float64(in[0])/float64(h), float64(in[1])/float64(w))
	ih := min(MaxInputFactor*in[0], max(1, int(math.Round(float64(h)*z))))
	iw := min(MaxInputFactor*in[1], max(1, int(math.Round(float64(w)*z))))
	return ih, iw
}

// PredictBatch is Predict for images of the same size, run as one batch of
// network inputs of h x w (the images are resized bilinearly; 0, 0 means
// InputSize) whose logits are resized bilinearly back to the images'
// size, as peers/segnet_ref.py does with its 240x320 inputs. It panics if the
// image sizes differ or are empty.
func (n *Net) PredictBatch(imgs []*image.NRGBA, h, w int) ([]*image.Paletted, []*image.Gray) {
	if len(imgs) == 0 {
		return nil, nil
	}
	b0 := imgs[0].Bounds()
	oh, ow := b0.Dy(), b0.Dx()
	if oh == 0 || ow == 0 {
		panic("segnet: Predict on an empty image")
	}
	for _, im := range imgs {
		if b := im.Bounds(); b.Dx() != ow || b.Dy() != oh {
			panic("segnet: PredictBatch on images of different sizes")
		}
	}
	bn := len(imgs)
	masks := make([]*image.Paletted, bn)
	confs := make([]*image.Gray, bn)
	pal := palette(n.arch.Classes)
	for i, im := range imgs {
		masks[i] = image.NewPaletted(im.Bounds(), pal)
		confs[i] = image.NewGray(im.Bounds())
	}
	n.predict(imgs, h, w, masks, confs, nil, nil, nil)
	return masks, confs
}

// predict runs imgs (same size, non-empty) at network input h x w (0, 0:
// InputSize) into masks and confs, or, for a single image with acc, adds
// its posteriors to acc by region (see predictImage).
func (n *Net) predict(imgs []*image.NRGBA, h, w int, masks []*image.Paletted, confs []*image.Gray, region []int32, acc []float64, prob []float32) {
	b0 := imgs[0].Bounds()
	oh, ow := b0.Dy(), b0.Dx()
	if h <= 0 || w <= 0 {
		h, w = n.InputSize(oh, ow)
	}
	bn := len(imgs)
	n.alloc(bn, h, w, oh, ow)
	for _, b := range n.bns {
		b.evalCoef()
	}
	wk := n.workers()
	n.scratch(wk, false)
	// Without batch statistics every image goes through the whole network
	// on its own: no barrier per layer, and its activations stay in cache.
	parallelDynamic(bn, wk, func(w2, i int) {
		img := imgs[i]
		if h*2 < oh || w*2 < ow {
			// Bilinear sampling would alias; imaging's linear filter widens
			// its support when shrinking.
			img = imaging.Resize(img, w, h, imaging.Linear)
		}
		n.loadImage(img, h, w, n.input[i*3*h*w:(i+1)*3*h*w])
		if acc != nil || prob != nil {
			n.predictImage(i, &n.ws[w2], nil, nil, region, acc, prob)
			return
		}
		n.predictImage(i, &n.ws[w2], masks[i], confs[i], nil, nil, nil)
	})
}
