package superpixel

import (
	"image"
	"math"
	"testing"
)

// Reference values: CIELAB D65 from the defining formulas (CIE 15:2004),
// as given by colour-science calculators and skimage.color.rgb2lab (which
// agrees to < 0.003 because it rounds the white point).
var labCases = []struct {
	name    string
	r, g, b uint8
	L, A, B float64
}{
	{"white", 255, 255, 255, 100, 0, 0},
	{"black", 0, 0, 0, 0, 0, 0},
	{"grey", 128, 128, 128, 53.585, 0, 0},
	{"red", 255, 0, 0, 53.2406, 80.0923, 67.2028},
	{"green", 0, 255, 0, 87.7351, -86.1830, 83.1797},
	{"blue", 0, 0, 255, 32.2957, 79.1856, -107.8573},
	{"dark", 3, 3, 3, 0.8225, 0, 0},
	{"olive", 10, 200, 30, 70.5001, -70.5138, 64.9408},
}

func TestSRGBToLab(t *testing.T) {
	for _, tc := range labCases {
		t.Run(tc.name, func(t *testing.T) {
			L, A, B := SRGBToLab(tc.r, tc.g, tc.b)
			if math.Abs(L-tc.L) > 5e-3 || math.Abs(A-tc.A) > 5e-3 || math.Abs(B-tc.B) > 5e-3 {
				t.Errorf("SRGBToLab(%d,%d,%d) = (%.4f, %.4f, %.4f), want (%.4f, %.4f, %.4f)",
					tc.r, tc.g, tc.b, L, A, B, tc.L, tc.A, tc.B)
			}
			if tc.r == tc.g && tc.g == tc.b && (A != 0 || B != 0) {
				// Neutral colours must be exactly achromatic: the white
				// point is the matrix's row sum.
				if math.Abs(A) > 1e-12 || math.Abs(B) > 1e-12 {
					t.Errorf("grey %d has a*=%g b*=%g, want 0", tc.r, A, B)
				}
			}
		})
	}
}

// TestToLabMatchesExact compares the table-driven conversion with the exact
// one over a lattice of 86^3 colours (every third code per channel,
// including 0 and 255) and every grey.
func TestToLabMatchesExact(t *testing.T) {
	var cols [][3]uint8
	for r := 0; r < 256; r += 3 {
		for g := 0; g < 256; g += 3 {
			for b := 0; b < 256; b += 3 {
				cols = append(cols, [3]uint8{uint8(r), uint8(g), uint8(b)})
			}
		}
	}
	for v := range 256 {
		cols = append(cols, [3]uint8{uint8(v), uint8(v), uint8(v)})
	}
	img := image.NewNRGBA(image.Rect(0, 0, len(cols), 1))
	for i, c := range cols {
		copy(img.Pix[4*i:], []uint8{c[0], c[1], c[2], 255})
	}
	lab := ToLab(img)
	var worst float64
	for i, c := range cols {
		L, A, B := SRGBToLab(c[0], c[1], c[2])
		e := max(math.Abs(L-float64(lab.L[i])), math.Abs(A-float64(lab.A[i])), math.Abs(B-float64(lab.B[i])))
		if e > worst {
			worst = e
		}
		if e > 1e-3 {
			t.Fatalf("ToLab(%v) = (%g, %g, %g), exact (%g, %g, %g)", c, lab.L[i], lab.A[i], lab.B[i], L, A, B)
		}
	}
	t.Logf("max |ToLab - SRGBToLab| = %.2g", worst)
}

// TestToLabSubImage checks that ToLab honours the rectangle and stride of a
// sub-image.
func TestToLabSubImage(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 8, 6))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	sub := img.SubImage(image.Rect(3, 2, 7, 5)).(*image.NRGBA)
	lab := ToLab(sub)
	if lab.Width != 4 || lab.Height != 3 || len(lab.L) != 12 {
		t.Fatalf("ToLab of a 4x3 sub-image gave %dx%d with %d pixels", lab.Width, lab.Height, len(lab.L))
	}
	for y := range 3 {
		for x := range 4 {
			c := img.NRGBAAt(3+x, 2+y)
			L, _, _ := SRGBToLab(c.R, c.G, c.B)
			if got := float64(lab.L[y*4+x]); math.Abs(got-L) > 1e-3 {
				t.Errorf("L at (%d,%d) = %g, want %g", x, y, got, L)
			}
		}
	}
}
