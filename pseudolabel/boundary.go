package pseudolabel

import (
	"encoding/json"
	"fmt"
	"image"
	"math"
)

// BoundaryTolerance is the distance, in pixels, within which a predicted
// boundary pixel matches a ground-truth one (and back).
const BoundaryTolerance = 2

// Boundaries accumulates the boundary precision and recall of label maps
// over a dataset (see the package documentation). The zero value is empty
// and uses BoundaryTolerance. It is not safe for concurrent use; Merge
// per-goroutine ones.
type Boundaries struct {
	// Tol is the matching distance in pixels; 0 means BoundaryTolerance.
	Tol float64
	// Pred and GT are the boundary pixels counted; PredHit and GTHit those
	// within Tol of a boundary pixel of the other map.
	Pred, PredHit, GT, GTHit int64
}

// BoundaryScore is the boundary F-measure of a dataset.
type BoundaryScore struct {
	Tolerance float64 `json:"tolerance_px"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F         float64 `json:"f"`
	PredPx    int64   `json:"pred_boundary_px"`
	GTPx      int64   `json:"gt_boundary_px"`
}

// Add accumulates one image pair: pred holds predicted ids, gt class
// indices with ignore as void, both single-channel id images
// (*image.Paletted, *image.Gray or *image.Gray16) of the same size.
func (b *Boundaries) Add(pred, gt image.Image, ignore int) error {
	pb, gb := pred.Bounds(), gt.Bounds()
	if pb.Dx() != gb.Dx() || pb.Dy() != gb.Dy() {
		return fmt.Errorf("size mismatch: prediction %dx%d, ground truth %dx%d", pb.Dx(), pb.Dy(), gb.Dx(), gb.Dy())
	}
	p, err := idSlice(pred)
	if err != nil {
		return fmt.Errorf("prediction: %w", err)
	}
	g, err := idSlice(gt)
	if err != nil {
		return fmt.Errorf("ground truth: %w", err)
	}
	w, h := pb.Dx(), pb.Dy()
	void := make([]bool, w*h)
	for i, v := range g {
		void[i] = int(v) == ignore
	}
	pm := boundaryMap(p, w, h, void)
	gm := boundaryMap(g, w, h, void)
	tol := b.Tol
	if tol == 0 {
		tol = BoundaryTolerance
	}
	pd, gd := dilate(pm, w, h, tol), dilate(gm, w, h, tol)
	for i := range pm {
		if pm[i] {
			b.Pred++
			if gd[i] {
				b.PredHit++
			}
		}
		if gm[i] {
			b.GT++
			if pd[i] {
				b.GTHit++
			}
		}
	}
	return nil
}

// Merge adds o's counts to b.
func (b *Boundaries) Merge(o *Boundaries) {
	b.Pred += o.Pred
	b.PredHit += o.PredHit
	b.GT += o.GT
	b.GTHit += o.GTHit
}

// Score returns precision PredHit/Pred, recall GTHit/GT and their harmonic
// mean F (0 when both are 0; NaN fields when there is nothing to count).
func (b *Boundaries) Score() BoundaryScore {
	s := BoundaryScore{Tolerance: b.Tol, PredPx: b.Pred, GTPx: b.GT}
	if s.Tolerance == 0 {
		s.Tolerance = BoundaryTolerance
	}
	s.Precision, s.Recall = ratio(b.PredHit, b.Pred), ratio(b.GTHit, b.GT)
	s.F = math.NaN()
	if !math.IsNaN(s.Precision) && !math.IsNaN(s.Recall) {
		s.F = 0
		if s.Precision+s.Recall > 0 {
			s.F = 2 * s.Precision * s.Recall / (s.Precision + s.Recall)
		}
	}
	return s
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

// idSlice returns the ids of a single-channel id image, row-major.
func idSlice(img image.Image) ([]int32, error) {
	p8, p16, err := idPlane(img)
	if err != nil {
		return nil, err
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	out := make([]int32, w*h)
	for y := range h {
		for x := range w {
			if p8 != nil {
				out[y*w+x] = int32(p8.pix[y*p8.stride+x])
			} else {
				out[y*w+x] = int32(p16.pix[y*p16.stride+x])
			}
		}
	}
	return out, nil
}

// boundaryMap marks pixel (x, y) when its right or lower neighbour has
// another id, neither of the two being void.
func boundaryMap(id []int32, w, h int, void []bool) []bool {
	m := make([]bool, w*h)
	for y := range h {
		for x := range w {
			i := y*w + x
			if void[i] {
				continue
			}
			if x+1 < w && !void[i+1] && id[i+1] != id[i] {
				m[i] = true
			}
			if y+1 < h && !void[i+w] && id[i+w] != id[i] {
				m[i] = true
			}
		}
	}
	return m
}

// dilate returns the pixels within Euclidean distance r of a marked pixel.
func dilate(m []bool, w, h int, r float64) []bool {
	ri := int(r)
	type off struct{ dx, dy int }
	var offs []off
	for dy := -ri; dy <= ri; dy++ {
		for dx := -ri; dx <= ri; dx++ {
			if float64(dx*dx+dy*dy) <= r*r {
				offs = append(offs, off{dx, dy})
			}
		}
	}
	out := make([]bool, w*h)
	for y := range h {
		for x := range w {
			if !m[y*w+x] {
				continue
			}
			for _, o := range offs {
				xx, yy := x+o.dx, y+o.dy
				if xx >= 0 && xx < w && yy >= 0 && yy < h {
					out[yy*w+xx] = true
				}
			}
		}
	}
	return out
}

// MarshalJSON writes NaN figures as null.
func (s BoundaryScore) MarshalJSON() ([]byte, error) {
	num := func(v float64) *float64 {
		if math.IsNaN(v) {
			return nil
		}
		return &v
	}
	return json.Marshal(struct {
		Tolerance float64  `json:"tolerance_px"`
		Precision *float64 `json:"precision"`
		Recall    *float64 `json:"recall"`
		F         *float64 `json:"f"`
		PredPx    int64    `json:"pred_boundary_px"`
		GTPx      int64    `json:"gt_boundary_px"`
	}{s.Tolerance, num(s.Precision), num(s.Recall), num(s.F), s.PredPx, s.GTPx})
}
