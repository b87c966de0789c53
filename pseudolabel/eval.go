package pseudolabel

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"math"

	"gonum.org/v1/gonum/mat"
)

// DefaultIgnore is the ground-truth value that marks pixels left out of the
// evaluation (void), as in PASCAL VOC and Stanford Background.
const DefaultIgnore = 255

// Confusion accumulates the confusion matrix M[pred id, class] of a whole
// dataset, the first step of the unsupervised segmentation protocol of
// PiCIE and STEGO: one matrix over every image, matched afterwards (Score).
// It follows peers/eval_miou.py: ground-truth pixels equal to the ignore
// value are skipped; predicted pixels equal to Unassigned are never matched
// and count as wrong for the class under them.
//
// A Confusion is not safe for concurrent use; give each goroutine its own
// and Merge them.
type Confusion struct {
	numClasses int
	ignore     int
	nPred      int     // largest predicted id seen plus one (0 if none)
	counts     []int64 // nPred × numClasses, row-major
	unassigned []int64 // per class: valid pixels predicted Unassigned
}

// NewConfusion returns an empty confusion matrix for ground truth with
// classes 0..numClasses-1 and ignore as the void value. It panics if
// numClasses < 1.
func NewConfusion(numClasses, ignore int) *Confusion {
	if numClasses < 1 {
		panic(fmt.Sprintf("pseudolabel: NewConfusion with %d classes", numClasses))
	}
	return &Confusion{numClasses: numClasses, ignore: ignore, unassigned: make([]int64, numClasses)}
}

// Ignore returns the ground-truth void value.
func (c *Confusion) Ignore() int { return c.ignore }

// NumClasses returns the number of ground-truth classes.
func (c *Confusion) NumClasses() int { return c.numClasses }

// plane is a single-channel image of 8- or 16-bit ids, row-major.
type plane[T uint8 | uint16] struct {
	pix    []T
	stride int
}

// idPlane returns the pixels of a single-channel id image. Gray16 is
// converted from big-endian bytes into a new slice.
func idPlane(img image.Image) (p8 *plane[uint8], p16 *plane[uint16], err error) {
	switch m := img.(type) {
	case *image.Paletted:
		return &plane[uint8]{m.Pix[m.PixOffset(m.Rect.Min.X, m.Rect.Min.Y):], m.Stride}, nil, nil
	case *image.Gray:
		return &plane[uint8]{m.Pix[m.PixOffset(m.Rect.Min.X, m.Rect.Min.Y):], m.Stride}, nil, nil
	case *image.Gray16:
		w, h := m.Rect.Dx(), m.Rect.Dy()
		out := make([]uint16, w*h)
		for y := 0; y < h; y++ {
			row := m.Pix[m.PixOffset(m.Rect.Min.X, m.Rect.Min.Y+y):]
			for x := 0; x < w; x++ {
				out[y*w+x] = binary.BigEndian.Uint16(row[2*x:])
			}
		}
		return nil, &plane[uint16]{out, w}, nil
	default:
		return nil, nil, fmt.Errorf("%T is not a single-channel id image (want paletted, 8- or 16-bit gray)", img)
	}
}

// Add accumulates one image pair. pred holds predicted ids (Unassigned =
// no prediction) and gt class indices; both must be *image.Paletted (pixel
// values are the palette indices), *image.Gray or *image.Gray16 of the same
// size. It fails, leaving c unchanged, on a size mismatch or a ground-truth
// value that is neither a class (< NumClasses) nor the ignore value.
func (c *Confusion) Add(pred, gt image.Image) error {
	pb, gb := pred.Bounds(), gt.Bounds()
	if pb.Dx() != gb.Dx() || pb.Dy() != gb.Dy() {
		return fmt.Errorf("size mismatch: prediction %dx%d, ground truth %dx%d", pb.Dx(), pb.Dy(), gb.Dx(), gb.Dy())
	}
	p8, p16, err := idPlane(pred)
	if err != nil {
		return fmt.Errorf("prediction: %w", err)
	}
	g8, g16, err := idPlane(gt)
	if err != nil {
		return fmt.Errorf("ground truth: %w", err)
	}
	w, h := pb.Dx(), pb.Dy()
	switch {
	case p8 != nil && g8 != nil:
		return add(c, p8, g8, w, h)
	case p8 != nil:
		return add(c, p8, g16, w, h)
	case g8 != nil:
		return add(c, p16, g8, w, h)
	default:
		return add(c, p16, g16, w, h)
	}
}

