package artifact

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/segdiscover/segdiscover/pseudolabel"
	"github.com/segdiscover/segdiscover/superpixel"
)

// testMask is a 7×3 mask using ids 0..19 and Unassigned.
func maskFileTestMask() *image.Paletted {
	l := &superpixel.Labels{Width: 7, Height: 3, N: 21, Pix: make([]int32, 21)}
	concepts := make([]int, 21)
	for i := range l.Pix {
		l.Pix[i] = int32(i)
		concepts[i] = i
	}
	concepts[20] = pseudolabel.Unassigned
	m, _ := pseudolabel.Mask(l, concepts, nil, pseudolabel.Settings{})
	return m
}

func TestMaskFileRoundTrip(t *testing.T) {
	m := maskFileTestMask()
	// A short palette is completed, so ids beyond it survive.
	short := *m
	short.Palette = m.Palette[:4]
	for name, in := range map[string]*image.Paletted{"full": m, "short-palette": &short} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := EncodeMask(&buf, in); err != nil {
				t.Fatal(err)
			}
			// The standard library reads the ids back.
			img, err := png.Decode(bytes.NewReader(buf.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			p, ok := img.(*image.Paletted)
			if !ok || !slices.Equal(p.Pix, m.Pix) || len(p.Palette) != 256 {
				t.Fatalf("png.Decode: %T, pix %v, palette %d", img, p.Pix, len(p.Palette))
			}
			got, err := DecodeMask(bytes.NewReader(buf.Bytes()), 0)
			if err != nil || !slices.Equal(got.Pix, m.Pix) || got.Palette[0] != in.Palette[0] {
				t.Fatalf("DecodeMask: %v %v", got, err)
			}
			cfg, err := DecodeMaskConfig(bytes.NewReader(buf.Bytes()))
			if err != nil || cfg.Width != 7 || cfg.Height != 3 {
				t.Errorf("DecodeMaskConfig: %+v %v", cfg, err)
			}
		})
	}
}

// TestMaskFilePillow reads a written mask with Python's Pillow, as labelling
// tools and training pipelines do: mode "P", pixel values = ids. It skips
// when /usr/bin/python3 or Pillow is missing (CI installs python3-pil).
func TestMaskFilePillow(t *testing.T) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import PIL").Run(); err != nil {
		t.Skip("no Pillow")
	}
	m := maskFileTestMask()
	path := filepath.Join(t.TempDir(), "mask.png")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := EncodeMask(f, m); err != nil {
		t.Fatal(err)
	}
	f.Close()
	out, err := exec.Command("/usr/bin/python3", "-c", `
import json, sys
from PIL import Image
im = Image.open(sys.argv[1])
print(json.dumps({"mode": im.mode, "size": im.size, "pix": list(im.getdata()), "pal": im.getpalette()[:6]}))
`, path).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	var got struct {
		Mode string
		Size []int
		Pix  []int
		Pal  []int
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want := make([]int, len(m.Pix))
	for i, v := range m.Pix {
		want[i] = int(v)
	}
	if got.Mode != "P" || !slices.Equal(got.Size, []int{7, 3}) || !slices.Equal(got.Pix, want) {
		t.Errorf("Pillow read mode %s size %v ids %v; want P [7 3] %v", got.Mode, got.Size, got.Pix, want)
	}
	c0 := pseudolabel.Palette()[0].(color.RGBA)
	if got.Pal[0] != int(c0.R) || got.Pal[1] != int(c0.G) || got.Pal[2] != int(c0.B) {
		t.Errorf("Pillow palette starts %v, want colour %v", got.Pal, c0)
	}
}

func TestConfidenceFileRoundTrip(t *testing.T) {
	c := image.NewGray(image.Rect(0, 0, 5, 2))
	for i := range c.Pix {
		c.Pix[i] = uint8(i * 25)
	}
	var buf bytes.Buffer
	if err := EncodeConfidence(&buf, c); err != nil {
		t.Fatal(err)
	}
	got, err := DecodeConfidence(&buf, 0)
	if err != nil || !slices.Equal(got.Pix, c.Pix) {
		t.Fatalf("%v %v", got, err)
	}
}

