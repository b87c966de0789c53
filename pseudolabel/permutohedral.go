package pseudolabel

import (
	"fmt"
	"math"
)

// lattice is the permutohedral lattice of Adams, Baek and Davis
// ("Fast high-dimensional filtering using the permutohedral lattice",
// Eurographics 2010), as Krähenbühl and Koltun use it for the dense CRF:
// each point's d-dimensional feature (already divided by the kernel's
// standard deviations) is embedded in the hyperplane of Z^(d+1) whose
// coordinates sum to 0, splatted onto the d+1 vertices of its enclosing
// simplex with barycentric weights, blurred along each of the d+1 lattice
// directions by [1 2 1]/4 (here [0.5 1 0.5]), and sliced back with the
// same weights. The result approximates the Gaussian filter
// sum_j exp(-|f_i-f_j|^2/2) v_j in O(N d^2) instead of O(N^2). The
// arithmetic follows the reference implementation of densecrf
// (permutohedral.cpp), so that our CRF is theirs.
type lattice struct {
	d, n, m   int
	offset    []int32   // [n*(d+1)] vertex of each point's simplex corner, +1 (0 = none)
	bary      []float32 // [n*(d+1)] barycentric weights
	neighbors []int32   // [(d+1)*m*2] blur neighbours of each vertex along each direction, +1 (0 = none)
}

// newLattice builds the lattice of n points with d features each (f is
// n x d, row-major). It panics if len(f) != n*d or d is not in [1, 16].
func newLattice(f []float32, n, d int) *lattice {
	if d < 1 || d > 16 || len(f) != n*d {
		panic(fmt.Sprintf("pseudolabel: lattice of %d points, %d features, %d values", n, d, len(f)))
	}
	l := &lattice{d: d, n: n, offset: make([]int32, n*(d+1)), bary: make([]float32, n*(d+1))}
	scale := make([]float64, d)
	invStd := math.Sqrt(2.0/3.0) * float64(d+1)
	for i := range d {
		scale[i] = invStd / math.Sqrt(float64((i+1)*(i+2)))
	}
	canonical := make([]int, (d+1)*(d+1))
	for i := 0; i <= d; i++ {
		for j := 0; j <= d-i; j++ {
			canonical[i*(d+1)+j] = i
		}
		for j := d - i + 1; j <= d; j++ {
			canonical[i*(d+1)+j] = i - (d + 1)
		}
	}
	h := newKeyTable(d)
	elevated := make([]float64, d+1)
	rem0 := make([]int, d+1)
	rank := make([]int, d+1)
	bary := make([]float64, d+2)
	key := make([]int16, d)
	down := 1 / float64(d+1)
	for k := range n {
		p := f[k*d : (k+1)*d]
		var sm float64
		for j := d; j > 0; j-- {
			cf := float64(p[j-1]) * scale[j-1]
			elevated[j] = sm - float64(j)*cf
			sm += cf
		}
		elevated[0] = sm
		// The closest remainder-0 lattice point, by rounding.
		sum := 0
		for i := 0; i <= d; i++ {
			rd := int(math.Round(down * elevated[i]))
			rem0[i] = rd * (d + 1)
			sum += rd
		}
		// rank[i]: the position of coordinate i in the sorted order of the
		// differences, which names the simplex the point lies in.
		for i := range rank {
			rank[i] = 0
		}
		for i := range d {
			di := elevated[i] - float64(rem0[i])
			for j := i + 1; j <= d; j++ {
				if di < elevated[j]-float64(rem0[j]) {
					rank[i]++
				} else {
					rank[j]++
				}
			}
		}
		// Bring the rounded point back onto the hyperplane.
		for i := 0; i <= d; i++ {
			rank[i] += sum
			if rank[i] < 0 {
				rank[i] += d + 1
				rem0[i] += d + 1
			} else if rank[i] > d {
				rank[i] -= d + 1
				rem0[i] -= d + 1
			}
		}
		for i := range bary {
			bary[i] = 0
		}
		for i := 0; i <= d; i++ {
			v := (elevated[i] - float64(rem0[i])) * down
			bary[d-rank[i]] += v
			bary[d-rank[i]+1] -= v
		}
		bary[0] += 1 + bary[d+1]
		for r := 0; r <= d; r++ {
			for i := range d {
				key[i] = int16(rem0[i] + canonical[r*(d+1)+rank[i]])
			}
			l.offset[k*(d+1)+r] = h.find(key, true) + 1
			l.bary[k*(d+1)+r] = float32(bary[r])
		}
	}
	l.m = h.len()
	l.neighbors = make([]int32, (d+1)*l.m*2)
	n1 := make([]int16, d+1)
	n2 := make([]int16, d+1)
	for j := 0; j <= d; j++ {
		for i := range l.m {
			kv := h.key(i)
			for c := range d {
				n1[c] = kv[c] - 1
				n2[c] = kv[c] + 1
			}
			// Direction d moves every stored coordinate by -1 (+1); the
			// last coordinate, implied by the zero sum, is not stored.
			if j < d {
				n1[j] = kv[j] + int16(d)
				n2[j] = kv[j] - int16(d)
			}
			l.neighbors[2*(j*l.m+i)] = h.find(n1[:d], false) + 1
			l.neighbors[2*(j*l.m+i)+1] = h.find(n2[:d], false) + 1
		}
	}
	return l
}

