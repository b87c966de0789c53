package segnet_test

import (
	"context"
	"fmt"
	"image"
	"image/color"

	"github.com/segdiscover/segdiscover/segnet"
)

// Train on one image whose left half is concept 0 and right half concept 1,
// then predict it.
func Example() {
	img := image.NewNRGBA(image.Rect(0, 0, 32, 24))
	mask := image.NewPaletted(img.Bounds(), nil)
	for y := range 24 {
		for x := range 32 {
			c, id := color.NRGBA{200, 40, 40, 255}, uint8(0)
			if x >= 16 {
				c, id = color.NRGBA{40, 40, 200, 255}, 1
			}
			img.SetNRGBA(x, y, c)
			mask.SetColorIndex(x, y, id)
		}
	}
	data := []segnet.Sample{{Image: img, Mask: mask}}
	tr, err := segnet.NewTrainer(segnet.Arch{Classes: 2}, data,
		segnet.TrainSettings{Epochs: 30, Batch: 1, LR: 1e-2, Height: 24, Width: 32, MinScale: 1, MaxScale: 1, Workers: 1}, 1)
	if err != nil {
		panic(err)
	}
	for !tr.Done() {
		if _, err := tr.Epoch(context.Background()); err != nil {
			panic(err)
		}
	}
	pred, _ := tr.Net().Predict(img)
	fmt.Println(pred.ColorIndexAt(2, 12), pred.ColorIndexAt(29, 12))
	// Output: 0 1
}
