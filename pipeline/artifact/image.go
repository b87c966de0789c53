package artifact

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"io"

	// Formats accepted as input. JPEG, PNG and GIF come from the standard
	// library; BMP, TIFF and WebP from golang.org/x/image.
	_ "image/gif"
	_ "image/jpeg"
	_ "image/png"

	"github.com/disintegration/imaging"
	_ "golang.org/x/image/bmp"
	_ "golang.org/x/image/tiff"
	_ "golang.org/x/image/webp"
)

// DefaultMaxPixels is the largest image, in pixels (width*height), that
// DecodeImage accepts when given a limit of 0: 50 megapixels, the largest
// photographs of common cameras. A run also holds at most this many pixels
// in flight over all its workers (see pixelBudget), which bounds its
// memory: about 28 bytes per pixel, 1.4 GB at the default.
const DefaultMaxPixels = 50_000_000

// MaxImageFileBytes bounds how much of one input file is read into memory. No
// sane image under the pixel limit comes near it; it stops a multi-gigabyte
// non-image from being slurped.
const MaxImageFileBytes = 1 << 30

// Errors that classify bad input. They are wrapped with the file name and
// details; test with errors.Is.
var (
	ErrEmpty    = errors.New("empty file")
	ErrTooLarge = errors.New("image exceeds the pixel limit")
	ErrFormat   = errors.New("not a supported image (JPEG, PNG, GIF, BMP, TIFF, WebP)")
	ErrCorrupt  = errors.New("corrupt or truncated image data")
)

// DecodeImageConfig returns the dimensions and format name ("jpeg", "png",
// "gif", "bmp", "tiff" or "webp") of an image without decoding its pixels.
// Dimensions are as stored, before any EXIF rotation.
func DecodeImageConfig(r io.Reader) (image.Config, string, error) {
	cfg, format, err := image.DecodeConfig(r)
	if err != nil {
		return image.Config{}, "", classify(err)
	}
	return cfg, format, nil
}

// DecodeImage decodes an image in any supported format and returns it as an
// opaque 8-bit sRGB *image.NRGBA with its origin at (0, 0).
//
// The header is read first and an image of more than maxPixels pixels
// (DefaultMaxPixels if maxPixels <= 0) is refused with ErrTooLarge before
// any pixel memory is allocated, so decompression bombs cost nothing. JPEG
// EXIF orientation is applied. Grayscale, 16-bit, paletted, CMYK and
// alpha images are converted: 16-bit samples are rounded down to their high
// byte and alpha is dropped (colour channels keep their unpremultiplied
// values), since every stage works on colour alone.
func DecodeImage(r io.Reader, maxPixels int) (*image.NRGBA, error) {
	if maxPixels <= 0 {
		maxPixels = DefaultMaxPixels
	}
	data, err := io.ReadAll(io.LimitReader(r, MaxImageFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) == 0 {
		return nil, ErrEmpty
	}
	if len(data) > MaxImageFileBytes {
		return nil, fmt.Errorf("%w: file larger than %d bytes", ErrTooLarge, MaxImageFileBytes)
	}
	cfg, format, err := DecodeImageConfig(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, fmt.Errorf("%w: %s image of %dx%d pixels", ErrCorrupt, format, cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > int64(maxPixels) {
		return nil, fmt.Errorf("%w: %s image of %dx%d pixels, limit %d", ErrTooLarge, format, cfg.Width, cfg.Height, maxPixels)
	}
	img, err := imaging.Decode(bytes.NewReader(data), imaging.AutoOrientation(true))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", format, classify(err))
	}
	return toOpaqueNRGBA(img), nil
}

// classify maps decoder errors onto our error kinds while keeping the
// decoder's own message, which often says what exactly is wrong.
func classify(err error) error {
	switch {
	case errors.Is(err, image.ErrFormat):
		return ErrFormat
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return fmt.Errorf("%w: %v", ErrCorrupt, "unexpected end of data")
	default:
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
}

func toOpaqueNRGBA(img image.Image) *image.NRGBA {
	b := img.Bounds()
	var dst *image.NRGBA
	switch src := img.(type) {
	case *image.NRGBA:
		if b.Min == (image.Point{}) {
			dst = src
		} else {
			dst = imaging.Clone(src)
		}
	case *image.YCbCr, *image.Gray, *image.CMYK:
		// Opaque models: RGBA and NRGBA hold the same bytes, and draw has
		// fast paths into RGBA only (into NRGBA it goes pixel by pixel
		// through interfaces: 1.8 of the 5 ms of decoding a BSDS JPEG).
		rgba := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
		draw.Draw(rgba, rgba.Bounds(), src, b.Min, draw.Src)
		dst = &image.NRGBA{Pix: rgba.Pix, Stride: rgba.Stride, Rect: rgba.Rect}
	case *image.RGBA:
		// Premultiplied: draw's fast path un-premultiplies exactly.
		dst = image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
		draw.Draw(dst, dst.Bounds(), src, b.Min, draw.Src)
	default:
		// imaging.Clone keeps unpremultiplied colour for translucent pixels
		// and handles 16-bit, paletted and other models.
		dst = imaging.Clone(img)
	}
	for i := 3; i < len(dst.Pix); i += 4 {
		dst.Pix[i] = 0xff
	}
	return dst
}
