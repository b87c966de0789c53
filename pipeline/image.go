package pipeline

import (
	"fmt"
	"image"
	"os"

	"github.com/segdiscover/segdiscover/pipeline/artifact"
)

// LoadImage reads and decodes the image file at path (see
// artifact.DecodeImage). Every error names the file.
func LoadImage(path string, maxPixels int) (*image.NRGBA, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err // *PathError already names the file
	}
	defer f.Close()
	img, err := artifact.DecodeImage(f, maxPixels)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return img, nil
}
