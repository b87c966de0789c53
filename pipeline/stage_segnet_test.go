package pipeline

import (
	"image"
	"image/color"
	"testing"

	"github.com/segdiscover/segdiscover/pseudolabel"
	"github.com/segdiscover/segdiscover/segnet"
)

// halves returns a w x h sample whose left half is red, concept 0 and
// confidence 100, and right half blue, concept 1 and confidence 200.
func halves(w, h int) segnet.Sample {
	r := image.Rect(0, 0, w, h)
	s := segnet.Sample{Image: image.NewNRGBA(r), Mask: image.NewPaletted(r, pseudolabel.Palette()), Conf: image.NewGray(r)}
	for y := range h {
		for x := range w {
			id, conf, c := uint8(0), uint8(100), color.NRGBA{255, 0, 0, 255}
			if x >= w/2 {
				id, conf, c = 1, 200, color.NRGBA{0, 0, 255, 255}
			}
			s.Image.SetNRGBA(x, y, c)
			s.Mask.SetColorIndex(x, y, id)
			s.Conf.SetGray(x, y, color.Gray{conf})
		}
	}
	return s
}

func TestShrinkSample(t *testing.T) {
	for _, tc := range []struct {
		name         string
		w, h         int
		cropH, cropW int
		wantW, wantH int
	}{
		{"stanford size is kept", 320, 240, 0, 0, 320, 240},
		{"twice the zoomed crop is kept", 480, 360, 120, 160, 480, 360},
		{"just above it", 481, 361, 120, 160, 480, 361},
		{"12 megapixels", 4000, 3000, 120, 160, 480, 360},
		{"portrait", 3000, 4000, 120, 160, 480, 640},
		{"larger crop", 4000, 3000, 240, 320, 960, 720},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := halves(tc.w, tc.h)
			out := shrinkSample(in, tc.cropH, tc.cropW)
			for _, r := range []image.Rectangle{out.Image.Bounds(), out.Mask.Bounds(), out.Conf.Bounds()} {
				if r.Dx() != tc.wantW || r.Dy() != tc.wantH {
					t.Fatalf("size %v, want %dx%d", r, tc.wantW, tc.wantH)
				}
			}
			if tc.wantW == tc.w && out.Image != in.Image {
				t.Fatal("an image that needs no shrinking was copied")
			}
			for _, y := range []int{0, tc.wantH / 2, tc.wantH - 1} {
				for _, x := range []int{0, tc.wantW/2 - 2, tc.wantW/2 + 1, tc.wantW - 1} {
					want := halves(tc.wantW, tc.wantH)
					if got, w := out.Mask.ColorIndexAt(x, y), want.Mask.ColorIndexAt(x, y); got != w {
						t.Errorf("mask (%d,%d) = %d, want %d", x, y, got, w)
					}
					if got, w := out.Conf.GrayAt(x, y), want.Conf.GrayAt(x, y); got != w {
						t.Errorf("confidence (%d,%d) = %d, want %d", x, y, got.Y, w.Y)
					}
					if got, w := out.Image.NRGBAAt(x, y), want.Image.NRGBAAt(x, y); got != w {
						t.Errorf("image (%d,%d) = %v, want %v", x, y, got, w)
					}
				}
			}
		})
	}
}
