package superpixel

import (
	"cmp"
	"fmt"
	"image"
	"math"
	"slices"
)

// Defaults of Params, used where a field is zero.
const (
	DefaultSegments    = 300
	DefaultCompactness = 5
	DefaultIterations  = 10
	DefaultSigma       = 1
)

// Params controls SLIC. The zero value means the defaults.
type Params struct {
	// Segments is the requested number of superpixels K; 0 means
	// DefaultSegments. The seeds form a grid of about K cells; merging small
	// fragments and splitting disconnected clusters change the count (BSDS500
	// means: 207 for K = 200, 1035 for K = 1000; images with large flat or
	// finely textured areas give fewer, e.g. 160-200 for K = 200 on the
	// synthetic scenes of testdata).
	Segments int

	// Compactness is m, the weight of spatial against colour distance:
	// D² = dc² + (ds/S)² m², with dc in CIELAB units and S the grid step in
	// pixels. Larger values give more regular, square superpixels; smaller
	// ones follow colour edges more closely. 0 means DefaultCompactness (5:
	// CIELAB here is not scaled to 8 bits, so this is close to OpenCV's
	// ruler 10 and weighs colour more than scikit-image's default 10).
	// With SLICO it only weighs the first iteration.
	Compactness float64

	// Iterations of the assignment/update loop; 0 means DefaultIterations.
	Iterations int

	// SLICO makes the compactness adaptive: each cluster's colour distance
	// is normalised by the largest colour distance it had in the previous
	// iteration, so textured and smooth regions get superpixels of similar
	// regularity without tuning m.
	SLICO bool

	// Sigma is the standard deviation, in pixels, of the Gaussian that
	// smooths the CIELAB image before clustering; 0 means DefaultSigma, a
	// negative value disables smoothing. Smoothing removes JPEG and sensor
	// noise that would otherwise make boundaries ragged.
	Sigma float64

	// MinSize is the size in pixels below which a connected fragment is
	// merged into the adjacent superpixel of closest mean colour; 0 means
	// S²/4 (as in the original implementation); a negative value merges
	// nothing (every connected fragment becomes a superpixel).
	MinSize int
}

func (p Params) withDefaults() Params {
	if p.Segments < 0 || p.Iterations < 0 || p.Compactness < 0 || math.IsNaN(p.Compactness) || math.IsNaN(p.Sigma) {
		panic(fmt.Sprintf("superpixel: invalid Params %+v", p))
	}
	if p.Segments == 0 {
		p.Segments = DefaultSegments
	}
	if p.Compactness == 0 {
		p.Compactness = DefaultCompactness
	}
	if p.Iterations == 0 {
		p.Iterations = DefaultIterations
	}
	if p.Sigma == 0 {
		p.Sigma = DefaultSigma
	}
	return p
}

// SLIC partitions img into about p.Segments superpixels with simple linear
// iterative clustering (Achanta et al., TPAMI 2012): k-means in (L*, a*, b*,
// x, y) restricted to a 2S×2S window around each centre, followed by
// connectivity enforcement. Every returned segment is 4-connected, ids are
// contiguous from 0, and the result depends only on img and p.
//
// img must be fully opaque (alpha is ignored). SLIC panics if img is empty
// or p has a negative Segments, Iterations or Compactness.
func SLIC(img *image.NRGBA, p Params) *Labels {
	if img.Rect.Empty() {
		panic("superpixel: SLIC of an empty image")
	}
	p = p.withDefaults()
	lab := ToLab(img)
	if p.Sigma > 0 {
		gaussianBlur(&lab, p.Sigma)
	}
	s := newSolver(&lab, p)
	for range p.Iterations {
		s.iterate()
	}
	return s.connected()
}

