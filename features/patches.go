package features

import (
	"container/heap"
	"fmt"
	"hash/fnv"
	"image"
	"math/rand/v2"
	"slices"
	"sync"

	"gonum.org/v1/gonum/mat"

	"github.com/segdiscover/segdiscover/superpixel"
)

// DefaultPatchSize is the side of the square patches ExtractPatches
// returns when its size argument is <= 0.
const DefaultPatchSize = 16

// PatchDims returns the length of a patch vector of side size (3 values,
// R, G, B, per pixel); size <= 0 means DefaultPatchSize.
func PatchDims(size int) int {
	if size <= 0 {
		size = DefaultPatchSize
	}
	return 3 * size * size
}

// ExtractPatches returns one patch per superpixel of l over img, as the
// rows of an l.N x PatchDims(size) matrix in superpixel-id order. A patch
// is the superpixel's bounding box, with the pixels that belong to other
// superpixels replaced by the mean colour of the image, resampled to
// size x size (size <= 0 means DefaultPatchSize) by averaging the source
// pixels each output cell overlaps (the nearest pixel when the box is
// smaller than the patch). Values are R, G, B in [0, 1], stored
// pixel-interleaved in row-major order: element 3*(v*size+u)+c is channel c
// of patch pixel (u, v). A superpixel with no pixels gets the mean colour.
// It panics if img and l differ in size or a label is outside [0, l.N).
func ExtractPatches(img *image.NRGBA, l *superpixel.Labels, size int) *mat.Dense {
	if size <= 0 {
		size = DefaultPatchSize
	}
	w, h, n := l.Width, l.Height, l.N
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		panic(fmt.Sprintf("features: image is %dx%d, label map %dx%d", b.Dx(), b.Dy(), w, h))
	}
	boxes := make([]image.Rectangle, n)
	for i := range boxes {
		boxes[i] = image.Rectangle{Min: image.Pt(w, h)} // empty: grows on first pixel
	}
	var mean [3]float64
	for y := range h {
		row := img.Pix[y*img.Stride:]
		for x, id := range l.Pix[y*w : (y+1)*w] {
			if id < 0 || int(id) >= n {
				panic(fmt.Sprintf("features: label %d at (%d,%d) outside [0,%d)", id, x, y, n))
			}
			b := &boxes[id]
			b.Min.X, b.Min.Y = min(b.Min.X, x), min(b.Min.Y, y)
			b.Max.X, b.Max.Y = max(b.Max.X, x+1), max(b.Max.Y, y+1)
			mean[0] += float64(row[4*x])
			mean[1] += float64(row[4*x+1])
			mean[2] += float64(row[4*x+2])
		}
	}
	for c := range mean {
		mean[c] /= 255 * float64(w*h)
	}
	out := mat.NewDense(n, 3*size*size, nil)
	// Integer pixel ranges covered by each output cell, per axis.
	x0s, x1s := make([]int, size), make([]int, size)
	y0s, y1s := make([]int, size), make([]int, size)
	for id := range n {
		p := out.RawRowView(id)
		b := boxes[id]
		if b.Empty() {
			for i := range size * size {
				copy(p[3*i:3*i+3], mean[:])
			}
			continue
		}
		cellRanges(b.Min.X, b.Dx(), size, x0s, x1s)
		cellRanges(b.Min.Y, b.Dy(), size, y0s, y1s)
		for v := range size {
			for u := range size {
				var s [3]float64
				cnt := 0
				for y := y0s[v]; y < y1s[v]; y++ {
					row := img.Pix[y*img.Stride:]
					lrow := l.Pix[y*w:]
					for x := x0s[u]; x < x1s[u]; x++ {
						if lrow[x] == int32(id) {
							s[0] += float64(row[4*x])
							s[1] += float64(row[4*x+1])
							s[2] += float64(row[4*x+2])
						} else {
							s[0] += mean[0] * 255
							s[1] += mean[1] * 255
							s[2] += mean[2] * 255
						}
						cnt++
					}
				}
				k := 3 * (v*size + u)
				for c := range 3 {
					p[k+c] = s[c] / (255 * float64(cnt))
				}
			}
		}
	}
	return out
}

