package superpixel_test

import (
	"fmt"
	"image"
	"image/color"

	"github.com/segdiscover/segdiscover/superpixel"
)

// A 96×64 image, red on the left and blue on the right of x = 40, cut into
// about 24 superpixels: none of them crosses the colour edge.
func ExampleSLIC() {
	img := image.NewNRGBA(image.Rect(0, 0, 96, 64))
	for y := range 64 {
		for x := range 96 {
			c := color.NRGBA{200, 30, 30, 255}
			if x >= 40 {
				c = color.NRGBA{30, 30, 200, 255}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	l := superpixel.SLIC(img, superpixel.Params{Segments: 24})
	crossing := 0
	side := make(map[int32]bool) // superpixel id -> lies left of the edge
	for y := range 64 {
		for x := range 96 {
			id := l.At(x, y)
			if left, seen := side[id]; seen && left != (x < 40) {
				crossing++
			}
			side[id] = x < 40
		}
	}
	fmt.Printf("%d superpixels, %d pixels on the wrong side of the edge\n", l.N, crossing)
	// Output: 20 superpixels, 0 pixels on the wrong side of the edge
}

func ExampleToLab() {
	img := image.NewNRGBA(image.Rect(0, 0, 1, 1))
	img.SetNRGBA(0, 0, color.NRGBA{255, 0, 0, 255})
	lab := superpixel.ToLab(img)
	fmt.Printf("L*=%.2f a*=%.2f b*=%.2f\n", lab.L[0], lab.A[0], lab.B[0])
	// Output: L*=53.24 a*=80.09 b*=67.20
}
