package pseudolabel

import (
	"fmt"
	"image"
	"math"
)

// ConfidenceHistogram counts, per concept, the pixels of a set of masks at
// each confidence value 0..255. It is the dataset-wide statistic behind
// class-balanced thresholds: filled image by image (and merged across
// workers or shards), then read once.
type ConfidenceHistogram struct {
	counts [][256]int64
}

// NewConfidenceHistogram returns an empty histogram for concepts 0..k-1.
func NewConfidenceHistogram(k int) *ConfidenceHistogram {
	if k < 1 || k > MaxConcepts {
		panic(fmt.Sprintf("pseudolabel: histogram of %d concepts", k))
	}
	return &ConfidenceHistogram{counts: make([][256]int64, k)}
}

// K returns the number of concepts.
func (h *ConfidenceHistogram) K() int { return len(h.counts) }

// Add counts the pixels of mask with their confidence. Unassigned pixels
// and ids of K or more are skipped. It panics if the bounds differ.
func (h *ConfidenceHistogram) Add(mask *image.Paletted, conf *image.Gray) {
	sameBounds(mask, conf)
	b := mask.Rect
	for y := b.Min.Y; y < b.Max.Y; y++ {
		mi := mask.PixOffset(b.Min.X, y)
		ci := conf.PixOffset(b.Min.X, y)
		for x := range b.Dx() {
			if c := int(mask.Pix[mi+x]); c < len(h.counts) {
				h.counts[c][conf.Pix[ci+x]]++
			}
		}
	}
}

// Merge adds o's counts to h. It panics if their K differ.
func (h *ConfidenceHistogram) Merge(o *ConfidenceHistogram) {
	if len(o.counts) != len(h.counts) {
		panic(fmt.Sprintf("pseudolabel: merging histograms of %d and %d concepts", len(o.counts), len(h.counts)))
	}
	for c := range h.counts {
		for v, n := range o.counts[c] {
			h.counts[c][v] += n
		}
	}
}

// Pixels returns the number of pixels counted for concept c.
func (h *ConfidenceHistogram) Pixels(c int) int64 {
	var n int64
	for _, v := range h.counts[c] {
		n += v
	}
	return n
}

// Thresholds returns, per concept, the highest confidence t such that at
// least keep of the concept's pixels have confidence >= t: keeping the
// pixels at or above their concept's threshold keeps the most confident
// fraction keep of every concept. This is the class-balanced selection of
// self-training for domain adaptation (Zou, Yu, Kumar and Wang, "Unsupervised
// domain adaptation for semantic segmentation via class-balanced
// self-training", ECCV 2018): one global threshold would keep the easy
// concepts and drop the hard ones whole, and the network trained on the
// result would forget them. A concept without pixels gets 0. It panics
// unless 0 < keep <= 1.
func (h *ConfidenceHistogram) Thresholds(keep float64) []uint8 {
	if !(keep > 0 && keep <= 1) {
		panic(fmt.Sprintf("pseudolabel: keep fraction %v outside (0, 1]", keep))
	}
	thr := make([]uint8, len(h.counts))
	for c, hist := range h.counts {
		total := h.Pixels(c)
		if total == 0 {
			continue
		}
		need := int64(math.Ceil(keep * float64(total)))
		var above int64
		for t := 255; t >= 0; t-- {
			above += hist[t]
			if above >= need {
				thr[c] = uint8(t)
				break
			}
		}
	}
	return thr
}

// Rectify returns a copy of mask in which a pixel becomes Unassigned when
// its confidence is below its concept's threshold (thr from Thresholds; ids
// beyond thr are dropped), or, with a non-nil other, when other labels it
// differently — a second opinion, e.g. the source network's prediction or
// the prediction on an augmented view, so that only pixels both agree on
// teach the network. Pixels Unassigned in other count as disagreeing. It
// panics if the bounds differ.
func Rectify(mask *image.Paletted, conf *image.Gray, thr []uint8, other *image.Paletted) *image.Paletted {
	sameBounds(mask, conf)
	if other != nil && other.Rect != mask.Rect {
		panic(fmt.Sprintf("pseudolabel: Rectify of a %v mask with a %v second opinion", mask.Rect, other.Rect))
	}
	out := image.NewPaletted(mask.Rect, mask.Palette)
	b := mask.Rect
	for y := b.Min.Y; y < b.Max.Y; y++ {
		mi := mask.PixOffset(b.Min.X, y)
		ci := conf.PixOffset(b.Min.X, y)
		oi := out.PixOffset(b.Min.X, y)
		var ri int
		if other != nil {
			ri = other.PixOffset(b.Min.X, y)
		}
		for x := range b.Dx() {
			c := mask.Pix[mi+x]
			keep := int(c) < len(thr) && conf.Pix[ci+x] >= thr[c]
			if keep && other != nil && other.Pix[ri+x] != c {
				keep = false
			}
			if keep {
				out.Pix[oi+x] = c
			} else {
				out.Pix[oi+x] = Unassigned
			}
		}
	}
	return out
}

func sameBounds(mask *image.Paletted, conf *image.Gray) {
	if mask.Rect != conf.Rect {
		panic(fmt.Sprintf("pseudolabel: mask %v and confidence %v differ in bounds", mask.Rect, conf.Rect))
	}
}