func add[P, G uint8 | uint16](c *Confusion, pred *plane[P], gt *plane[G], w, h int) error {
	C, ignore := c.numClasses, c.ignore
	// First pass: validate and size the matrix, so a bad image changes nothing.
	maxPred := -1
	for y := 0; y < h; y++ {
		pr, gr := pred.pix[y*pred.stride:y*pred.stride+w], gt.pix[y*gt.stride:y*gt.stride+w]
		for x, p := range pr {
			g := int(gr[x])
			if g != ignore && g >= C {
				return fmt.Errorf("ground truth pixel (%d,%d) = %d: not a class (0..%d) nor the ignore value %d", x, y, g, C-1, ignore)
			}
			if int(p) != Unassigned {
				maxPred = max(maxPred, int(p))
			}
		}
	}
	if n := maxPred + 1; n > c.nPred {
		grown := make([]int64, n*C)
		copy(grown, c.counts)
		c.counts, c.nPred = grown, n
	}
	counts, un := c.counts, c.unassigned
	for y := 0; y < h; y++ {
		pr, gr := pred.pix[y*pred.stride:y*pred.stride+w], gt.pix[y*gt.stride:y*gt.stride+w]
		for x, p := range pr {
			g := int(gr[x])
			if g == ignore {
				continue
			}
			if int(p) == Unassigned {
				un[g]++
			} else {
				counts[int(p)*C+g]++
			}
		}
	}
	return nil
}

// AddCounts adds, for predicted id pred, gt[j] pixels of class j (len(gt)
// = NumClasses): the same counts as Add over pixels whose ground truth is
// already tallied, e.g. per superpixel. It panics if pred is negative or
// Unassigned, or len(gt) differs from NumClasses.
func (c *Confusion) AddCounts(pred int, gt []int64) {
	if pred < 0 || pred >= Unassigned || len(gt) != c.numClasses {
		panic(fmt.Sprintf("pseudolabel: AddCounts(%d, %d classes) on a %d-class confusion matrix", pred, len(gt), c.numClasses))
	}
	if pred >= c.nPred {
		grown := make([]int64, (pred+1)*c.numClasses)
		copy(grown, c.counts)
		c.counts, c.nPred = grown, pred+1
	}
	for j, v := range gt {
		c.counts[pred*c.numClasses+j] += v
	}
}

// Merge adds the counts of o to c. It panics if the class counts or ignore
// values differ.
func (c *Confusion) Merge(o *Confusion) {
	if o.numClasses != c.numClasses || o.ignore != c.ignore {
		panic("pseudolabel: Merge of confusion matrices with different classes or ignore value")
	}
	if o.nPred > c.nPred {
		grown := make([]int64, o.nPred*c.numClasses)
		copy(grown, c.counts)
		c.counts, c.nPred = grown, o.nPred
	}
	for i, v := range o.counts {
		c.counts[i] += v
	}
	for i, v := range o.unassigned {
		c.unassigned[i] += v
	}
}

// Counts returns a copy of the matrix, K rows (predicted ids 0..K-1, K at
// least 1) by NumClasses columns.
func (c *Confusion) Counts() [][]int64 {
	k := max(c.nPred, 1)
	out := make([][]int64, k)
	for i := range out {
		out[i] = make([]int64, c.numClasses)
		if i < c.nPred {
			copy(out[i], c.counts[i*c.numClasses:(i+1)*c.numClasses])
		}
	}
	return out
}

// Unassigned returns, per class, the valid pixels predicted Unassigned.
func (c *Confusion) Unassigned() []int64 { return append([]int64(nil), c.unassigned...) }

// Scores are the figures of the evaluation protocol; JSON field names are
// those of peers/eval_miou.py.
type Scores struct {
	NumClustersUsed  int       `json:"n_clusters_used"`   // predicted ids holding at least one valid pixel
	NumPredIDs       int       `json:"n_pred_ids"`        // K: largest predicted id plus one
	NumClasses       int       `json:"n_classes"`         // C
	ValidPixels      int64     `json:"valid_pixels"`      // pixels not ignored, unassigned ones included
	UnassignedPixels int64     `json:"unassigned_pixels"` // valid pixels predicted Unassigned
	Hungarian        Match     `json:"hungarian"`         // one-to-one matching
	ManyToOne        *Match    `json:"many_to_one,omitempty"`
	Confusion        [][]int64 `json:"confusion"` // K × C
}

// Match holds the scores of one mapping from predicted ids to classes.
type Match struct {
	MIoU     float64 // mean IoU over the classes present in the ground truth (NaN if none)
	PixelAcc float64 // matched pixels / valid pixels
	// IoU per class, TP/(TP+FP+FN); NaN (JSON null) for a class that is
	// neither in the ground truth nor predicted.
	IoU []float64
	// ClusterToClass maps each predicted id to its class, -1 if unmatched.
	ClusterToClass []int
}