// solver holds the state of one SLIC run; every buffer is allocated by
// newSolver so that iterate allocates nothing.
type solver struct {
	lab     *LabImage
	w, h    int
	radius  float32 // half the search window: S
	ws      float32 // weight of squared spatial distance: m²/S² (SLIC) or 1/S² (SLICO)
	slico   bool
	minSize int

	// cluster centres and, for SLICO, the per-cluster colour weight 1/mc²
	cl, ca, cb, cx, cy []float32
	wc                 []float32
	// per-cluster sums of the update step
	sum   []clusterSum
	maxDc []float32

	// dist holds the best distance of each pixel as the complemented bits
	// of a non-negative float32. The bits of non-negative floats sort like
	// the floats, so the comparison compiles to a conditional move instead
	// of a branch the CPU often mispredicts; complementing them makes
	// "no candidate yet" zero, so resetting is a memclr.
	dist  []uint32
	dxw   []float32 // per-window column term (x-cx)² ws
	dyw   []float32 // per-window row term (y-cy)² ws
	label []int32
}

func newSolver(lab *LabImage, p Params) *solver {
	w, h := lab.Width, lab.Height
	step := math.Sqrt(float64(w*h) / float64(p.Segments))
	nx := min(w, max(1, int(math.Round(float64(w)/step))))
	ny := min(h, max(1, int(math.Round(float64(h)/step))))
	k := nx * ny
	sx, sy := float64(w)/float64(nx), float64(h)/float64(ny)
	S := math.Sqrt(sx * sy)
	s := &solver{
		lab: lab, w: w, h: h,
		radius: float32(S),
		slico:  p.SLICO,
		cl:     make([]float32, k), ca: make([]float32, k), cb: make([]float32, k),
		cx: make([]float32, k), cy: make([]float32, k), wc: make([]float32, k),
		sum:   make([]clusterSum, k),
		maxDc: make([]float32, k),
		dist:  make([]uint32, w*h),
		dxw:   make([]float32, w),
		dyw:   make([]float32, h),
		label: make([]int32, w*h),
	}
	s.minSize = p.MinSize
	if s.minSize == 0 {
		s.minSize = int(S * S / 4)
	}
	mm := float32(p.Compactness * p.Compactness)
	if p.SLICO {
		s.ws = float32(1 / (S * S))
		for i := range s.wc {
			s.wc[i] = 1 / mm
		}
	} else {
		s.ws = mm / float32(S*S)
		for i := range s.wc {
			s.wc[i] = 1
		}
	}
	for j := range ny {
		for i := range nx {
			x := min(w-1, int((float64(i)+0.5)*sx))
			y := min(h-1, int((float64(j)+0.5)*sy))
			x, y = s.lowestGradient(x, y)
			c := j*nx + i
			o := y*w + x
			s.cl[c], s.ca[c], s.cb[c] = lab.L[o], lab.A[o], lab.B[o]
			s.cx[c], s.cy[c] = float32(x), float32(y)
		}
	}
	// Every pixel starts in its grid cell, so a pixel that no window reaches
	// in some iteration still has a valid label.
	row := s.label[:w]
	for x := range row {
		row[x] = int32(min(nx-1, int(float64(x)/sx)))
	}
	for y := range h {
		off := int32(min(ny-1, int(float64(y)/sy)) * nx)
		for x, i := range row {
			s.label[y*w+x] = off + i
		}
	}
	return s
}

// lowestGradient returns the position in the 3×3 neighbourhood of (x, y)
// with the smallest squared CIELAB gradient, so that seeds avoid edges and
// noisy pixels.
func (s *solver) lowestGradient(x0, y0 int) (int, int) {
	bx, by := x0, y0
	best := float32(math.Inf(1))
	for y := max(1, y0-1); y <= min(s.h-2, y0+1); y++ {
		for x := max(1, x0-1); x <= min(s.w-2, x0+1); x++ {
			if g := s.gradient(x, y); g < best {
				best, bx, by = g, x, y
			}
		}
	}
	return bx, by
}

func (s *solver) gradient(x, y int) float32 {
	L, A, B := s.lab.L, s.lab.A, s.lab.B
	i := y*s.w + x
	d := func(a, b int) float32 {
		dl, da, db := L[a]-L[b], A[a]-A[b], B[a]-B[b]
		return dl*dl + da*da + db*db
	}
	return d(i+1, i-1) + d(i+s.w, i-s.w)
}

