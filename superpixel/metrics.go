package superpixel

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
)

// Superpixel quality against human segmentations (BSDS500 style), with
// the definitions of Stutz et al., "Superpixels: an evaluation of the state
// of the art", CVIU 2018, and Neubert & Protzel 2012; the figures equal
// those of peers/spmetrics.py. Segment ids of seg and gt may be any
// integers: neither needs contiguous ids.

// boundary marks the pixels whose id differs from one of their 4
// neighbours, so a boundary is two pixels thick, one on each side.
func boundary(l *Labels) []bool {
	w, h := l.Width, l.Height
	b := make([]bool, w*h)
	for y := 0; y < h; y++ {
		row := l.Pix[y*w : (y+1)*w]
		for x := 0; x+1 < w; x++ {
			if row[x] != row[x+1] {
				b[y*w+x], b[y*w+x+1] = true, true
			}
		}
		if y+1 < h {
			next := l.Pix[(y+1)*w : (y+2)*w]
			for x := range row {
				if row[x] != next[x] {
					b[y*w+x], b[(y+1)*w+x] = true, true
				}
			}
		}
	}
	return b
}

// dilate returns b dilated by a (2r+1)×(2r+1) square, clipped at the image
// border: separable, a sliding count along rows then columns.
func dilate(b []bool, w, h, r int) []bool {
	if r <= 0 {
		return b
	}
	tmp := make([]bool, w*h)
	for y := 0; y < h; y++ {
		row, out := b[y*w:(y+1)*w], tmp[y*w:(y+1)*w]
		n := 0 // set pixels in row[x-r .. x+r]
		for x := 0; x < min(r, w); x++ {
			if row[x] {
				n++
			}
		}
		for x := 0; x < w; x++ {
			if x+r < w && row[x+r] {
				n++
			}
			if x-r-1 >= 0 && row[x-r-1] {
				n--
			}
			out[x] = n > 0
		}
	}
	res := make([]bool, w*h)
	for x := 0; x < w; x++ {
		n := 0
		for y := 0; y < min(r, h); y++ {
			if tmp[y*w+x] {
				n++
			}
		}
		for y := 0; y < h; y++ {
			if y+r < h && tmp[(y+r)*w+x] {
				n++
			}
			if y-r-1 >= 0 && tmp[(y-r-1)*w+x] {
				n--
			}
			res[y*w+x] = n > 0
		}
	}
	return res
}

