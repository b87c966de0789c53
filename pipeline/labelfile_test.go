package pipeline

import (
	"bytes"
	"image"
	"image/png"
	"reflect"
	"testing"

	"github.com/segdiscover/segdiscover/superpixel"
)

func TestLabelsRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		l    *superpixel.Labels
	}{
		{"small", &superpixel.Labels{Width: 3, Height: 2, N: 4, Pix: []int32{0, 1, 1, 2, 3, 3}}},
		{"wide-ids", &superpixel.Labels{Width: 2, Height: 2, N: 65536, Pix: []int32{0, 300, 65535, 256}}},
		{"one", &superpixel.Labels{Width: 1, Height: 1, N: 1, Pix: []int32{0}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := EncodeLabels(&b, tc.l); err != nil {
				t.Fatal(err)
			}
			// Other tools read it as a plain 16-bit grayscale PNG.
			img, err := png.Decode(bytes.NewReader(b.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			g, ok := img.(*image.Gray16)
			if !ok {
				t.Fatalf("decoded as %T, want *image.Gray16", img)
			}
			if v := g.Gray16At(tc.l.Width-1, tc.l.Height-1).Y; int32(v) != tc.l.Pix[len(tc.l.Pix)-1] {
				t.Fatalf("last pixel %d, want %d", v, tc.l.Pix[len(tc.l.Pix)-1])
			}
			got, err := DecodeLabels(bytes.NewReader(b.Bytes()), 0)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.l) {
				t.Fatalf("got %+v, want %+v", got, tc.l)
			}
		})
	}
	if err := EncodeLabels(&bytes.Buffer{}, &superpixel.Labels{Width: 1, Height: 1, N: 70000, Pix: []int32{0}}); err == nil {
		t.Error("70000 segments accepted in a 16-bit file")
	}
}

func FuzzDecodeLabels(f *testing.F) {
	var b bytes.Buffer
	EncodeLabels(&b, &superpixel.Labels{Width: 3, Height: 2, N: 4, Pix: []int32{0, 1, 1, 2, 3, 3}})
	f.Add(b.Bytes())
	b.Reset()
	png.Encode(&b, image.NewGray(image.Rect(0, 0, 4, 4)))
	f.Add(b.Bytes())
	b.Reset()
	png.Encode(&b, image.NewRGBA(image.Rect(0, 0, 2, 2)))
	f.Add(b.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := DecodeLabels(bytes.NewReader(data), 1<<16)
		if err != nil {
			return
		}
		if len(l.Pix) != l.Width*l.Height || l.N < 1 || l.N > MaxLabelID+1 {
			t.Fatalf("inconsistent label map %dx%d n=%d len=%d", l.Width, l.Height, l.N, len(l.Pix))
		}
		for _, v := range l.Pix {
			if v < 0 || int(v) >= l.N {
				t.Fatalf("id %d outside 0..%d", v, l.N-1)
			}
		}
		var out bytes.Buffer
		if err := EncodeLabels(&out, l); err != nil {
			t.Fatal(err)
		}
	})
}
