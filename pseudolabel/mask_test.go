package pseudolabel

import (
	"image"
	"image/color"
	"math"
	"testing"

	"github.com/segdiscover/segdiscover/superpixel"
)

// fourLabels is a 4×2 map of 3 superpixels:
//
//	0 0 1 1
//	0 2 2 1
var fourLabels = &superpixel.Labels{Width: 4, Height: 2, N: 3, Pix: []int32{0, 0, 1, 1, 0, 2, 2, 1}}

func TestPalette(t *testing.T) {
	p := Palette()
	if len(p) != 256 {
		t.Fatalf("%d colours", len(p))
	}
	seen := map[color.Color]int{}
	for i, c := range p {
		if j, dup := seen[c]; dup {
			t.Errorf("colours %d and %d are both %v", j, i, c)
		}
		seen[c] = i
		if _, _, _, a := c.RGBA(); a != 0xffff {
			t.Errorf("colour %d not opaque", i)
		}
	}
	// VOC's class 1 (aeroplane) and void.
	if p[0] != (color.RGBA{128, 0, 0, 255}) || p[Unassigned] != (color.RGBA{224, 224, 192, 255}) || p[254] != (color.RGBA{0, 0, 0, 255}) {
		t.Errorf("palette[0] %v, [254] %v, [255] %v", p[0], p[254], p[255])
	}
	p[0] = color.White
	if Palette()[0] == color.White {
		t.Error("Palette shares its slice")
	}
}

func TestMask(t *testing.T) {
	tests := []struct {
		name       string
		concepts   []int
		posteriors []float64
		s          Settings
		ids, conf  []uint8
	}{
		{"plain", []int{3, 0, 254}, []float64{1, 0.5, 0.2},
			Settings{}, []uint8{3, 3, 0, 0, 3, 254, 254, 0}, []uint8{255, 255, 128, 128, 255, 51, 51, 128}},
		{"nil-posteriors", []int{3, 0, 7}, nil,
			Settings{}, []uint8{3, 3, 0, 0, 3, 7, 7, 0}, []uint8{255, 255, 255, 255, 255, 255, 255, 255}},
		{"threshold", []int{3, 0, 7}, []float64{1, 0.5, 0.2},
			Settings{MinConfidence: 0.5}, []uint8{3, 3, 0, 0, 3, 255, 255, 0}, []uint8{255, 255, 128, 128, 255, 51, 51, 128}},
		{"nan", []int{3, 0, 7}, []float64{math.NaN(), 1, 1},
			Settings{MinConfidence: 0.1}, []uint8{255, 255, 0, 0, 255, 7, 7, 0}, []uint8{0, 0, 255, 255, 0, 255, 255, 255}},
		{"unassigned-and-clamped", []int{-1, Unassigned, 1}, []float64{0.9, 0.9, 1.5},
			Settings{}, []uint8{255, 255, 255, 255, 255, 1, 1, 255}, []uint8{0, 0, 0, 0, 0, 255, 255, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, c := Mask(fourLabels, tc.concepts, tc.posteriors, tc.s)
			if m.Rect != image.Rect(0, 0, 4, 2) || c.Rect != m.Rect {
				t.Fatalf("bounds %v %v", m.Rect, c.Rect)
			}
			for i := range tc.ids {
				if m.Pix[i] != tc.ids[i] || c.Pix[i] != tc.conf[i] {
					t.Fatalf("ids %v conf %v, want %v %v", m.Pix, c.Pix, tc.ids, tc.conf)
				}
			}
			if len(m.Palette) != 256 {
				t.Errorf("palette of %d colours", len(m.Palette))
			}
		})
	}
}

func TestMaskPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"short-concepts":   func() { Mask(fourLabels, []int{0, 1}, nil, Settings{}) },
		"short-posteriors": func() { Mask(fourLabels, []int{0, 1, 2}, []float64{1}, Settings{}) },
		"id-too-large":     func() { Mask(fourLabels, []int{0, 256, 2}, nil, Settings{}) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			f()
		})
	}
}

func TestOverlay(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 4, 2))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = 10, 20, 30, 255
	}
	m, _ := Mask(fourLabels, []int{3, -1, 5}, nil, Settings{})
	t.Run("alpha-1-no-boundaries", func(t *testing.T) {
		o := Overlay(img, m, fourLabels, OverlaySettings{Alpha: 1, NoBoundaries: true})
		pal := Palette()
		for i, id := range m.Pix {
			x, y := i%4, i/4
			want := color.NRGBAModel.Convert(pal[id]).(color.NRGBA)
			if id == Unassigned {
				want = color.NRGBA{10, 20, 30, 255}
			}
			if got := o.NRGBAAt(x, y); got != want {
				t.Errorf("(%d,%d) = %v, want %v", x, y, got, want)
			}
		}
	})
	t.Run("default-blend", func(t *testing.T) {
		o := Overlay(img, m, nil, OverlaySettings{})
		c := Palette()[3].(color.RGBA)
		got := o.NRGBAAt(0, 0)
		want := uint8((10*(256-115) + int(c.R)*115 + 128) >> 8) // alpha 0.45 ≈ 115/256
		if got.R != want || got.A != 255 {
			t.Errorf("blend %v, want R %d", got, want)
		}
	})
	t.Run("boundaries", func(t *testing.T) {
		red := color.NRGBA{255, 0, 0, 255}
		o := Overlay(img, m, fourLabels, OverlaySettings{Boundary: red})
		// Pixels whose right or lower neighbour is another superpixel.
		for _, p := range []image.Point{{1, 0}, {0, 1}, {2, 1}, {2, 0}} {
			if o.NRGBAAt(p.X, p.Y) != red {
				t.Errorf("%v not drawn as boundary: %v", p, o.NRGBAAt(p.X, p.Y))
			}
		}
		if o.NRGBAAt(0, 0) == red || o.NRGBAAt(3, 1) == red || o.NRGBAAt(3, 0) == red || o.NRGBAAt(1, 1) == red {
			t.Error("interior pixel drawn as boundary")
		}
	})
}

func TestLegend(t *testing.T) {
	l := Legend(3, []string{"sky", ""})
	if l.Bounds().Dy() != 4*18+4 || l.Bounds().Dx() < 50 {
		t.Fatalf("legend size %v", l.Bounds())
	}
	pal := Palette()
	for i, id := range []int{0, 1, 2, Unassigned} {
		got := l.NRGBAAt(4+7, 4+i*18+7) // swatch centre
		want := color.NRGBAModel.Convert(pal[id])
		if got != want {
			t.Errorf("row %d swatch %v, want %v", i, got, want)
		}
	}
	// Some text pixels are dark.
	dark := 0
	for _, v := range l.Pix {
		if v < 64 {
			dark++
		}
	}
	if dark == 0 {
		t.Error("no text drawn")
	}
}

func BenchmarkMask(b *testing.B) {
	const w, h = 640, 480
	l := &superpixel.Labels{Width: w, Height: h, N: 300, Pix: make([]int32, w*h)}
	for i := range l.Pix {
		l.Pix[i] = int32((i % w / 37) + (i/w/37)*18)
	}
	concepts, post := make([]int, 300), make([]float64, 300)
	for i := range concepts {
		concepts[i], post[i] = i%8, float64(i)/300
	}
	for b.Loop() {
		Mask(l, concepts, post, Settings{MinConfidence: 0.3})
	}
}
