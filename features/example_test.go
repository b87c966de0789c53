package features_test

import (
	"fmt"
	"image"
	"image/color"
	"math/rand/v2"

	"github.com/segdiscover/segdiscover/features"
	"github.com/segdiscover/segdiscover/superpixel"
)

// twoRegions returns a 4x2 image whose left half is mid grey and right half
// red, with one superpixel per half.
func twoRegions() (*image.NRGBA, *superpixel.Labels) {
	img := image.NewNRGBA(image.Rect(0, 0, 4, 2))
	l := &superpixel.Labels{Width: 4, Height: 2, N: 2, Pix: make([]int32, 8)}
	for y := range 2 {
		for x := range 4 {
			c := color.NRGBA{128, 128, 128, 255}
			if x >= 2 {
				c = color.NRGBA{255, 0, 0, 255}
				l.Pix[y*4+x] = 1
			}
			img.SetNRGBA(x, y, c)
		}
	}
	return img, l
}

func ExampleDescribe() {
	img, l := twoRegions()
	s := &features.Settings{Blocks: features.LabMean | features.CentroidX}
	x := features.Describe(img, l, s)
	fmt.Println(s.Columns())
	for i := range l.N {
		fmt.Printf("%.1f\n", x.RawRowView(i))
	}
	// Output:
	// [lab_mean.L lab_mean.a lab_mean.b centroid_x]
	// [53.6 0.0 0.0 0.2]
	// [53.2 80.1 67.2 0.8]
}

func ExampleEncoder() {
	img, l := twoRegions()
	patches := features.ExtractPatches(img, l, 4)
	e := features.NewEncoder(features.PatchDims(4), features.EncoderSettings{Hidden: 8, Epochs: 5}, rand.NewPCG(1, 2))
	if _, err := e.Train(patches, rand.NewPCG(3, 4), nil); err != nil {
		fmt.Println(err)
		return
	}
	code := e.Encode(patches)
	r, c := code.Dims()
	fmt.Println(r, "superpixels,", c, "features each")
	// Output: 2 superpixels, 8 features each
}

func ExampleFitNormalizer() {
	img, l := twoRegions()
	x := features.Describe(img, l, nil)
	var m features.Moments
	m.Add(x) // once per image of the dataset
	n, ok := features.FitNormalizer(&m, features.NormalizerSettings{})
	if !ok {
		return
	}
	fmt.Printf("%.2f\n", n.Apply(x).RawRowView(1))
	// Output: [-1.00 1.00 1.00 0.00 0.00 0.00 0.00]
}
