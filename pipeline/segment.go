package pipeline

import (
	"image"

	"github.com/segdiscover/segdiscover/superpixel"
)

// segment computes the superpixels of img with the settings of c.
func segment(img *image.NRGBA, c Config) *superpixel.Labels {
	return superpixel.SLIC(img, superpixel.Params{
		Segments:    c.Segments,
		Compactness: c.Compactness,
		Iterations:  c.Iterations,
		SLICO:       c.SLICO,
	})
}