// BoundaryRecall returns the fraction of gt's boundary pixels that have a
// boundary pixel of seg within the (2·tol+1)² square centred on them (tol
// in pixels; 0 asks for the same pixel). It is NaN when gt has no boundary
// (one segment). seg and gt must have the same size (it panics otherwise).
func BoundaryRecall(seg, gt *Labels, tol int) float64 {
	mustSameSize(seg, gt)
	gb := boundary(gt)
	sb := dilate(boundary(seg), seg.Width, seg.Height, tol)
	var n, hit int
	for i, g := range gb {
		if g {
			n++
			if sb[i] {
				hit++
			}
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return float64(hit) / float64(n)
}

// compact maps ids to 0..n-1 (in increasing id order, as numpy.unique).
func compact(pix []int32) ([]int32, int) {
	if len(pix) == 0 {
		return nil, 0
	}
	lo, hi := slices.Min(pix), slices.Max(pix)
	out := make([]int32, len(pix))
	if span := int64(hi) - int64(lo) + 1; span <= 1<<24 {
		lut := make([]int32, span)
		for _, v := range pix {
			lut[v-lo] = 1
		}
		n := int32(0)
		for i, used := range lut {
			if used != 0 {
				lut[i] = n
				n++
			}
		}
		for i, v := range pix {
			out[i] = lut[v-lo]
		}
		return out, int(n)
	}
	ids := slices.Clone(pix)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	for i, v := range pix {
		j, _ := slices.BinarySearch(ids, v)
		out[i] = int32(j)
	}
	return out, len(ids)
}

// overlap holds |S_s ∩ G_g| for the pairs that meet, grouped by superpixel.
type overlap struct {
	segSize []int64   // |S_s|
	cells   [][]int64 // cells[s]: counts per gt segment meeting S_s (zeros skipped)
	n       int64     // pixels
}

// intersect counts the overlaps of the compacted superpixel ids s (ns of
// them) with the segments of gt.
func intersect(s []int32, ns int, gt *Labels) overlap {
	g, ng := compact(gt.Pix)
	o := overlap{segSize: make([]int64, ns), cells: make([][]int64, ns), n: int64(len(s))}
	if int64(ns)*int64(ng) <= 1<<24 {
		m := make([]int64, ns*ng)
		for i, si := range s {
			m[int(si)*ng+int(g[i])]++
		}
		for si := 0; si < ns; si++ {
			for _, v := range m[si*ng : (si+1)*ng] {
				if v > 0 {
					o.cells[si] = append(o.cells[si], v)
					o.segSize[si] += v
				}
			}
		}
		return o
	}
	m := make(map[int64]int64)
	for i, si := range s {
		m[int64(si)*int64(ng)+int64(g[i])]++
	}
	for k, v := range m {
		si := k / int64(ng)
		o.cells[si] = append(o.cells[si], v)
		o.segSize[si] += v
	}
	return o
}

func (o overlap) ue() float64 {
	var e int64
	for s, cs := range o.cells {
		for _, v := range cs {
			e += min(v, o.segSize[s]-v)
		}
	}
	return float64(e) / float64(o.n)
}

func (o overlap) asa() float64 {
	var a int64
	for _, cs := range o.cells {
		a += slices.Max(cs)
	}
	return float64(a) / float64(o.n)
}

// UndersegmentationError returns the undersegmentation error of Neubert
// and Protzel (2012): (1/N) Σ_G Σ_{S: S∩G≠∅} min(|S∩G|, |S∖G|), with N the
// number of pixels; 0 is best. seg and gt must have the same size, with at
// least one pixel (it panics otherwise).
func UndersegmentationError(seg, gt *Labels) float64 {
	mustSameSize(seg, gt)
	s, ns := compact(seg.Pix)
	return intersect(s, ns, gt).ue()
}

// AchievableSegmentationAccuracy returns (1/N) Σ_S max_G |S∩G|: the pixel
// accuracy of the best labelling of the ground truth's segments made of
// whole superpixels; 1 is best. Same preconditions as
// UndersegmentationError.
func AchievableSegmentationAccuracy(seg, gt *Labels) float64 {
	mustSameSize(seg, gt)
	s, ns := compact(seg.Pix)
	return intersect(s, ns, gt).asa()
}

// CountSegments returns the number of distinct ids in seg (its N field is
// not trusted: ids need not be contiguous).
func CountSegments(seg *Labels) int {
	_, n := compact(seg.Pix)
	return n
}

func mustSameSize(a, b *Labels) {
	if a.Width != b.Width || a.Height != b.Height || len(a.Pix) != a.Width*a.Height || len(b.Pix) != b.Width*b.Height {
		panic(fmt.Sprintf("superpixel: label maps %dx%d and %dx%d differ in size or are malformed", a.Width, a.Height, b.Width, b.Height))
	}
	if len(a.Pix) == 0 {
		panic("superpixel: empty label map")
	}
}

// QualitySettings control Evaluate. The zero value gives the defaults.
type QualitySettings struct {
	// Tolerance is the boundary recall tolerance in pixels; 0 means the
	// default 2, a negative value means 0 (exact position).
	Tolerance int
}

func (s QualitySettings) tol() int {
	switch {
	case s.Tolerance == 0:
		return 2
	case s.Tolerance < 0:
		return 0
	}
	return s.Tolerance
}

// Quality holds the scores of one superpixel label map against one or
// more human segmentations of its image.
type Quality struct {
	BR         float64 // boundary recall, mean over annotators with a boundary (NaN if none has)
	UE         float64 // Neubert–Protzel undersegmentation error, mean over annotators
	ASA        float64 // achievable segmentation accuracy, mean over annotators
	Segments   int     // distinct superpixel ids
	Annotators int     // ground truths scored against
}

// Evaluate scores seg against every segmentation in gts and averages each
// metric over them, as BSDS500 benchmarks do. It fails if gts is empty or
// a ground truth's size differs from seg's.
func Evaluate(seg *Labels, gts []*Labels, s QualitySettings) (Quality, error) {
	if len(gts) == 0 {
		return Quality{}, errors.New("no ground truth")
	}
	if seg.Width*seg.Height == 0 || len(seg.Pix) != seg.Width*seg.Height {
		return Quality{}, fmt.Errorf("malformed label map %dx%d with %d pixels", seg.Width, seg.Height, len(seg.Pix))
	}
	for k, gt := range gts {
		if gt.Width != seg.Width || gt.Height != seg.Height || len(gt.Pix) != len(seg.Pix) {
			return Quality{}, fmt.Errorf("ground truth %d is %dx%d, label map %dx%d", k, gt.Width, gt.Height, seg.Width, seg.Height)
		}
	}
	tol := s.tol()
	sb := dilate(boundary(seg), seg.Width, seg.Height, tol)
	ids, ns := compact(seg.Pix)
	q := Quality{Segments: ns, Annotators: len(gts)}
	var brSum float64
	brN := 0
	for _, gt := range gts {
		var n, hit int
		for i, g := range boundary(gt) {
			if g {
				n++
				if sb[i] {
					hit++
				}
			}
		}
		if n > 0 {
			brSum += float64(hit) / float64(n)
			brN++
		}
		o := intersect(ids, ns, gt)
		q.UE += o.ue()
		q.ASA += o.asa()
	}
	q.BR = math.NaN()
	if brN > 0 {
		q.BR = brSum / float64(brN)
	}
	q.UE /= float64(len(gts))
	q.ASA /= float64(len(gts))
	return q, nil
}

// QualitySummary holds the mean and median over images of each metric; a
// NaN in any image (BR of an image whose annotators drew no boundary) makes
// that metric's mean and median NaN, as in numpy.
type QualitySummary struct {
	Images                     int
	BR, BRMedian, UE, UEMedian float64
	ASA, ASAMedian             float64
	Segments, SegmentsMedian   float64
}

// Summarize returns the dataset figures of per-image scores.
func Summarize(per []Quality) QualitySummary {
	col := func(f func(Quality) float64) (mean, median float64) {
		if len(per) == 0 {
			return math.NaN(), math.NaN()
		}
		v := make([]float64, len(per))
		var sum float64
		for i, q := range per {
			v[i] = f(q)
			sum += v[i]
			if math.IsNaN(v[i]) {
				return math.NaN(), math.NaN()
			}
		}
		slices.Sort(v)
		n := len(v)
		median = v[n/2]
		if n%2 == 0 {
			median = (v[n/2-1] + v[n/2]) / 2
		}
		return sum / float64(n), median
	}
	s := QualitySummary{Images: len(per)}
	s.BR, s.BRMedian = col(func(q Quality) float64 { return q.BR })
	s.UE, s.UEMedian = col(func(q Quality) float64 { return q.UE })
	s.ASA, s.ASAMedian = col(func(q Quality) float64 { return q.ASA })
	s.Segments, s.SegmentsMedian = col(func(q Quality) float64 { return float64(q.Segments) })
	return s
}

// jsonFloat writes NaN as null, since JSON has no NaN.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		return []byte("null"), nil
	}
	return json.Marshal(float64(f))
}