// MarshalJSON writes the eval_miou.py layout, NaN as null.
func (m Match) MarshalJSON() ([]byte, error) {
	iou := make([]*float64, len(m.IoU))
	for i := range m.IoU {
		if !math.IsNaN(m.IoU[i]) {
			iou[i] = &m.IoU[i]
		}
	}
	var miou *float64
	if !math.IsNaN(m.MIoU) {
		miou = &m.MIoU
	}
	return json.Marshal(struct {
		MIoU           *float64   `json:"miou"`
		PixelAcc       float64    `json:"pixel_acc"`
		IoU            []*float64 `json:"iou_per_class"`
		ClusterToClass []int      `json:"cluster_to_class"`
	}{miou, m.PixelAcc, iou, m.ClusterToClass})
}

// UnmarshalJSON reads what MarshalJSON writes (null as NaN).
func (m *Match) UnmarshalJSON(b []byte) error {
	var v struct {
		MIoU           *float64   `json:"miou"`
		PixelAcc       float64    `json:"pixel_acc"`
		IoU            []*float64 `json:"iou_per_class"`
		ClusterToClass []int      `json:"cluster_to_class"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	m.MIoU = math.NaN()
	if v.MIoU != nil {
		m.MIoU = *v.MIoU
	}
	m.PixelAcc, m.ClusterToClass = v.PixelAcc, v.ClusterToClass
	m.IoU = make([]float64, len(v.IoU))
	for i, x := range v.IoU {
		m.IoU[i] = math.NaN()
		if x != nil {
			m.IoU[i] = *x
		}
	}
	return nil
}

// Score matches predicted ids to classes and computes the scores.
// Hungarian: the one-to-one map maximising matched pixels (Assign);
// predicted ids left unmatched count as wrong, classes left unmatched get
// IoU 0. Many-to-one: every predicted id goes to its majority class (the
// lowest class on ties); it is computed when manyToOne is true, or, when
// manyToOne is nil, when there are more predicted ids than classes.
func (c *Confusion) Score(manyToOne *bool) Scores {
	M := c.Counts()
	K, C := len(M), c.numClasses
	s := Scores{NumPredIDs: K, NumClasses: C, Confusion: M}
	for _, row := range M {
		var sum int64
		for _, v := range row {
			sum += v
		}
		if sum > 0 {
			s.NumClustersUsed++
		}
		s.ValidPixels += sum
	}
	for _, u := range c.unassigned {
		s.UnassignedPixels += u
	}
	s.ValidPixels += s.UnassignedPixels

	w := mat.NewDense(K, C, nil)
	for k, row := range M {
		for j, v := range row {
			w.Set(k, j, float64(v))
		}
	}
	toClass, ok := Assign(w, true)
	if !ok {
		// Finite non-negative counts always have a full matching.
		panic("pseudolabel: assignment failed on a confusion matrix")
	}
	s.Hungarian = c.match(M, toClass)
	if (manyToOne != nil && *manyToOne) || (manyToOne == nil && K > C) {
		major := make([]int, K)
		for k, row := range M {
			for j, v := range row {
				if v > row[major[k]] {
					major[k] = j
				}
			}
		}
		m := c.match(M, major)
		s.ManyToOne = &m
	}
	return s
}

func (c *Confusion) match(M [][]int64, toClass []int) Match {
	C := c.numClasses
	tp := make([]int64, C)
	predTot := make([]int64, C)
	gtTot := append([]int64(nil), c.unassigned...)
	var valid int64
	for k, row := range M {
		for j, v := range row {
			gtTot[j] += v
			valid += v
		}
		if cl := toClass[k]; cl >= 0 {
			tp[cl] += row[cl]
			for _, v := range row {
				predTot[cl] += v
			}
		}
	}
	for _, u := range c.unassigned {
		valid += u
	}
	m := Match{IoU: make([]float64, C), ClusterToClass: append([]int(nil), toClass...)}
	var sumIoU float64
	var present int
	var matched int64
	for j := 0; j < C; j++ {
		matched += tp[j]
		denom := gtTot[j] + predTot[j] - tp[j]
		if denom > 0 {
			m.IoU[j] = float64(tp[j]) / float64(denom)
		} else {
			m.IoU[j] = math.NaN()
		}
		if gtTot[j] > 0 {
			sumIoU += m.IoU[j]
			present++
		}
	}
	m.MIoU = math.NaN()
	if present > 0 {
		m.MIoU = sumIoU / float64(present)
	}
	m.PixelAcc = float64(matched) / float64(max(valid, 1))
	return m
}
