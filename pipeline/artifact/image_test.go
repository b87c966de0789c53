package artifact

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"testing"

	"github.com/segdiscover/segdiscover/pipeline/artifact/artifacttest"
	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
)

func TestDecodeImageFormats(t *testing.T) {
	src := artifacttest.Card()
	gray16 := image.NewGray16(image.Rect(0, 0, 6, 4))
	for i := range gray16.Pix {
		gray16.Pix[i] = 0x80
	}
	pal := image.NewPaletted(image.Rect(0, 0, 6, 4), color.Palette{color.RGBA{220, 20, 20, 255}, color.RGBA{20, 20, 220, 255}})
	for y := 0; y < 4; y++ {
		for x := 3; x < 6; x++ {
			pal.SetColorIndex(x, y, 1)
		}
	}
	translucent := artifacttest.Card()
	for i := 3; i < len(translucent.Pix); i += 4 {
		translucent.Pix[i] = 10
	}
	rgba64 := image.NewRGBA64(image.Rect(0, 0, 6, 4))
	for y := 0; y < 4; y++ {
		for x := 0; x < 6; x++ {
			c := src.NRGBAAt(x, y)
			rgba64.SetRGBA64(x, y, color.RGBA64{uint16(c.R) * 257, uint16(c.G) * 257, uint16(c.B) * 257, 0xffff})
		}
	}
	webp, err := os.ReadFile("testdata/images/card.webp")
	if err != nil {
		t.Fatal(err)
	}
	cmyk, err := os.ReadFile("testdata/images/card_cmyk.jpg")
	if err != nil {
		t.Fatal(err)
	}
	red := color.NRGBA{220, 20, 20, 255}
	tests := []struct {
		name      string
		data      []byte
		w, h      int
		left      color.NRGBA // expected colour of pixel (0, h-1)
		right     color.NRGBA // expected colour of pixel (w-1, h-1)
		tolerance int
	}{
		{"png", artifacttest.Encode(t, func(b *bytes.Buffer) error { return png.Encode(b, src) }), 6, 4, red, color.NRGBA{20, 20, 220, 255}, 0},
		{"png16", artifacttest.Encode(t, func(b *bytes.Buffer) error { return png.Encode(b, rgba64) }), 6, 4, red, color.NRGBA{20, 20, 220, 255}, 0},
		{"gray16", artifacttest.Encode(t, func(b *bytes.Buffer) error { return png.Encode(b, gray16) }), 6, 4, color.NRGBA{0x80, 0x80, 0x80, 255}, color.NRGBA{0x80, 0x80, 0x80, 255}, 0},
		{"paletted", artifacttest.Encode(t, func(b *bytes.Buffer) error { return png.Encode(b, pal) }), 6, 4, red, color.NRGBA{20, 20, 220, 255}, 0},
		{"alpha", artifacttest.Encode(t, func(b *bytes.Buffer) error { return png.Encode(b, translucent) }), 6, 4, red, color.NRGBA{20, 20, 220, 255}, 0},
		{"gif", artifacttest.Encode(t, func(b *bytes.Buffer) error { return gif.Encode(b, pal, nil) }), 6, 4, red, color.NRGBA{20, 20, 220, 255}, 0},
		{"bmp", artifacttest.Encode(t, func(b *bytes.Buffer) error { return bmp.Encode(b, src) }), 6, 4, red, color.NRGBA{20, 20, 220, 255}, 0},
		{"tiff", artifacttest.Encode(t, func(b *bytes.Buffer) error { return tiff.Encode(b, src, nil) }), 6, 4, red, color.NRGBA{20, 20, 220, 255}, 0},
		{"jpeg", artifacttest.Encode(t, func(b *bytes.Buffer) error { return jpeg.Encode(b, src, &jpeg.Options{Quality: 100}) }), 6, 4, red, color.NRGBA{20, 20, 220, 255}, 40},
		{"webp", webp, 24, 16, color.NRGBA{200, 40, 30, 255}, color.NRGBA{30, 60, 210, 255}, 0},
		{"cmyk-jpeg", cmyk, 24, 16, color.NRGBA{200, 40, 30, 255}, color.NRGBA{30, 60, 210, 255}, 24},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img, err := DecodeImage(bytes.NewReader(tc.data), 0)
			if err != nil {
				t.Fatal(err)
			}
			if img.Bounds() != image.Rect(0, 0, tc.w, tc.h) {
				t.Fatalf("bounds %v, want %dx%d", img.Bounds(), tc.w, tc.h)
			}
			for i := 3; i < len(img.Pix); i += 4 {
				if img.Pix[i] != 255 {
					t.Fatalf("alpha %d at byte %d, want opaque", img.Pix[i], i)
				}
			}
			checkColor(t, img, 0, tc.h-1, tc.left, tc.tolerance)
			checkColor(t, img, tc.w-1, tc.h-1, tc.right, tc.tolerance)
		})
	}
}

