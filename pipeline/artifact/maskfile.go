package artifact

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"

	"github.com/segdiscover/segdiscover/pseudolabel"
)

// Concept masks (pseudolabels/<rel>.png, masks/<rel>.png) are 8-bit
// paletted PNGs, the PASCAL VOC convention: the pixel values are concept
// ids 0..254 and 255 = unassigned, so tools that read indices (Pillow's
// mode "P", numpy.asarray) get the ids and people who open the file see
// colours. Confidence maps (<rel>.conf.png) are 8-bit grayscale PNGs,
// round(255·posterior).

var maskPNGSignature = []byte("\x89PNG\r\n\x1a\n")

// maskPNGHeader returns the bit depth and colour type of a PNG's IHDR chunk.
func maskPNGHeader(data []byte) (depth, colorType byte, ok bool) {
	if len(data) < 33 || !bytes.Equal(data[:8], maskPNGSignature) || string(data[12:16]) != "IHDR" {
		return 0, 0, false
	}
	return data[24], data[25], true
}

// PNG colour types (PNG spec, IHDR).
const (
	maskPNGGray    = 0
	maskPNGPalette = 3
)

// EncodeMask writes m as an 8-bit paletted PNG. A palette shorter than 256
// entries is completed with pseudolabel.Palette's colours so that every id
// has a colour and the file is always 8-bit.
func EncodeMask(w io.Writer, m *image.Paletted) error {
	out := *m
	if len(m.Palette) < 256 {
		out.Palette = append(append(color.Palette(nil), m.Palette...), pseudolabel.Palette()[len(m.Palette):]...)
	} else if len(m.Palette) > 256 {
		return fmt.Errorf("mask palette has %d colours, PNG allows 256", len(m.Palette))
	}
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	return enc.Encode(w, &out)
}

// EncodeConfidence writes c as an 8-bit grayscale PNG.
func EncodeConfidence(w io.Writer, c *image.Gray) error {
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	return enc.Encode(w, c)
}

// ErrNotIDMap is returned for a PNG that does not hold one id per pixel.
var ErrNotIDMap = errors.New("not a single-channel id map (want an 8-bit paletted, 8-bit or 16-bit grayscale PNG)")

// DecodeMaskConfig returns the size of a mask file without decoding its
// pixels, and fails like DecodeMask on files that are not 8-bit paletted or
// grayscale PNGs.
func DecodeMaskConfig(r io.Reader) (image.Config, error) {
	head := make([]byte, 33)
	n, err := io.ReadFull(r, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return image.Config{}, fmt.Errorf("mask: %w", err)
	}
	return maskConfig(head[:n], io.MultiReader(bytes.NewReader(head[:n]), r))
}

func maskConfig(head []byte, r io.Reader) (image.Config, error) {
	depth, ct, ok := maskPNGHeader(head)
	if !ok {
		return image.Config{}, fmt.Errorf("mask: %w: not a PNG", ErrCorrupt)
	}
	if !(ct == maskPNGPalette && depth <= 8) && !(ct == maskPNGGray && depth == 8) {
		return image.Config{}, fmt.Errorf("mask: %w (bit depth %d, colour type %d)", ErrNotIDMap, depth, ct)
	}
	cfg, err := png.DecodeConfig(r)
	if err != nil {
		return image.Config{}, fmt.Errorf("mask: %w: %v", ErrCorrupt, err)
	}
	return cfg, nil
}

// DecodeMask reads a concept mask: an 8-bit paletted PNG (pixel values are
// the palette indices) or an 8-bit grayscale PNG of ids, which gets
// pseudolabel.Palette(). Files of more than maxPixels pixels
// (DefaultMaxPixels if maxPixels <= 0) are refused before allocation.
func DecodeMask(r io.Reader, maxPixels int) (*image.Paletted, error) {
	img, err := decodeIDs(r, maxPixels, "mask", false)
	if err != nil {
		return nil, err
	}
	switch m := img.(type) {
	case *image.Paletted:
		return m, nil
	case *image.Gray:
		return &image.Paletted{Pix: m.Pix, Stride: m.Stride, Rect: m.Rect, Palette: pseudolabel.Palette()}, nil
	}
	return nil, fmt.Errorf("mask: %w", ErrNotIDMap)
}

// DecodeIDMap reads a PNG of one integer id per pixel, as predictions and
// ground-truth label maps are stored: an 8-bit paletted PNG (ids are the
// palette indices), or an 8- or 16-bit grayscale PNG. The result is an
// *image.Paletted, *image.Gray or *image.Gray16 (what
// pseudolabel.Confusion.Add takes). Grayscale of fewer than 8 bits is
// refused, since decoders rescale its values. Files of more than maxPixels
// pixels (DefaultMaxPixels if maxPixels <= 0) are refused before
// allocation.
func DecodeIDMap(r io.Reader, maxPixels int) (image.Image, error) {
	return decodeIDs(r, maxPixels, "id map", true)
}

func decodeIDs(r io.Reader, maxPixels int, what string, allow16 bool) (image.Image, error) {
	if maxPixels <= 0 {
		maxPixels = DefaultMaxPixels
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("%s: %w", what, ErrEmpty)
	}
	depth, ct, ok := maskPNGHeader(data)
	if !ok {
		return nil, fmt.Errorf("%s: %w: not a PNG", what, ErrCorrupt)
	}
	switch {
	case ct == maskPNGPalette && depth <= 8, ct == maskPNGGray && depth == 8, ct == maskPNGGray && depth == 16 && allow16:
	default:
		return nil, fmt.Errorf("%s: %w (bit depth %d, colour type %d)", what, ErrNotIDMap, depth, ct)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %v", what, ErrCorrupt, err)
	}
	if int64(cfg.Width)*int64(cfg.Height) > int64(maxPixels) {
		return nil, fmt.Errorf("%s: %w: %dx%d", what, ErrTooLarge, cfg.Width, cfg.Height)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %v", what, ErrCorrupt, err)
	}
	switch img.(type) {
	case *image.Paletted, *image.Gray, *image.Gray16:
		return img, nil
	}
	// A tRNS chunk makes the decoder return another type; the ids are lost.
	return nil, fmt.Errorf("%s: %w (decoded as %T)", what, ErrNotIDMap, img)
}

// DecodeConfidence reads a confidence map: an 8-bit grayscale PNG. Files of
// more than maxPixels pixels (DefaultMaxPixels if maxPixels <= 0) are
// refused before allocation.
func DecodeConfidence(r io.Reader, maxPixels int) (*image.Gray, error) {
	img, err := decodeIDs(r, maxPixels, "confidence map", false)
	if err != nil {
		return nil, err
	}
	g, ok := img.(*image.Gray)
	if !ok {
		return nil, fmt.Errorf("confidence map: %w: paletted, want 8-bit grayscale", ErrNotIDMap)
	}
	return g, nil
}