// iterate runs one assignment and one update step.
func (s *solver) iterate() {
	clear(s.dist)
	w, h, r := s.w, s.h, s.radius
	L, A, B := s.lab.L, s.lab.A, s.lab.B
	ws := s.ws
	for k := range s.cl {
		cx, cy := s.cx[k], s.cy[k]
		x0, x1 := max(0, int(cx-r)), min(w, int(cx+r)+1)
		y0, y1 := max(0, int(cy-r)), min(h, int(cy+r)+1)
		if x0 >= x1 || y0 >= y1 {
			continue
		}
		n, rows := x1-x0, y1-y0
		dxw, dyw := s.dxw[:n], s.dyw[:rows]
		for j := range dxw {
			dx := float32(x0+j) - cx
			dxw[j] = dx * dx * ws
		}
		for j := range dyw {
			dy := float32(y0+j) - cy
			dyw[j] = dy * dy * ws
		}
		o := y0*w + x0
		if useAVX2 {
			assignWindowAVX2(&L[o], &A[o], &B[o], &s.dist[o], &s.label[o], &dxw[0], &dyw[0],
				n, rows, w, s.cl[k], s.ca[k], s.cb[k], s.wc[k], int32(k))
		} else {
			s.assignWindowGo(o, dxw, dyw, k)
		}
	}
	s.update()
}

// assignWindowGo gives each pixel of the window of cluster k (its top-left
// pixel o, columns weighted by dxw, rows by dyw) to k where k is strictly
// closer than the pixel's best cluster so far; ties keep the earlier one.
func (s *solver) assignWindowGo(o int, dxw, dyw []float32, k int) {
	w, n := s.w, len(dxw)
	L, A, B := s.lab.L, s.lab.A, s.lab.B
	cl, ca, cb, wc := s.cl[k], s.ca[k], s.cb[k], s.wc[k]
	id := int32(k)
	for _, dy2 := range dyw {
		Lr, Ar, Br := L[o:o+n], A[o:o+n], B[o:o+n]
		dr, lr := s.dist[o:o+n], s.label[o:o+n]
		for j, dx2 := range dxw {
			dl, da, db := Lr[j]-cl, Ar[j]-ca, Br[j]-cb
			d := ^math.Float32bits((dl*dl+da*da+db*db)*wc + (dx2 + dy2))
			best, lab := dr[j], lr[j]
			if d > best {
				best, lab = d, id
			}
			dr[j], lr[j] = best, lab
		}
		o += w
	}
}

// update moves each centre to the mean of its pixels and, for SLICO,
// sets each cluster's colour weight to 1/(largest colour distance)².
func (s *solver) update() {
	clear(s.sum)
	w := s.w
	L, A, B := s.lab.L, s.lab.A, s.lab.B
	for y := range s.h {
		o := y * w
		if useAVX2 {
			updateRowAVX2(&s.label[o], &L[o], &A[o], &B[o], w, &s.sum[0], int64(y))
		} else {
			updateRowGo(s.label[o:o+w], L[o:o+w], A[o:o+w], B[o:o+w], s.sum, int64(y))
		}
	}
	if s.slico {
		clear(s.maxDc)
		for i, k := range s.label {
			dl, da, db := L[i]-s.cl[k], A[i]-s.ca[k], B[i]-s.cb[k]
			s.maxDc[k] = max(s.maxDc[k], dl*dl+da*da+db*db)
		}
	}
	for k := range s.sum {
		c := &s.sum[k]
		if c.n == 0 {
			continue // an empty cluster keeps its centre and may win pixels back
		}
		inv := 1 / float64(c.n)
		s.cl[k], s.ca[k], s.cb[k] = float32(c.lab[0]*inv), float32(c.lab[1]*inv), float32(c.lab[2]*inv)
		s.cx[k], s.cy[k] = float32(float64(c.x)*inv), float32(float64(c.y)*inv)
		if s.slico && s.maxDc[k] > 0 {
			s.wc[k] = 1 / s.maxDc[k]
		}
	}
}

// clusterSum accumulates one cluster's pixels in the update step. Its
// layout is fixed: updateRowAVX2 adds to lab with one vector instruction
// and to x, y and n at offsets 32, 40 and 48.
type clusterSum struct {
	lab     [4]float64 // L*, a*, b* sums; lab[3] stays zero
	x, y, n int64      // coordinate sums and pixel count, exact
	_       int64
}

