package superpixel

import (
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"
)

// bsdsImage loads one BSDS500 test image for benchmarks, or skips.
func bsdsImage(tb testing.TB) *image.NRGBA {
	tb.Helper()
	f, err := os.Open(filepath.Join("..", "..", "shared", "data", "bsds500_test", "images", "100007.jpg"))
	if err != nil {
		tb.Skip("BSDS500 not available:", err)
	}
	defer f.Close()
	img, err := jpeg.Decode(f)
	if err != nil {
		tb.Fatal(err)
	}
	return toNRGBA(img)
}

func toNRGBA(img image.Image) *image.NRGBA {
	b := img.Bounds()
	out := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	for y := range b.Dy() {
		for x := range b.Dx() {
			r, g, bb, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
			i := out.PixOffset(x, y)
			out.Pix[i], out.Pix[i+1], out.Pix[i+2], out.Pix[i+3] = uint8(r>>8), uint8(g>>8), uint8(bb>>8), 255
		}
	}
	return out
}

func BenchmarkSLIC(b *testing.B) {
	img := bsdsImage(b)
	for _, bc := range []struct {
		name string
		p    Params
	}{
		{"K200", Params{Segments: 200}},
		{"K1000", Params{Segments: 1000}},
		{"K200_SLICO", Params{Segments: 200, SLICO: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				SLIC(img, bc.p)
			}
		})
	}
}

func BenchmarkToLab(b *testing.B) {
	img := bsdsImage(b)
	for b.Loop() {
		ToLab(img)
	}
}

// BenchmarkIterate times one assignment+update step; allocs/op must be 0.
func BenchmarkIterate(b *testing.B) {
	img := bsdsImage(b)
	lab := ToLab(img)
	s := newSolver(&lab, Params{Segments: 200}.withDefaults())
	b.ReportAllocs()
	for b.Loop() {
		s.iterate()
	}
}

func BenchmarkBlur(b *testing.B) {
	lab := ToLab(bsdsImage(b))
	for b.Loop() {
		gaussianBlur(&lab, DefaultSigma)
	}
}
