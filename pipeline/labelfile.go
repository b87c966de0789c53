package pipeline

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"io"

	"github.com/segdiscover/segdiscover/superpixel"
)

// MaxLabelID is the largest segment id a label file can hold (16 bits).
const MaxLabelID = 1<<16 - 1

// EncodeLabels writes l as a 16-bit grayscale PNG whose pixel values are
// segment ids (the superpixels/<rel>.png format). It fails if l has more
// than MaxLabelID+1 segments.
func EncodeLabels(w io.Writer, l *superpixel.Labels) error {
	if l.N > MaxLabelID+1 {
		return fmt.Errorf("label map has %d segments; a 16-bit file holds at most %d", l.N, MaxLabelID+1)
	}
	g := image.NewGray16(image.Rect(0, 0, l.Width, l.Height))
	for i, v := range l.Pix {
		g.Pix[2*i] = uint8(v >> 8)
		g.Pix[2*i+1] = uint8(v)
	}
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	return enc.Encode(w, g)
}

// DecodeLabels reads a label map written by EncodeLabels, or any 8- or
// 16-bit grayscale PNG of ids. N is set to the largest id plus one; ids are
// not required to be contiguous. Images of more than maxPixels pixels
// (DefaultMaxPixels if maxPixels <= 0) are refused before allocation.
func DecodeLabels(r io.Reader, maxPixels int) (*superpixel.Labels, error) {
	if maxPixels <= 0 {
		maxPixels = DefaultMaxPixels
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("label map: %w", err)
	}
	if int64(cfg.Width)*int64(cfg.Height) > int64(maxPixels) {
		return nil, fmt.Errorf("label map: %w: %dx%d", ErrTooLarge, cfg.Width, cfg.Height)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("label map: %w", err)
	}
	b := img.Bounds()
	l := &superpixel.Labels{Width: b.Dx(), Height: b.Dy(), Pix: make([]int32, b.Dx()*b.Dy())}
	var maxID int32 = -1
	switch g := img.(type) {
	case *image.Gray16:
		for y := 0; y < l.Height; y++ {
			row := g.Pix[y*g.Stride : y*g.Stride+2*l.Width]
			for x := 0; x < l.Width; x++ {
				v := int32(row[2*x])<<8 | int32(row[2*x+1])
				l.Pix[y*l.Width+x] = v
				maxID = max(maxID, v)
			}
		}
	case *image.Gray:
		for y := 0; y < l.Height; y++ {
			row := g.Pix[y*g.Stride : y*g.Stride+l.Width]
			for x, v := range row {
				l.Pix[y*l.Width+x] = int32(v)
				maxID = max(maxID, int32(v))
			}
		}
	default:
		return nil, fmt.Errorf("label map: %T is not a single-channel grayscale PNG", img)
	}
	l.N = int(maxID) + 1
	return l, nil
}
