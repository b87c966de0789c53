package superpixel

import (
	"image"
	"math"
)

// LabImage is an image in CIELAB, planar and row-major: the colour of pixel
// (x, y) is L[i], A[i], B[i] with i = y*Width + x. L* is in [0, 100]; a*
// and b* of 8-bit sRGB colours lie in about [-87, 99] and [-108, 95].
type LabImage struct {
	Width, Height int
	L, A, B       []float32
}

// sRGB (IEC 61966-2-1) to CIE XYZ, D65. The reference white is the sum of
// each row, so that every neutral grey, white included, maps to a* = b* = 0
// exactly. (scikit-image divides by the rounded 0.95047, 1, 1.08883 instead;
// the two differ by less than 0.003 in a* and b*.)
const (
	m00, m01, m02 = 0.412453, 0.357580, 0.180423
	m10, m11, m12 = 0.212671, 0.715160, 0.072169
	m20, m21, m22 = 0.019334, 0.119193, 0.950227
	whiteX        = m00 + m01 + m02
	whiteY        = m10 + m11 + m12
	whiteZ        = m20 + m21 + m22
)

// labEpsilon is (6/29)^3, where CIELAB's companding switches from the cube
// root to a line.
const labEpsilon = 216.0 / 24389

func srgbToLinear(v uint8) float64 {
	c := float64(v) / 255
	if c <= 0.04045 {
		return c / 12.92
	}
	return math.Pow((c+0.055)/1.055, 2.4)
}

func labF(t float64) float64 {
	if t > labEpsilon {
		return math.Cbrt(t)
	}
	return t*(24389.0/27/116) + 16.0/116
}

// SRGBToLab converts one 8-bit sRGB colour to CIELAB (D65, 2° observer)
// in double precision, with no tables. It is the reference that ToLab
// approximates. White gives (100, 0, 0), black (0, 0, 0).
func SRGBToLab(r, g, b uint8) (L, A, B float64) {
	rl, gl, bl := srgbToLinear(r), srgbToLinear(g), srgbToLinear(b)
	fx := labF((m00*rl + m01*gl + m02*bl) / whiteX)
	fy := labF((m10*rl + m11*gl + m12*bl) / whiteY)
	fz := labF((m20*rl + m21*gl + m22*bl) / whiteZ)
	return 116*fy - 16, 500 * (fx - fy), 200 * (fy - fz)
}

// linear[v] holds the linear-light value of the sRGB code v, pre-multiplied
// into the nine matrix entries divided by the white point: the conversion of
// a pixel is then nine table loads and six additions.
var linear = func() (t [3][3][256]float32) {
	m := [3][3]float64{
		{m00 / whiteX, m01 / whiteX, m02 / whiteX},
		{m10 / whiteY, m11 / whiteY, m12 / whiteY},
		{m20 / whiteZ, m21 / whiteZ, m22 / whiteZ},
	}
	for v := range 256 {
		c := srgbToLinear(uint8(v))
		for i := range 3 {
			for j := range 3 {
				t[i][j][v] = float32(m[i][j] * c)
			}
		}
	}
	return t
}()

// The cube root dominates the cost of the conversion. Its argument t (X/Xn,
// Y/Yn, Z/Zn) lies in [0, 1] for sRGB colours, so f is tabulated and
// interpolated linearly. The table is indexed by the bits of t: exponent
// and top fBits mantissa bits, i.e. 2^fBits segments per octave, which
// follows the cube root's curvature (the interpolation error is about
// f(t)·4e-7 everywhere) and needs no branch to pick a range. It covers
// [2^-18, 2); no sum of the linearisation table but zero lies below 2^-18
// (the smallest is about 5.4e-6), and entry 0 holds f(0) = 16/116 for t = 0.
// The linear part of f below labEpsilon needs no case of its own: f's slope
// is continuous there, so the segment across the switch interpolates as
// well as any. The table is 39 KB, most of it (dark colours) rarely read.
// The largest error over the sRGB cube is below 1e-3 in L*, a* and b*
// (TestToLabMatchesExact).
const (
	fBits     = 8
	fShift    = 23 - fBits
	fMinExp   = -18
	fSegments = (1 - fMinExp) << fBits
)

// fBase is the bits of 2^fMinExp shifted down to a segment index.
const fBase = (127 + fMinExp) << 23 >> fShift

// fTable[i] is {f(t0), f(t1) - f(t0)} for segment i-1 = [t0, t1).
var fTable = func() (t [fSegments + 1][2]float32) {
	t[0] = [2]float32{16.0 / 116, 0}
	for i := 1; i <= fSegments; i++ {
		t0 := float64(math.Float32frombits(uint32(fBase+i-1) << fShift))
		t1 := float64(math.Float32frombits(uint32(fBase+i) << fShift))
		t[i] = [2]float32{float32(labF(t0)), float32(labF(t1) - labF(t0))}
	}
	return t
}()

func fastF(t float32) float32 {
	bits := math.Float32bits(t)
	i := int(bits>>fShift) - fBase + 1
	i = min(max(i, 0), fSegments) // t = 0 and, defensively, t >= 2
	fr := float32(bits&(1<<fShift-1)) * (1.0 / (1 << fShift))
	e := &fTable[i]
	return e[0] + fr*e[1]
}

// ToLab converts an 8-bit sRGB image to CIELAB (D65, 2° observer) with
// tables: a 256-entry linearisation table folded into the sRGB-to-XYZ
// matrix, and an interpolated cube-root table. Its results differ from
// SRGBToLab by less than 1e-3. Alpha is ignored (images are opaque).
func ToLab(img *image.NRGBA) LabImage {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	n := w * h
	buf := make([]float32, 3*n)
	lab := LabImage{Width: w, Height: h, L: buf[:n:n], A: buf[n : 2*n : 2*n], B: buf[2*n:]}
	t := &linear
	for y := range h {
		row := img.Pix[img.PixOffset(img.Rect.Min.X, img.Rect.Min.Y+y):][:4*w]
		L, A, B := lab.L[y*w:][:w], lab.A[y*w:][:w], lab.B[y*w:][:w]
		for x := range L {
			p := row[4*x : 4*x+3 : 4*x+3]
			r, g, b := p[0], p[1], p[2]
			fx := fastF(t[0][0][r] + t[0][1][g] + t[0][2][b])
			fy := fastF(t[1][0][r] + t[1][1][g] + t[1][2][b])
			fz := fastF(t[2][0][r] + t[2][1][g] + t[2][2][b])
			L[x] = 116*fy - 16
			A[x] = 500 * (fx - fy)
			B[x] = 200 * (fy - fz)
		}
	}
	return lab
}
