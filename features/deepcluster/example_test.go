package deepcluster

import (
	"context"
	"fmt"

	"github.com/segdiscover/segdiscover/segnet"
)

// The loop a caller runs: train the current round epoch by epoch,
// re-cluster when a round is over, until the last round is trained; a
// Checkpoint may be taken between any two calls.
func ExampleTrainer() {
	data, _ := textureData(8, 0, 1, 1) // 8 images of 48 grid superpixels
	s := Settings{Rounds: 2, Epochs: 2, Clusters: 4, Layers: []segnet.LayerSpec{{Out: 8, Stride: 2, Dilation: 1}},
		Train: segnet.TrainSettings{Batch: 4, Height: 32, Width: 32}}
	ctx := context.Background()
	tr, cs, err := New(ctx, data, s, 1)
	if err != nil {
		panic(err)
	}
	fmt.Printf("round 1 labels: %d clusters of the hand-crafted features of %d superpixels\n", cs.Used, cs.Rows)
	for !tr.Done() {
		if tr.NeedsCluster() {
			cs, err := tr.Cluster(ctx)
			if err != nil {
				panic(err)
			}
			fmt.Printf("round %d labels: %d clusters of the network's features\n", cs.Round+1, cs.Used)
			continue
		}
		es, err := tr.Epoch(ctx)
		if err != nil {
			panic(err)
		}
		done, total := tr.Steps()
		fmt.Printf("round %d epoch %d: step %d of %d\n", tr.Round()+1, es.Epoch, done, total)
	}
	fmt.Println("encoder channels:", tr.Encoder().Channels())
	// Output:
	// round 1 labels: 4 clusters of the hand-crafted features of 384 superpixels
	// round 1 epoch 1: step 2 of 8
	// round 1 epoch 2: step 4 of 8
	// round 2 labels: 4 clusters of the network's features
	// round 2 epoch 1: step 6 of 8
	// round 2 epoch 2: step 8 of 8
	// encoder channels: 8
}