func maskFileEncodePNG(t testing.TB, img image.Image) []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDecodeIDsErrors(t *testing.T) {
	gray16 := maskFileEncodePNG(t, image.NewGray16(image.Rect(0, 0, 2, 2)))
	rgb := maskFileEncodePNG(t, image.NewNRGBA(image.Rect(0, 0, 2, 2)))
	gray := maskFileEncodePNG(t, image.NewGray(image.Rect(0, 0, 4, 4)))
	// A 1-bit grayscale PNG (decoders scale its values to 0/255).
	lowBit := slices.Clone(gray)
	lowBit[24] = 1
	tests := []struct {
		name   string
		decode func([]byte) error
		data   []byte
		want   error
	}{
		{"mask-empty", maskFileDecMask, nil, ErrEmpty},
		{"mask-not-png", maskFileDecMask, []byte("GIF89a........................................"), ErrCorrupt},
		{"mask-16bit", maskFileDecMask, gray16, ErrNotIDMap},
		{"mask-colour", maskFileDecMask, rgb, ErrNotIDMap},
		{"mask-low-bit-gray", maskFileDecMask, lowBit, ErrNotIDMap},
		{"mask-truncated", maskFileDecMask, gray[:len(gray)-20], ErrCorrupt},
		{"mask-too-large", func(b []byte) error { _, err := DecodeMask(bytes.NewReader(b), 15); return err }, gray, ErrTooLarge},
		{"idmap-colour", maskFileDecIDs, rgb, ErrNotIDMap},
		{"idmap-16bit-ok", maskFileDecIDs, gray16, nil},
		{"confidence-16bit", func(b []byte) error { _, err := DecodeConfidence(bytes.NewReader(b), 0); return err }, gray16, ErrNotIDMap},
		{"config-colour", func(b []byte) error { _, err := DecodeMaskConfig(bytes.NewReader(b)); return err }, rgb, ErrNotIDMap},
		{"config-short", func(b []byte) error { _, err := DecodeMaskConfig(bytes.NewReader(b)); return err }, gray[:10], ErrCorrupt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.decode(tc.data)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
		})
	}
}

func maskFileDecMask(b []byte) error { _, err := DecodeMask(bytes.NewReader(b), 0); return err }
func maskFileDecIDs(b []byte) error  { _, err := DecodeIDMap(bytes.NewReader(b), 0); return err }

func TestEncodeMaskTooManyColours(t *testing.T) {
	m := image.NewPaletted(image.Rect(0, 0, 1, 1), make(color.Palette, 300))
	if err := EncodeMask(&bytes.Buffer{}, m); err == nil || !strings.Contains(err.Error(), "256") {
		t.Errorf("error %v", err)
	}
}

// maskFuzzSeeds adds the id maps of the evaluation fixtures to the corpus.
func maskFuzzSeeds(f *testing.F) {
	files, _ := filepath.Glob("../testdata/eval/*/*/*/*.png")
	more, _ := filepath.Glob("../testdata/eval/*/*/*.png")
	for _, p := range append(files, more...) {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add(maskFileEncodePNG(f, maskFileTestMask()))
}

func FuzzDecodeMask(f *testing.F) {
	maskFuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeMask(bytes.NewReader(data), 1<<16)
		cfg, cerr := DecodeMaskConfig(bytes.NewReader(data))
		if err != nil {
			return
		}
		if cerr != nil || cfg.Width != m.Rect.Dx() || cfg.Height != m.Rect.Dy() {
			t.Fatalf("DecodeMask ok (%v) but DecodeMaskConfig %+v %v", m.Rect, cfg, cerr)
		}
		var buf bytes.Buffer
		if err := EncodeMask(&buf, m); err != nil {
			t.Fatal(err)
		}
		back, err := DecodeMask(&buf, 1<<16)
		if err != nil {
			t.Fatal(err)
		}
		for y := 0; y < m.Rect.Dy(); y++ {
			for x := 0; x < m.Rect.Dx(); x++ {
				if back.ColorIndexAt(x, y) != m.ColorIndexAt(m.Rect.Min.X+x, m.Rect.Min.Y+y) {
					t.Fatalf("round trip changed id at (%d,%d)", x, y)
				}
			}
		}
	})
}

func FuzzDecodeIDMap(f *testing.F) {
	maskFuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := DecodeIDMap(bytes.NewReader(data), 1<<16)
		if err != nil {
			return
		}
		// Whatever decodes must be accepted by the evaluation.
		c := pseudolabel.NewConfusion(256, -1)
		if err := c.Add(img, img); err != nil && !strings.Contains(err.Error(), "not a class") {
			t.Fatal(err)
		}
	})
}

func FuzzDecodeConfidence(f *testing.F) {
	maskFuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeConfidence(bytes.NewReader(data), 1<<16)
		if err != nil {
			return
		}
		if len(c.Pix) < c.Rect.Dx()*c.Rect.Dy() {
			t.Fatal("short pixel buffer")
		}
	})
}

func ExampleEncodeMask() {
	l := &superpixel.Labels{Width: 3, Height: 1, N: 3, Pix: []int32{0, 1, 2}}
	mask, conf := pseudolabel.Mask(l, []int{4, 0, -1}, []float64{0.8, 1, 0}, pseudolabel.Settings{})
	var m, c bytes.Buffer
	if err := EncodeMask(&m, mask); err != nil {
		fmt.Println(err)
		return
	}
	if err := EncodeConfidence(&c, conf); err != nil {
		fmt.Println(err)
		return
	}
	back, err := DecodeMask(&m, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	cback, err := DecodeConfidence(&c, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(back.Pix, cback.Pix)
	// Output: [4 0 255] [204 255 0]
}
