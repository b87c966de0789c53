// Package artifacttest builds the odd input files that tests of image
// decoding need (as net/http/httptest serves tests of HTTP code): a small
// two-colour card, a JPEG with an EXIF orientation, a PNG whose header
// claims more pixels than it holds.
package artifacttest

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"testing"
)

// Card returns a 6x4 image whose left half is red and right half blue, so
// that orientation and channel order are visible in any test.
func Card() *image.NRGBA {
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

// Encode returns the bytes enc writes, failing t if it fails.
func Encode(t testing.TB, enc func(*bytes.Buffer) error) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := enc(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// WithOrientation inserts an EXIF APP1 segment holding the given
// orientation tag right after a JPEG's SOI marker.
func WithOrientation(jpg []byte, orient uint16) []byte {
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

// PNGBomb returns a PNG whose header claims w x h pixels but whose data is
// that of a 1x1 image: a decoder that trusts the header allocates w*h*4 bytes.
func PNGBomb(t testing.TB, w, h uint32) []byte {
	b := Encode(t, func(b *bytes.Buffer) error { return png.Encode(b, image.NewGray(image.Rect(0, 0, 1, 1))) })
	// IHDR data starts at byte 16 (8 signature + 4 length + 4 type).
	binary.BigEndian.PutUint32(b[16:], w)
	binary.BigEndian.PutUint32(b[20:], h)
	binary.BigEndian.PutUint32(b[29:], crc32.ChecksumIEEE(b[12:29]))
	return b
}