// updateRowGo adds the pixels of row y (labels lr, colours Lr, Ar, Br) to
// the per-cluster sums. Superpixels are tens of pixels wide: summing runs
// of equal labels in registers saves most of the scattered writes to sum.
// A run's colours are summed in float32 in the order of the vector kernel
// (pixel i of the run into lane i mod 8, then the lanes pairwise), which
// keeps the per-run cost of the kernel small, and each run's sum is added
// to the cluster's in float64.
func updateRowGo(lr []int32, Lr, Ar, Br []float32, sum []clusterSum, y int64) {
	for x := 0; x < len(lr); {
		k := lr[x]
		x0 := x
		for x++; x < len(lr) && lr[x] == k; x++ {
		}
		c := &sum[k]
		c.lab[0] += float64(sum8(Lr[x0:x]))
		c.lab[1] += float64(sum8(Ar[x0:x]))
		c.lab[2] += float64(sum8(Br[x0:x]))
		n := int64(x - x0)
		c.x += n * int64(x0+x-1) / 2
		c.y += n * y
		c.n += n
	}
}

func sum8(v []float32) float32 {
	var a [8]float32
	for ; len(v) >= 8; v = v[8:] {
		for j, x := range v[:8] {
			a[j] += x
		}
	}
	for j, x := range v {
		a[j] += x
	}
	return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))
}

