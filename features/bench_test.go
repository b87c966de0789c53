package features

import (
	"image"
	"image/draw"
	"image/jpeg"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/segdiscover/segdiscover/superpixel"
)

// photo loads a 320-pixel-wide sample photograph from testdata/images/photos and
// segments it with SLIC (300 superpixels), the per-image workload of the
// pipeline.
func photo(b *testing.B) (*image.NRGBA, *superpixel.Labels) {
	b.Helper()
	f, err := os.Open(filepath.Join("..", "testdata", "images", "photos", "chelsea.jpg"))
	if err != nil {
		b.Skip("sample photo not available:", err)
	}
	defer f.Close()
	im, err := jpeg.Decode(f)
	if err != nil {
		b.Fatal(err)
	}
	img := image.NewNRGBA(image.Rect(0, 0, im.Bounds().Dx(), im.Bounds().Dy()))
	draw.Draw(img, img.Bounds(), im, im.Bounds().Min, draw.Src)
	return img, superpixel.SLIC(img, superpixel.Params{})
}

func BenchmarkPhoto(b *testing.B) {
	img, l := photo(b)
	b.Logf("%dx%d, %d superpixels", l.Width, l.Height, l.N)
	b.Run("describe_default", func(b *testing.B) {
		for b.Loop() {
			Describe(img, l, nil)
		}
	})
	b.Run("describe_all", func(b *testing.B) {
		s := &Settings{Blocks: AllBlocks}
		for b.Loop() {
			Describe(img, l, s)
		}
	})
	b.Run("patches", func(b *testing.B) {
		for b.Loop() {
			ExtractPatches(img, l, 0)
		}
	})
	b.Run("patches+encode", func(b *testing.B) {
		e := NewEncoder(PatchDims(0), EncoderSettings{}, rand.NewPCG(1, 2))
		for b.Loop() {
			e.Encode(ExtractPatches(img, l, 0))
		}
	})
}
