package pipeline

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// card returns a 6x4 image whose left half is red and right half blue, so
// that orientation and channel order are visible in any test.
func card() *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, 6, 4))
	for y := 0; y < 4; y++ {
		for x := 0; x < 6; x++ {
			c := color.NRGBA{220, 20, 20, 255}
			if x >= 3 {
				c = color.NRGBA{20, 20, 220, 255}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

func encode(t testing.TB, enc func(*bytes.Buffer) error) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := enc(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// withOrientation inserts an EXIF APP1 segment holding the given
// orientation tag right after a JPEG's SOI marker.
func withOrientation(jpg []byte, orient uint16) []byte {
	var tiffData bytes.Buffer
	tiffData.WriteString("II*\x00")
	binary.Write(&tiffData, binary.LittleEndian, uint32(8)) // IFD0 offset
	binary.Write(&tiffData, binary.LittleEndian, uint16(1)) // one entry
	binary.Write(&tiffData, binary.LittleEndian, uint16(0x0112))
	binary.Write(&tiffData, binary.LittleEndian, uint16(3)) // SHORT
	binary.Write(&tiffData, binary.LittleEndian, uint32(1))
	binary.Write(&tiffData, binary.LittleEndian, orient)
	binary.Write(&tiffData, binary.LittleEndian, uint16(0))
	binary.Write(&tiffData, binary.LittleEndian, uint32(0)) // no next IFD
	payload := append([]byte("Exif\x00\x00"), tiffData.Bytes()...)
	seg := []byte{0xff, 0xe1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(payload)+2))
	out := append([]byte{}, jpg[:2]...)
	out = append(out, seg...)
	out = append(out, payload...)
	return append(out, jpg[2:]...)
}

// pngBomb returns a PNG whose header claims w x h pixels but whose data is
// that of a 1x1 image: a decoder that trusts the header allocates w*h*4 bytes.
func pngBomb(t testing.TB, w, h uint32) []byte {
	b := encode(t, func(b *bytes.Buffer) error { return png.Encode(b, image.NewGray(image.Rect(0, 0, 1, 1))) })
	// IHDR data starts at byte 16 (8 signature + 4 length + 4 type).
	binary.BigEndian.PutUint32(b[16:], w)
	binary.BigEndian.PutUint32(b[20:], h)
	binary.BigEndian.PutUint32(b[29:], crc32.ChecksumIEEE(b[12:29]))
	return b
}

// TestLoadImageFolder checks that in a folder of good and bad files every
// bad one fails with an error naming it and the reason, and every good one
// loads regardless.
func TestLoadImageFolder(t *testing.T) {
	dir := t.TempDir()
	jpg := encode(t, func(b *bytes.Buffer) error { return jpeg.Encode(b, card(), nil) })
	files := map[string][]byte{
		"good.jpg":          jpg,
		"sub/good.png":      encode(t, func(b *bytes.Buffer) error { return png.Encode(b, card()) }),
		"empty.jpg":         nil,
		"notes.jpg":         []byte("hello"),
		"cut.jpg":           jpg[:len(jpg)-40],
		"bomb.png":          pngBomb(t, 50_000, 50_000),
		"rotated.jpg":       withOrientation(jpg, 6),
		"sub/deeper/ok.gif": encode(t, func(b *bytes.Buffer) error { return gif.Encode(b, card(), nil) }),
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	list, err := ListImages(dir)
	if err != nil {
		t.Fatal(err)
	}
	wantBad := map[string]string{"empty": "empty file", "notes": "not a supported image", "cut": "corrupt", "bomb": "pixel limit"}
	if len(list) != len(files) {
		t.Fatalf("listed %d files, want %d", len(list), len(files))
	}
	for _, f := range list {
		img, err := LoadImage(f.Path, 0)
		reason, bad := wantBad[f.Rel]
		switch {
		case bad && err == nil:
			t.Errorf("%s: loaded, want error %q", f.Rel, reason)
		case bad && (!strings.Contains(err.Error(), f.Path) || !strings.Contains(err.Error(), reason)):
			t.Errorf("%s: error %q does not name the file and %q", f.Rel, err, reason)
		case !bad && (err != nil || img == nil):
			t.Errorf("%s: %v", f.Rel, err)
		}
	}
}
