package superpixel

import (
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// checkLabels fails t unless l is a valid label map of img's size whose ids
// are contiguous from 0 and whose segments are each 4-connected.
func checkLabels(t *testing.T, l *Labels, w, h int) {
	t.Helper()
	if l.Width != w || l.Height != h || len(l.Pix) != w*h {
		t.Fatalf("label map %dx%d with %d pixels, want %dx%d", l.Width, l.Height, len(l.Pix), w, h)
	}
	if l.N < 1 {
		t.Fatalf("N = %d", l.N)
	}
	size := make([]int, l.N)
	for i, v := range l.Pix {
		if v < 0 || int(v) >= l.N {
			t.Fatalf("pixel %d has id %d outside [0,%d)", i, v, l.N)
		}
		size[v]++
	}
	for id, n := range size {
		if n == 0 {
			t.Fatalf("ids not contiguous: %d of %d unused", id, l.N)
		}
	}
	// Flood-fill from the first pixel of each id; a segment is 4-connected
	// iff the fill reaches all of its pixels.
	seen := make([]bool, w*h)
	done := make([]bool, l.N)
	var stack []int
	for start, v := range l.Pix {
		if done[v] {
			if !seen[start] {
				t.Fatalf("segment %d is not 4-connected: pixel (%d,%d) is cut off", v, start%w, start/w)
			}
			continue
		}
		done[v] = true
		seen[start] = true
		stack = append(stack[:0], start)
		reached := 0
		for len(stack) > 0 {
			i := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			reached++
			x, y := i%w, i/w
			for _, nb := range [4]struct {
				ok bool
				j  int
			}{{x > 0, i - 1}, {x < w-1, i + 1}, {y > 0, i - w}, {y < h-1, i + w}} {
				if j := nb.j; nb.ok && !seen[j] && l.Pix[j] == v {
					seen[j] = true
					stack = append(stack, j)
				}
			}
		}
		if reached != size[v] {
			t.Fatalf("segment %d is not 4-connected: %d of %d pixels reachable", v, reached, size[v])
		}
	}
}

func loadPhotos(t testing.TB) map[string]*image.NRGBA {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "testdata", "images", "photos", "*.jpg"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no photos in testdata/images/photos: %v", err)
	}
	out := map[string]*image.NRGBA{}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		img, err := jpeg.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out[filepath.Base(p)] = toNRGBA(img)
	}
	return out
}

// TestSLICPhotos checks the properties every label map must have, and the
// segment count, on natural images.
func TestSLICPhotos(t *testing.T) {
	photos := loadPhotos(t)
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range photos {
			if !yield(k) {
				return
			}
		}
	})
	for _, name := range names {
		img := photos[name]
		for _, p := range []Params{
			{},
			{Segments: 100},
			{Segments: 1000},
			{Segments: 200, SLICO: true},
			{Segments: 400, Compactness: 1, Sigma: -1},
			{Segments: 50, Compactness: 40, Iterations: 3},
		} {
			t.Run(fmt.Sprintf("%s/%+v", name, p), func(t *testing.T) {
				l := SLIC(img, p)
				checkLabels(t, l, img.Rect.Dx(), img.Rect.Dy())
				want := p.withDefaults().Segments
				if d := float64(l.N-want) / float64(want); d < -0.3 || d > 0.3 {
					t.Errorf("%d segments for a request of %d (%+.0f%%)", l.N, want, 100*d)
				}
			})
		}
	}
}

// rectangles draws a guillotine partition of a w×h image into flat,
// distinct colours, no side shorter than minSide, and returns the image and
// the rectangle index of every pixel.
func rectangles(rng *rand.Rand, w, h, minSide int) (*image.NRGBA, []int) {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	owner := make([]int, w*h)
	var rects []image.Rectangle
	var split func(r image.Rectangle)
	split = func(r image.Rectangle) {
		canX, canY := r.Dx() >= 2*minSide, r.Dy() >= 2*minSide
		if (!canX && !canY) || (len(rects) > 0 && rng.IntN(4) == 0 && r.Dx() < 3*minSide && r.Dy() < 3*minSide) {
			rects = append(rects, r)
			return
		}
		if canX && (!canY || rng.IntN(2) == 0) {
			x := r.Min.X + minSide + rng.IntN(r.Dx()-2*minSide+1)
			split(image.Rect(r.Min.X, r.Min.Y, x, r.Max.Y))
			split(image.Rect(x, r.Min.Y, r.Max.X, r.Max.Y))
			return
		}
		y := r.Min.Y + minSide + rng.IntN(r.Dy()-2*minSide+1)
		split(image.Rect(r.Min.X, r.Min.Y, r.Max.X, y))
		split(image.Rect(r.Min.X, y, r.Max.X, r.Max.Y))
	}
	split(img.Rect)
	for k, r := range rects {
		// Colours far apart in sRGB: neighbours in the list differ a lot.
		c := color.NRGBA{uint8(37 + 97*k), uint8(200 - 71*k), uint8(13 + 151*k), 255}
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				img.SetNRGBA(x, y, c)
				owner[y*w+x] = k
			}
		}
	}
	return img, owner
}