// filter writes into out (n x vd, row-major) the lattice's Gaussian filter
// of in (n x vd). out may be in.
func (l *lattice) filter(in, out []float32, vd int) {
	d := l.d
	values := make([]float32, (l.m+2)*vd)
	next := make([]float32, (l.m+2)*vd)
	for i := range l.n {
		src := in[i*vd : (i+1)*vd]
		for j := 0; j <= d; j++ {
			o := int(l.offset[i*(d+1)+j])
			w := l.bary[i*(d+1)+j]
			dst := values[o*vd : (o+1)*vd]
			for c, v := range src {
				dst[c] += w * v
			}
		}
	}
	for j := 0; j <= d; j++ {
		for i := range l.m {
			old := values[(i+1)*vd : (i+2)*vd]
			nv := next[(i+1)*vd : (i+2)*vd]
			a := int(l.neighbors[2*(j*l.m+i)])
			b := int(l.neighbors[2*(j*l.m+i)+1])
			va := values[a*vd : (a+1)*vd]
			vb := values[b*vd : (b+1)*vd]
			for c := range nv {
				nv[c] = old[c] + 0.5*(va[c]+vb[c])
			}
		}
		values, next = next, values
	}
	// The blur's weights do not sum to one; this constant of the
	// reference implementation brings the filter's scale back.
	alpha := float32(1 / (1 + math.Pow(2, -float64(d))))
	for i := range l.n {
		dst := out[i*vd : (i+1)*vd]
		for c := range dst {
			dst[c] = 0
		}
		for j := 0; j <= d; j++ {
			o := int(l.offset[i*(d+1)+j])
			w := l.bary[i*(d+1)+j] * alpha
			src := values[o*vd : (o+1)*vd]
			for c, v := range src {
				dst[c] += w * v
			}
		}
	}
}

// keyTable is an open-addressing hash table from lattice keys (d int16
// coordinates) to dense indices 0, 1, ...
type keyTable struct {
	d     int
	keys  []int16 // [len*d]
	slots []int32 // index+1, 0 = empty
	mask  uint64
}

// newKeyTable returns an empty table; it grows as keys are added (the
// number of lattice vertices is usually far below the n*(d+1) bound).
func newKeyTable(d int) *keyTable {
	const size = 1 << 10
	return &keyTable{d: d, slots: make([]int32, size), mask: size - 1}
}

func (t *keyTable) hash(k []int16) uint64 {
	var hv uint64
	for _, v := range k {
		hv = (hv + uint64(uint16(v))) * 2531011
	}
	return hv ^ hv>>29
}

// grow doubles the slots and re-inserts every key.
func (t *keyTable) grow() {
	size := 2 * len(t.slots)
	t.slots = make([]int32, size)
	t.mask = uint64(size - 1)
	for idx := range t.len() {
		i := t.hash(t.key(idx)) & t.mask
		for t.slots[i] != 0 {
			i = (i + 1) & t.mask
		}
		t.slots[i] = int32(idx + 1)
	}
}

func (t *keyTable) len() int { return len(t.keys) / t.d }

func (t *keyTable) key(i int) []int16 { return t.keys[i*t.d : (i+1)*t.d] }

// find returns the index of k, adding it if create, or -1 if absent.
func (t *keyTable) find(k []int16, create bool) int32 {
	i := t.hash(k) & t.mask
	for {
		s := t.slots[i]
		if s == 0 {
			if !create {
				return -1
			}
			t.keys = append(t.keys, k...)
			idx := int32(t.len() - 1)
			t.slots[i] = idx + 1
			if 2*t.len() > len(t.slots) {
				t.grow()
			}
			return idx
		}
		if eq16(t.key(int(s-1)), k) {
			return s - 1
		}
		i = (i + 1) & t.mask
	}
}

func eq16(a, b []int16) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
