package features

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/segdiscover/segdiscover/superpixel"
)

func flatImage(w, h int, c color.NRGBA) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, 255
	}
	return img
}

// gridLabels splits a w x h image into a gx x gy grid of rectangles.
func gridLabels(w, h, gx, gy int) *superpixel.Labels {
	l := &superpixel.Labels{Width: w, Height: h, N: gx * gy, Pix: make([]int32, w*h)}
	for y := range h {
		for x := range w {
			l.Pix[y*w+x] = int32((y*gy/h)*gx + x*gx/w)
		}
	}
	return l
}

// Reference values from skimage.color.rgb2lab 0.19.3.
var labCases = []struct {
	c       color.NRGBA
	L, A, B float64
}{
	{color.NRGBA{255, 0, 0, 255}, 53.2405879, 80.0923082, 67.2027510},
	{color.NRGBA{0, 255, 0, 255}, 87.7350995, -86.1830297, 83.1797032},
	{color.NRGBA{0, 0, 255, 255}, 32.2956726, 79.1855909, -107.857300},
	{color.NRGBA{255, 255, 255, 255}, 100, -2.45493786e-03, 4.65342115e-03},
	{color.NRGBA{0, 0, 0, 255}, 0, 0, 0},
	{color.NRGBA{128, 128, 128, 255}, 53.5850135, -1.47264555e-03, 2.79145150e-03},
	{color.NRGBA{10, 200, 30, 255}, 70.5001320, -70.5138311, 64.9408400},
	{color.NRGBA{3, 3, 3, 255}, 0.822520488, -5.22213821e-05, 9.89856513e-05},
}

// TestLabReference checks the Lab values Describe is built on against
// scikit-image, the reference users compare with.
func TestLabReference(t *testing.T) {
	for _, tc := range labCases {
		lab := superpixel.ToLab(flatImage(1, 1, tc.c))
		got := []float64{float64(lab.L[0]), float64(lab.A[0]), float64(lab.B[0])}
		for k, want := range []float64{tc.L, tc.A, tc.B} {
			// superpixel's white point differs from skimage's rounded
			// one by < 0.003 in a*, b*; its tables add < 1e-3.
			if math.Abs(got[k]-want) > 5e-3 {
				t.Errorf("%v: got %v, want (%v %v %v)", tc.c, got, tc.L, tc.A, tc.B)
			}
		}
	}
}

// TestDescribeFlat: a flat image has its exact Lab mean, zero spread, zero
// gradient energy, every LBP code in the "all ones" class, and the
// centroid and area of its grid cell.
func TestDescribeFlat(t *testing.T) {
	for _, linear := range []bool{true, false} {
		t.Run(fmt.Sprintf("linear=%v", linear), func(t *testing.T) { testDescribeFlat(t, linear) })
	}
}

func testDescribeFlat(t *testing.T, linear bool) {
	s := &Settings{Blocks: AllBlocks, Linear: linear}
	zeroSpread := 0.0
	if !linear {
		zeroSpread = math.Log(0.5)
	}
	for _, tc := range labCases {
		img := flatImage(40, 30, tc.c)
		l := gridLabels(40, 30, 4, 3)
		x := Describe(img, l, s)
		if r, c := x.Dims(); r != 12 || c != s.Dims() || c != len(s.Columns()) {
			t.Fatalf("dims %dx%d, Dims %d, Columns %d", r, c, s.Dims(), len(s.Columns()))
		}
		lab := superpixel.ToLab(flatImage(1, 1, tc.c))
		L, A, B := float64(lab.L[0]), float64(lab.A[0]), float64(lab.B[0])
		for id := range 12 {
			row := x.RawRowView(id)
			cx := (float64(id%4)*10 + 5) / 40
			cy := (float64(id/4)*10 + 5) / 30
			z := zeroSpread
			want := []float64{L, A, B, z, z, z, cx, cy, 100.0 / 1200, z, z}
			for range 8 {
				want = append(want, 0) // orientation histogram
			}
			want = append(want, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0) // LBP: all neighbours >= centre
			for j, v := range row {
				if math.Abs(v-want[j]) > 1e-12 {
					t.Errorf("%v superpixel %d column %s = %v, want %v", tc.c, id, s.Columns()[j], v, want[j])
				}
			}
		}
	}
}