func checkColor(t *testing.T, img *image.NRGBA, x, y int, want color.NRGBA, tol int) {
	t.Helper()
	got := img.NRGBAAt(x, y)
	d := func(a, b uint8) int { return max(int(a)-int(b), int(b)-int(a)) }
	if d(got.R, want.R) > tol || d(got.G, want.G) > tol || d(got.B, want.B) > tol {
		t.Errorf("pixel (%d,%d) = %v, want %v ± %d", x, y, got, want, tol)
	}
}

func TestDecodeImageEXIFOrientation(t *testing.T) {
	jpg := artifacttest.Encode(t, func(b *bytes.Buffer) error { return jpeg.Encode(b, artifacttest.Card(), &jpeg.Options{Quality: 100}) })
	red, blue := color.NRGBA{220, 20, 20, 255}, color.NRGBA{20, 20, 220, 255}
	tests := []struct {
		orient     uint16
		w, h       int
		topLeft    color.NRGBA
		bottomLeft color.NRGBA
	}{
		{1, 6, 4, red, red},
		{2, 6, 4, blue, blue}, // mirrored horizontally
		{3, 6, 4, blue, blue}, // rotated 180
		{6, 4, 6, red, blue},  // rotate 90 clockwise to view: left half ends on top
		{8, 4, 6, blue, red},  // rotate 90 counter-clockwise to view
	}
	for _, tc := range tests {
		t.Run(string(rune('0'+tc.orient)), func(t *testing.T) {
			img, err := DecodeImage(bytes.NewReader(artifacttest.WithOrientation(jpg, tc.orient)), 0)
			if err != nil {
				t.Fatal(err)
			}
			if img.Bounds().Dx() != tc.w || img.Bounds().Dy() != tc.h {
				t.Fatalf("size %v, want %dx%d", img.Bounds().Size(), tc.w, tc.h)
			}
			checkColor(t, img, 0, 0, tc.topLeft, 40)
			checkColor(t, img, 0, tc.h-1, tc.bottomLeft, 40)
		})
	}
}