func (f *jsonFloat) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = jsonFloat(math.NaN())
		return nil
	}
	return json.Unmarshal(b, (*float64)(f))
}

type qualityJSON struct {
	BR         jsonFloat `json:"br"`
	UE         jsonFloat `json:"ue"`
	ASA        jsonFloat `json:"asa"`
	Segments   int       `json:"n_segments"`
	Annotators int       `json:"n_gt"`
}

// MarshalJSON writes the layout of peers/spmetrics.py (NaN as null).
func (q Quality) MarshalJSON() ([]byte, error) {
	return json.Marshal(qualityJSON{jsonFloat(q.BR), jsonFloat(q.UE), jsonFloat(q.ASA), q.Segments, q.Annotators})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (q *Quality) UnmarshalJSON(b []byte) error {
	var v qualityJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*q = Quality{float64(v.BR), float64(v.UE), float64(v.ASA), v.Segments, v.Annotators}
	return nil
}

type summaryJSON struct {
	Images         int       `json:"n_images"`
	BR             jsonFloat `json:"br"`
	BRMedian       jsonFloat `json:"br_median"`
	UE             jsonFloat `json:"ue"`
	UEMedian       jsonFloat `json:"ue_median"`
	ASA            jsonFloat `json:"asa"`
	ASAMedian      jsonFloat `json:"asa_median"`
	Segments       jsonFloat `json:"n_segments"`
	SegmentsMedian jsonFloat `json:"n_segments_median"`
}

// MarshalJSON writes the summary layout of peers/spmetrics.py (NaN as null).
func (s QualitySummary) MarshalJSON() ([]byte, error) {
	return json.Marshal(summaryJSON{s.Images, jsonFloat(s.BR), jsonFloat(s.BRMedian), jsonFloat(s.UE), jsonFloat(s.UEMedian),
		jsonFloat(s.ASA), jsonFloat(s.ASAMedian), jsonFloat(s.Segments), jsonFloat(s.SegmentsMedian)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *QualitySummary) UnmarshalJSON(b []byte) error {
	var v summaryJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = QualitySummary{v.Images, float64(v.BR), float64(v.BRMedian), float64(v.UE), float64(v.UEMedian),
		float64(v.ASA), float64(v.ASAMedian), float64(v.Segments), float64(v.SegmentsMedian)}
	return nil
}