// TestDescribeStripes checks texture blocks on vertical black/white stripes:
// the gradient is horizontal, so the orientation histogram has energy only
// in bin 0, and the spread of L* matches the two-valued population.
func TestDescribeStripes(t *testing.T) {
	const w, h = 32, 16
	img := flatImage(w, h, color.NRGBA{0, 0, 0, 255})
	for y := range h {
		for x := 0; x < w; x += 4 {
			for k := range 2 {
				i := img.PixOffset(x+k, y)
				img.Pix[i], img.Pix[i+1], img.Pix[i+2] = 255, 255, 255
			}
		}
	}
	l := gridLabels(w, h, 1, 1)
	s := &Settings{Blocks: LabStd | GradStats | GradHist, Linear: true}
	row := Describe(img, l, s).RawRowView(0)
	// By default the spreads are log(v + 0.5) of the linear values.
	s.Linear = false
	logRow := Describe(img, l, s).RawRowView(0)
	for j := range 5 {
		if math.Abs(logRow[j]-math.Log(row[j]+0.5)) > 1e-12 {
			t.Errorf("column %d: default %v, want log(%v + 0.5)", j, logRow[j], row[j])
		}
	}
	if math.Abs(row[0]-50) > 1e-9 || row[1] > 1e-2 || row[2] > 1e-2 {
		t.Errorf("Lab std = %v, want about (50, 0, 0)", row[:3])
	}
	if row[3] <= 0 || row[4] < 0 {
		t.Errorf("grad stats = %v", row[3:5])
	}
	hist := row[5:]
	if hist[0] <= 0 {
		t.Errorf("no energy in bin 0: %v", hist)
	}
	for j := 1; j < len(hist); j++ {
		if hist[j] != 0 {
			t.Errorf("energy in bin %d: %v", j, hist)
		}
	}
	// Histogram mass per pixel equals the mean magnitude.
	sum := 0.0
	for _, v := range hist {
		sum += v
	}
	if math.Abs(sum-row[3]) > 1e-9 {
		t.Errorf("histogram mass %v != mean magnitude %v", sum, row[3])
	}
}

func TestRIU2(t *testing.T) {
	for _, tc := range []struct {
		code uint8
		want uint8
	}{{0, 0}, {255, 8}, {1, 1}, {0b00011100, 3}, {0b10000001, 2}, {0b00000101, 9}, {0b01010101, 9}, {0b11110000, 4}} {
		if got := riu2[tc.code]; got != tc.want {
			t.Errorf("riu2[%08b] = %d, want %d", tc.code, got, tc.want)
		}
	}
}

func TestBlockString(t *testing.T) {
	for _, b := range []Block{LabMean, DefaultBlocks, AllBlocks, LBP | Area} {
		got, err := ParseBlock(b.String())
		if err != nil || got != b {
			t.Errorf("ParseBlock(%q) = %v, %v", b.String(), got, err)
		}
	}
	if _, err := ParseBlock("lab_mean+nope"); err == nil {
		t.Error("ParseBlock accepted an unknown name")
	}
}

func TestColumnWeights(t *testing.T) {
	s := &Settings{Blocks: LabMean | CentroidY, Weights: map[Block]float64{CentroidY: 2}}
	w := s.ColumnWeights()
	want := []float64{1, 1, 1, 2}
	if len(w) != len(want) {
		t.Fatalf("weights %v", w)
	}
	for i := range w {
		if w[i] != want[i] {
			t.Errorf("weights %v, want %v", w, want)
		}
	}
}

func randomImage(w, h int, seed uint64) *image.NRGBA {
	rng := rand.New(rand.NewPCG(seed, 1))
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(rng.IntN(256))
		if i%4 == 3 {
			img.Pix[i] = 255
		}
	}
	return img
}

func BenchmarkDescribe(b *testing.B) {
	img := randomImage(320, 240, 1)
	l := gridLabels(320, 240, 20, 15)
	for _, bc := range []struct {
		name string
		s    *Settings
	}{{"default", nil}, {"all", &Settings{Blocks: AllBlocks}}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				Describe(img, l, bc.s)
			}
		})
	}
}

func TestAtan2Upper(t *testing.T) {
	for i := range 10000 {
		th := float64(i) / 10000 * math.Pi
		y, x := math.Sin(th)*3, math.Cos(th)*3
		if got, want := atan2Upper(y, x), math.Atan2(y, x); math.Abs(got-want) > 2e-5 {
			t.Fatalf("atan2Upper(%v, %v) = %v, want %v", y, x, got, want)
		}
	}
}