// cellRanges splits [lo, lo+extent) into size cells and sets [r0[i], r1[i])
// to the pixels cell i overlaps, at least one pixel.
func cellRanges(lo, extent, size int, r0, r1 []int) {
	for i := range size {
		a := lo + i*extent/size
		b := lo + ((i+1)*extent+size-1)/size
		if b <= a {
			b = a + 1
		}
		r0[i], r1[i] = a, b
	}
}

// Reservoir keeps a uniform random sample of at most K rows out of a
// stream of keyed rows, so that encoders train on a bounded sample of a
// whole dataset. The sample depends only on the set of keys added and the
// seed, not on the order of Add calls, so that concurrent workers feeding
// it give the same sample as a sequential run. It is safe for concurrent
// use.
//
// Each key is given a pseudo-random priority (a hash of key and seed) and
// the K rows of lowest priority are kept (bottom-k sampling), which is a
// uniform sample without replacement when keys are distinct.
type Reservoir struct {
	k    int
	seed uint64
	mu   sync.Mutex
	h    resHeap
	seen int
}

// NewReservoir returns an empty reservoir holding at most k rows, seeded
// from src. It panics if k < 1.
func NewReservoir(k int, src rand.Source) *Reservoir {
	if k < 1 {
		panic("features: reservoir size < 1")
	}
	return &Reservoir{k: k, seed: src.Uint64()}
}

// PatchKey returns a key identifying superpixel id of the image at rel
// (its path under the input folder), for Reservoir.Add.
func PatchKey(rel string, id int) uint64 {
	h := fnv.New64a()
	h.Write([]byte(rel))
	return splitmix64(h.Sum64() ^ splitmix64(uint64(id)))
}

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// Add offers row, identified by key, to the reservoir. The reservoir keeps
// a copy of row if it is sampled.
func (r *Reservoir) Add(key uint64, row []float64) {
	pri := splitmix64(key ^ r.seed)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen++
	if len(r.h) == r.k {
		top := r.h[0]
		if pri > top.pri || pri == top.pri && key >= top.key {
			return
		}
		heap.Pop(&r.h)
	}
	heap.Push(&r.h, resItem{pri: pri, key: key, row: slices.Clone(row)})
}

// AddRows offers every row of x, row i with key keyOf(i).
func (r *Reservoir) AddRows(x *mat.Dense, keyOf func(i int) uint64) {
	n, _ := x.Dims()
	for i := range n {
		r.Add(keyOf(i), x.RawRowView(i))
	}
}

// Seen returns the number of rows offered so far.
func (r *Reservoir) Seen() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen
}

// Sample returns the sampled rows, ordered by priority (a deterministic,
// random order), or nil if nothing was added. It panics if the rows
// differ in length.
func (r *Reservoir) Sample() *mat.Dense {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.h) == 0 {
		return nil
	}
	items := slices.Clone(r.h)
	slices.SortFunc(items, func(a, b resItem) int {
		if a.pri != b.pri {
			if a.pri < b.pri {
				return -1
			}
			return 1
		}
		if a.key < b.key {
			return -1
		}
		if a.key > b.key {
			return 1
		}
		return 0
	})
	d := len(items[0].row)
	out := mat.NewDense(len(items), d, nil)
	for i, it := range items {
		if len(it.row) != d {
			panic("features: reservoir rows differ in length")
		}
		copy(out.RawRowView(i), it.row)
	}
	return out
}

type resItem struct {
	pri, key uint64
	row      []float64
}

// resHeap is a max-heap on (pri, key): the root is the row to evict first.
type resHeap []resItem

func (h resHeap) Len() int { return len(h) }
func (h resHeap) Less(i, j int) bool {
	if h[i].pri != h[j].pri {
		return h[i].pri > h[j].pri
	}
	return h[i].key > h[j].key
}
func (h resHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *resHeap) Push(x any)   { *h = append(*h, x.(resItem)) }
func (h *resHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}