func TestDecodeImageErrors(t *testing.T) {
	jpg := artifacttest.Encode(t, func(b *bytes.Buffer) error { return jpeg.Encode(b, artifacttest.Card(), nil) })
	pngData := artifacttest.Encode(t, func(b *bytes.Buffer) error { return png.Encode(b, artifacttest.Card()) })
	tests := []struct {
		name      string
		data      []byte
		maxPixels int
		want      error
	}{
		{"empty", nil, 0, ErrEmpty},
		{"text", []byte("this is not an image, whatever its name says\n"), 0, ErrFormat},
		{"truncated-jpeg", jpg[:len(jpg)/2], 0, ErrCorrupt},
		{"truncated-png", pngData[:len(pngData)-20], 0, ErrCorrupt},
		{"header-only-png", pngData[:33], 0, ErrCorrupt},
		{"bomb", artifacttest.PNGBomb(t, 200_000, 200_000), 0, ErrTooLarge},
		{"over-limit", pngData, 23, ErrTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img, err := DecodeImage(bytes.NewReader(tc.data), tc.maxPixels)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if img != nil {
				t.Fatal("image returned with an error")
			}
		})
	}
	t.Run("at-limit", func(t *testing.T) {
		if _, err := DecodeImage(bytes.NewReader(pngData), 24); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("1x1", func(t *testing.T) {
		one := artifacttest.Encode(t, func(b *bytes.Buffer) error { return png.Encode(b, image.NewGray(image.Rect(0, 0, 1, 1))) })
		img, err := DecodeImage(bytes.NewReader(one), 0)
		if err != nil || img.Bounds().Dx() != 1 {
			t.Fatalf("img %v, err %v", img, err)
		}
	})
}

func FuzzDecodeImage(f *testing.F) {
	for _, name := range []string{"testdata/images/card.webp", "testdata/images/card_cmyk.jpg"} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	jpg := artifacttest.Encode(f, func(b *bytes.Buffer) error { return jpeg.Encode(b, artifacttest.Card(), nil) })
	f.Add(jpg)
	f.Add(artifacttest.WithOrientation(jpg, 6))
	f.Add(artifacttest.Encode(f, func(b *bytes.Buffer) error { return png.Encode(b, artifacttest.Card()) }))
	f.Add(artifacttest.Encode(f, func(b *bytes.Buffer) error { return gif.Encode(b, artifacttest.Card(), nil) }))
	f.Add(artifacttest.Encode(f, func(b *bytes.Buffer) error { return bmp.Encode(b, artifacttest.Card()) }))
	f.Add(artifacttest.Encode(f, func(b *bytes.Buffer) error { return tiff.Encode(b, artifacttest.Card(), nil) }))
	f.Fuzz(func(t *testing.T, data []byte) {
		// A small limit keeps the fuzzer from spending its time on large
		// allocations that the limit exists to prevent.
		const limit = 1 << 16
		img, err := DecodeImage(bytes.NewReader(data), limit)
		if err != nil {
			if img != nil {
				t.Fatal("image returned with an error")
			}
			if !errors.Is(err, ErrEmpty) && !errors.Is(err, ErrFormat) && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		b := img.Bounds()
		if b.Min != (image.Point{}) || b.Dx()*b.Dy() > limit || b.Dx() <= 0 || b.Dy() <= 0 {
			t.Fatalf("bad bounds %v", b)
		}
		if len(img.Pix) < 4*b.Dx()*b.Dy() {
			t.Fatal("short pixel buffer")
		}
	})
}

// TestToOpaqueNRGBAFastPaths checks the conversion of the opaque models,
// which goes through draw's RGBA fast paths, against the colour model's
// own per-pixel conversion.
func TestToOpaqueNRGBAFastPaths(t *testing.T) {
	r := image.Rect(3, 5, 3+37, 5+23) // odd sizes, non-zero origin
	ycc := image.NewYCbCr(r, image.YCbCrSubsampleRatio420)
	for i := range ycc.Y {
		ycc.Y[i] = uint8(i * 7)
	}
	for i := range ycc.Cb {
		ycc.Cb[i], ycc.Cr[i] = uint8(i*13), uint8(255-i*5)
	}
	gray := image.NewGray(r)
	cmyk := image.NewCMYK(r)
	for i := range gray.Pix {
		gray.Pix[i] = uint8(i * 3)
	}
	for i := range cmyk.Pix {
		cmyk.Pix[i] = uint8(i * 11)
	}
	for _, src := range []image.Image{ycc, gray, cmyk} {
		got := toOpaqueNRGBA(src)
		if got.Rect != image.Rect(0, 0, r.Dx(), r.Dy()) {
			t.Fatalf("%T: bounds %v", src, got.Rect)
		}
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				want := color.NRGBAModel.Convert(src.At(x, y)).(color.NRGBA)
				if g := got.NRGBAAt(x-r.Min.X, y-r.Min.Y); g != want {
					t.Fatalf("%T at (%d,%d): %v, want %v", src, x, y, g, want)
				}
			}
		}
	}
}