// connected splits the cluster map into 4-connected components, merges
// each component smaller than minSize into the adjacent segment of closest
// mean colour, and numbers the segments 0..N-1 in raster order of their
// first pixel.
//
// Achanta et al.'s implementation merges a small fragment into whichever
// segment touches its first pixel from the left or above. With a low
// compactness, SLIC often leaves one-pixel-wide clusters of blended colours
// along strong edges; merging those by position moves the whole edge by a
// pixel, merging by colour keeps it. Fragments are merged smallest first, so
// a group of fragments can still reach minSize together; every merge joins
// two touching sets, so every segment stays connected. The result depends
// only on the cluster map.
//
// Components are found on runs of equal labels along rows rather than
// pixel by pixel: a run is joined to the runs of the row above that overlap
// it and carry the same label. Union by smaller index keeps each
// component's first run (in raster order) as its root, which numbers the
// components in raster order of their first pixel as a flood fill would,
// with about a twentieth of the work.
func (s *solver) connected() *Labels {
	const bigPenalty = 1e9 // larger than any squared CIELAB distance
	w, h := s.w, s.h
	n := w * h
	label := s.label
	L, A, B := s.lab.L, s.lab.A, s.lab.B

	// Runs tile the image in raster order: run r covers pixels
	// runAt[r]..runAt[r+1]-1, and row y holds runs rowRun[y]..rowRun[y+1]-1.
	runAt := make([]int32, 0, n/16+h+1)
	rowRun := make([]int32, h+1)
	for y := range h {
		rowRun[y] = int32(len(runAt))
		row := label[y*w : (y+1)*w]
		for x := 0; x < len(row); {
			runAt = append(runAt, int32(y*w+x))
			k := row[x]
			for x++; x < len(row) && row[x] == k; x++ {
			}
		}
	}
	nr := len(runAt)
	rowRun[h] = int32(nr)
	runAt = append(runAt, int32(n))

	parent := make([]int32, nr)
	for r := range parent {
		parent[r] = int32(r)
	}
	find := func(c int32) int32 {
		for parent[c] != c {
			parent[c] = parent[parent[c]]
			c = parent[c]
		}
		return c
	}
	for y := 1; y < h; y++ {
		// Walk the runs of rows y-1 and y together; each step pairs two
		// runs that overlap in x.
		a, aEnd, b, bEnd := rowRun[y-1], rowRun[y], rowRun[y], rowRun[y+1]
		for a < aEnd && b < bEnd {
			if label[runAt[a]] == label[runAt[b]] {
				if ra, rb := find(a), find(b); ra < rb {
					parent[rb] = ra
				} else if rb < ra {
					parent[ra] = rb
				}
			}
			switch ea, eb := runAt[a+1]+int32(w), runAt[b+1]; {
			case ea < eb:
				a++
			case eb < ea:
				b++
			default:
				a, b = a+1, b+1
			}
		}
	}

	// Components, their sizes and colour sums; out holds each pixel's
	// component until the final numbering.
	runComp := make([]int32, nr)
	out := make([]int32, n)
	var size []int32
	var col [][3]float64
	for r := range int32(nr) {
		c := int32(len(size))
		if p := find(r); p < r {
			c = runComp[p]
		} else {
			size = append(size, 0)
			col = append(col, [3]float64{})
		}
		runComp[r] = c
		i0, i1 := runAt[r], runAt[r+1]
		size[c] += i1 - i0
		var sl, sa, sb float64
		for i := i0; i < i1; i++ {
			out[i] = c
			sl += float64(L[i])
			sa += float64(A[i])
			sb += float64(B[i])
		}
		col[c][0] += sl
		col[c][1] += sa
		col[c][2] += sb
	}
	nc := len(size)

	// The runs of each small component, as linked lists in raster order.
	var small []int32
	for c := range int32(nc) {
		if int(size[c]) < s.minSize {
			small = append(small, c)
		}
	}
	head := make([]int32, nc)
	nextRun := make([]int32, nr)
	if len(small) > 0 {
		for c := range head {
			head[c] = -1
		}
		for r := nr - 1; r >= 0; r-- {
			if c := runComp[r]; int(size[c]) < s.minSize {
				nextRun[r], head[c] = head[c], int32(r)
			}
		}
	}

	// Union-find over components, with each group's size and colour sum.
	// parent is reused: the run forest is no longer needed.
	parent = parent[:nc]
	for c := range parent {
		parent[c] = int32(c)
	}
	slices.SortFunc(small, func(a, b int32) int { return cmp.Or(cmp.Compare(size[a], size[b]), cmp.Compare(a, b)) })
	for _, c := range small {
		r := find(c)
		if int(size[r]) >= s.minSize {
			continue
		}
		mr := col[r]
		inv := 1 / float64(size[r])
		best, bestD := int32(-1), math.Inf(1)
		consider := func(j int32) {
			if out[j] == c {
				return // most neighbours: the fragment itself
			}
			t := find(out[j])
			if t == r || t == best {
				return
			}
			it := 1 / float64(size[t])
			dl := mr[0]*inv - col[t][0]*it
			da := mr[1]*inv - col[t][1]*it
			db := mr[2]*inv - col[t][2]*it
			d := dl*dl + da*da + db*db
			if int(size[t]) < s.minSize {
				// Prefer segments that are already large enough: two
				// slivers should not join into a segment of their own.
				d += bigPenalty
			}
			// Ties go to the lower id, so the choice does not depend on
			// the scan order.
			if d < bestD || (d == bestD && t < best) {
				best, bestD = t, d
			}
		}
		for q := head[c]; q >= 0; q = nextRun[q] {
			i0, i1 := runAt[q], runAt[q+1]
			y := int(i0) / w
			if int(i0) > y*w {
				consider(i0 - 1)
			}
			if int(i1) < (y+1)*w {
				consider(i1)
			}
			for i := i0; i < i1; i++ {
				if y > 0 {
					consider(i - int32(w))
				}
				if y < h-1 {
					consider(i + int32(w))
				}
			}
		}
		if best < 0 {
			continue // the whole image is one group
		}
		parent[r] = best
		size[best] += size[r]
		for j := range 3 {
			col[best][j] += col[r][j]
		}
	}

	// Components are numbered in raster order of their first pixel, so the
	// first component of each group met in index order is its first in
	// raster order too.
	id := make([]int32, nc)
	for c := range id {
		id[c] = -1
	}
	next := int32(0)
	for c := range int32(nc) {
		r := find(c)
		if id[r] < 0 {
			id[r] = next
			next++
		}
		id[c] = id[r]
	}
	for i, c := range out {
		out[i] = id[c]
	}
	return &Labels{Width: w, Height: h, N: int(next), Pix: out}
}
