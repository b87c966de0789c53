package artifact

import (
	"bytes"
	"image"
	"image/png"
	"math/rand/v2"
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

// TestEncodeLabelsDecodesExactly: the hand-written PNG must decode, with
// image/png (which also checks the CRCs and the zlib checksum), to exactly
// the ids written, for maps of any shape, ids that make the Up filter wrap
// around in either byte, output split over several IDAT chunks, and
// encoders reused from the pool across different sizes.
func TestEncodeLabelsDecodesExactly(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 41 {
		w, h := 1+rng.IntN(300), 1+rng.IntN(40)
		if i%7 == 0 {
			w, h = 1, 1+rng.IntN(5)
		}
		if i == 40 {
			w, h = 700, 500 // noise: several IDAT chunks
		}
		l := &superpixel.Labels{Width: w, Height: h, Pix: make([]int32, w*h)}
		hi := []int32{1, 300, 1 << 16}[i%3]
		for j := range l.Pix {
			switch {
			case i == 40:
				l.Pix[j] = rng.Int32N(hi)
			case j > 0 && rng.IntN(4) > 0:
				l.Pix[j] = l.Pix[j-1] // runs, as in real label maps
			case j >= w && rng.IntN(2) == 0:
				l.Pix[j] = l.Pix[j-w]
			default:
				l.Pix[j] = rng.Int32N(hi)
			}
			l.N = max(l.N, int(l.Pix[j])+1)
		}
		var b bytes.Buffer
		if err := EncodeLabels(&b, l); err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(b.Bytes()))
		if err != nil {
			t.Fatalf("%dx%d: %v", w, h, err)
		}
		g, ok := img.(*image.Gray16)
		if !ok || g.Rect != image.Rect(0, 0, w, h) {
			t.Fatalf("decoded as %T %v, want *image.Gray16 of %dx%d", img, img.Bounds(), w, h)
		}
		for j, v := range l.Pix {
			if got := g.Gray16At(j%w, j/w).Y; int32(got) != v {
				t.Fatalf("%dx%d: pixel (%d,%d) is %d, want %d", w, h, j%w, j/w, got, v)
			}
		}
	}
	for _, l := range []*superpixel.Labels{
		{Width: 0, Height: 0, N: 1},
		{Width: 2, Height: 2, N: 1, Pix: []int32{0}},
	} {
		if err := EncodeLabels(&bytes.Buffer{}, l); err == nil {
			t.Errorf("%dx%d map with %d pixels accepted", l.Width, l.Height, len(l.Pix))
		}
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
