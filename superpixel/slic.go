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
	sum   [][6]float64 // L, a, b, x, y, count
	maxDc []float32

	// dist holds the best distance of each pixel as the complemented bits
	// of a non-negative float32. The bits of non-negative floats sort like
	// the floats, so the comparison compiles to a conditional move instead
	// of a branch the CPU often mispredicts; complementing them makes
	// "no candidate yet" zero, so resetting is a memclr.
	dist  []uint32
	dxw   []float32 // per-window column term (x-cx)² ws
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
		sum:   make([][6]float64, k),
		maxDc: make([]float32, k),
		dist:  make([]uint32, w*h),
		dxw:   make([]float32, w),
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
	for y := range h {
		j := min(ny-1, int(float64(y)/sy))
		for x := range w {
			i := min(nx-1, int(float64(x)/sx))
			s.label[y*w+x] = int32(j*nx + i)
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
	w, r := s.w, s.radius
	L, A, B := s.lab.L, s.lab.A, s.lab.B
	ws := s.ws
	for k := range s.cl {
		cl, ca, cb, cx, cy, wc := s.cl[k], s.ca[k], s.cb[k], s.cx[k], s.cy[k], s.wc[k]
		x0, x1 := max(0, int(cx-r)), min(w, int(cx+r)+1)
		y0, y1 := max(0, int(cy-r)), min(s.h, int(cy+r)+1)
		if x0 >= x1 {
			continue
		}
		id := int32(k)
		n := x1 - x0
		dxw := s.dxw[:n]
		for j := range dxw {
			dx := float32(x0+j) - cx
			dxw[j] = dx * dx * ws
		}
		for y := y0; y < y1; y++ {
			dy := float32(y) - cy
			dy2 := dy * dy * ws
			o := y*w + x0
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
		}
	}
	s.update()
}

// update moves each centre to the mean of its pixels and, for SLICO,
// sets each cluster's colour weight to 1/(largest colour distance)².
func (s *solver) update() {
	clear(s.sum)
	w := s.w
	L, A, B := s.lab.L, s.lab.A, s.lab.B
	for y := range s.h {
		o := y * w
		lr := s.label[o : o+w]
		Lr, Ar, Br := L[o:o+w], A[o:o+w], B[o:o+w]
		// Superpixels are tens of pixels wide: summing runs of equal labels
		// in registers saves most of the scattered writes to s.sum.
		for x := 0; x < len(lr); {
			k := lr[x]
			x0 := x
			var sl, sa, sb float64
			for ; x < len(lr) && lr[x] == k; x++ {
				sl += float64(Lr[x])
				sa += float64(Ar[x])
				sb += float64(Br[x])
			}
			n := float64(x - x0)
			c := &s.sum[k]
			c[0] += sl
			c[1] += sa
			c[2] += sb
			c[3] += n * float64(x0+x-1) / 2
			c[4] += n * float64(y)
			c[5] += n
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
		if c[5] == 0 {
			continue // an empty cluster keeps its centre and may win pixels back
		}
		inv := 1 / c[5]
		s.cl[k], s.ca[k], s.cb[k] = float32(c[0]*inv), float32(c[1]*inv), float32(c[2]*inv)
		s.cx[k], s.cy[k] = float32(c[3]*inv), float32(c[4]*inv)
		if s.slico && s.maxDc[k] > 0 {
			s.wc[k] = 1 / s.maxDc[k]
		}
	}
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
func (s *solver) connected() *Labels {
	const bigPenalty = 1e9 // larger than any squared CIELAB distance
	w, h := s.w, s.h
	n := w * h
	comp := make([]int32, n) // component of each pixel
	for i := range comp {
		comp[i] = -1
	}
	order := make([]int32, 0, n) // pixels grouped by component
	start := make([]int32, 0, 2*len(s.cl)+1)
	for p := range n {
		if comp[p] >= 0 {
			continue
		}
		c := int32(len(start))
		start = append(start, int32(len(order)))
		old := s.label[p]
		comp[p] = c
		order = append(order, int32(p))
		for q := len(order) - 1; q < len(order); q++ {
			i := int(order[q])
			x := i % w
			if x > 0 && comp[i-1] < 0 && s.label[i-1] == old {
				comp[i-1] = c
				order = append(order, int32(i-1))
			}
			if x < w-1 && comp[i+1] < 0 && s.label[i+1] == old {
				comp[i+1] = c
				order = append(order, int32(i+1))
			}
			if i >= w && comp[i-w] < 0 && s.label[i-w] == old {
				comp[i-w] = c
				order = append(order, int32(i-w))
			}
			if i+w < n && comp[i+w] < 0 && s.label[i+w] == old {
				comp[i+w] = c
				order = append(order, int32(i+w))
			}
		}
	}
	nc := len(start)
	start = append(start, int32(n))

	// Union-find over components, with each group's size and colour sum.
	parent := make([]int32, nc)
	size := make([]int32, nc)
	col := make([][3]float64, nc)
	var small []int32
	L, A, B := s.lab.L, s.lab.A, s.lab.B
	for c := range nc {
		parent[c] = int32(c)
		size[c] = start[c+1] - start[c]
		for _, p := range order[start[c]:start[c+1]] {
			col[c][0] += float64(L[p])
			col[c][1] += float64(A[p])
			col[c][2] += float64(B[p])
		}
		if int(size[c]) < s.minSize {
			small = append(small, int32(c))
		}
	}
	find := func(c int32) int32 {
		for parent[c] != c {
			parent[c] = parent[parent[c]]
			c = parent[c]
		}
		return c
	}
	slices.SortStableFunc(small, func(a, b int32) int { return cmp.Compare(size[a], size[b]) })
	for _, c := range small {
		r := find(c)
		if int(size[r]) >= s.minSize {
			continue
		}
		mr := col[r]
		inv := 1 / float64(size[r])
		best, bestD := int32(-1), math.Inf(1)
		for _, p := range order[start[c]:start[c+1]] {
			i := int(p)
			x := i % w
			for _, nb := range [4]struct {
				ok bool
				j  int
			}{{x > 0, i - 1}, {x < w-1, i + 1}, {i >= w, i - w}, {i+w < n, i + w}} {
				if !nb.ok {
					continue
				}
				t := find(comp[nb.j])
				if t == r || t == best {
					continue
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

	ids := make([]int32, nc)
	for i := range ids {
		ids[i] = -1
	}
	out := make([]int32, n)
	next := int32(0)
	for p, c := range comp {
		r := find(c)
		if ids[r] < 0 {
			ids[r] = next
			next++
		}
		out[p] = ids[r]
	}
	return &Labels{Width: w, Height: h, N: int(next), Pix: out}
}