// TestSLICRectangles: on flat-coloured rectangles with a low compactness,
// no superpixel may straddle a rectangle border.
func TestSLICRectangles(t *testing.T) {
	for seed := range uint64(6) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 1))
			img, owner := rectangles(rng, 240, 180, 40)
			for _, p := range []Params{
				{Segments: 100, Compactness: 1, Sigma: -1},
				{Segments: 100, SLICO: true, Sigma: -1},
			} {
				l := SLIC(img, p)
				checkLabels(t, l, 240, 180)
				first := make([]int, l.N)
				for i := range first {
					first[i] = -1
				}
				for i, v := range l.Pix {
					switch r := first[v]; {
					case r < 0:
						first[v] = owner[i]
					case r != owner[i]:
						t.Fatalf("%+v: superpixel %d covers rectangles %d and %d (pixel %d,%d)", p, v, r, owner[i], i%240, i/240)
					}
				}
			}
		})
	}
}

// TestSLICDeterministic runs SLIC on the same input repeatedly, also
// concurrently, and requires identical labels.
func TestSLICDeterministic(t *testing.T) {
	img := loadPhotos(t)["coffee.jpg"]
	for _, p := range []Params{{}, {SLICO: true, Segments: 500}} {
		want := SLIC(img, p)
		got := make([]*Labels, 4)
		var wg sync.WaitGroup
		for i := range got {
			wg.Go(func() { got[i] = SLIC(img, p) })
		}
		wg.Wait()
		for i, l := range got {
			if l.N != want.N || !slices.Equal(l.Pix, want.Pix) {
				t.Fatalf("%+v: run %d differs from the first (N %d vs %d)", p, i, l.N, want.N)
			}
		}
	}
}

// TestSLICSmall covers degenerate sizes and requests: one pixel, single
// rows and columns, more segments than pixels.
func TestSLICSmall(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for _, tc := range []struct{ w, h, k int }{
		{1, 1, 1}, {1, 1, 10}, {1, 37, 5}, {53, 1, 5}, {5, 4, 1000}, {17, 9, 3}, {64, 48, 1},
	} {
		t.Run(fmt.Sprintf("%dx%d_K%d", tc.w, tc.h, tc.k), func(t *testing.T) {
			img := image.NewNRGBA(image.Rect(0, 0, tc.w, tc.h))
			for i := range img.Pix {
				img.Pix[i] = uint8(rng.IntN(256))
			}
			for i := 3; i < len(img.Pix); i += 4 {
				img.Pix[i] = 255
			}
			for _, p := range []Params{{Segments: tc.k}, {Segments: tc.k, SLICO: true}} {
				checkLabels(t, SLIC(img, p), tc.w, tc.h)
			}
		})
	}
}

// TestSLICNoAllocInLoop: the iteration loop works in preallocated buffers.
func TestSLICNoAllocInLoop(t *testing.T) {
	img := loadPhotos(t)["chelsea.jpg"]
	for _, slico := range []bool{false, true} {
		p := Params{Segments: 300, SLICO: slico}.withDefaults()
		lab := ToLab(img)
		s := newSolver(&lab, p)
		if a := testing.AllocsPerRun(5, s.iterate); a != 0 {
			t.Errorf("SLICO=%v: %v allocations per iteration", slico, a)
		}
	}
}

func TestParamsInvalid(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 4, 4))
	for _, p := range []Params{{Segments: -1}, {Iterations: -2}, {Compactness: -1}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("SLIC(%+v) did not panic", p)
				}
			}()
			SLIC(img, p)
		}()
	}
}

// TestSLICRandomParams checks the label-map properties over random image
// sizes (1..70 px a side), contents (noise or one flat colour) and
// parameters, including more segments than pixels and MinSize < 0.
func TestSLICRandomParams(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		w, h := 1+rng.IntN(70), 1+rng.IntN(70)
		img := image.NewNRGBA(image.Rect(0, 0, w, h))
		flat := rng.IntN(3) == 0
		for i := range img.Pix {
			img.Pix[i] = 77
			if !flat {
				img.Pix[i] = uint8(rng.IntN(256))
			}
		}
		p := Params{
			Segments:    1 + rng.IntN(3*w*h),
			Compactness: rng.Float64() * 40,
			Iterations:  rng.IntN(5),
			SLICO:       rng.IntN(2) == 0,
			Sigma:       rng.Float64()*3 - 1,
			MinSize:     rng.IntN(40) - 5,
		}
		checkLabels(t, SLIC(img, p), w, h)
	}
}
