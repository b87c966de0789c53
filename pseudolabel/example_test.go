package pseudolabel_test

import (
	"fmt"
	"image"

	"gonum.org/v1/gonum/mat"

	"github.com/segdiscover/segdiscover/pseudolabel"
	"github.com/segdiscover/segdiscover/superpixel"
)

func ExampleMask() {
	// Two superpixels side by side; the second is below the threshold.
	l := &superpixel.Labels{Width: 4, Height: 1, N: 2, Pix: []int32{0, 0, 1, 1}}
	mask, conf := pseudolabel.Mask(l, []int{2, 5}, []float64{0.9, 0.4}, pseudolabel.Settings{MinConfidence: 0.5})
	fmt.Println(mask.Pix, conf.Pix)
	// Output: [2 2 255 255] [230 230 102 102]
}

func ExampleAssign() {
	// Matched pixels between 3 predicted ids (rows) and 2 classes.
	m := mat.NewDense(3, 2, []float64{
		1, 1,
		2, 0,
		0, 2,
	})
	toClass, ok := pseudolabel.Assign(m, true)
	fmt.Println(toClass, ok)
	// Output: [-1 0 1] true
}

func ExampleConfusion() {
	gt := image.NewGray(image.Rect(0, 0, 4, 1))
	copy(gt.Pix, []uint8{0, 0, 1, 255}) // 255: void
	pred := image.NewGray(image.Rect(0, 0, 4, 1))
	copy(pred.Pix, []uint8{7, 7, 3, 3})

	c := pseudolabel.NewConfusion(2, pseudolabel.DefaultIgnore)
	if err := c.Add(pred, gt); err != nil {
		fmt.Println(err)
		return
	}
	s := c.Score(nil)
	fmt.Printf("K=%d mIoU=%.2f acc=%.2f map=%v\n", s.NumPredIDs, s.Hungarian.MIoU, s.Hungarian.PixelAcc, s.Hungarian.ClusterToClass)
	fmt.Printf("many-to-one mIoU=%.2f\n", s.ManyToOne.MIoU)
	// Output:
	// K=8 mIoU=1.00 acc=1.00 map=[-1 -1 -1 1 -1 -1 -1 0]
	// many-to-one mIoU=1.00
}
