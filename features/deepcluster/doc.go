// Package deepcluster trains a convolutional encoder on a folder's own
// images by DeepCluster rounds (Caron, Bojanowski, Joulin and Douze, "Deep
// Clustering for Unsupervised Learning of Visual Features", ECCV 2018),
// adapted to superpixels: the pseudo-classes are clusters of superpixels,
// and the network is the segmentation FCN of package segnet trained on
// per-pixel labels painted from them.
//
// Round 0's labels are the clusters of the hand-crafted superpixel
// descriptor (the run's default feature block): standardised and fitted
// with the Gaussian mixture of package cluster, each superpixel labelled by
// its arg-max component. Each round then
//
//  1. trains the FCN for a few epochs on the labels (segnet.Trainer: random
//     scaled crops and flips, AdamW, cross-entropy per pixel), its body
//     kept from the previous round and its 1x1 classifier head
//     re-initialised, as DeepCluster re-initialises its classifier when
//     the clusters change (the cluster ids of two rounds do not
//     correspond);
//  2. computes the dense features of the body's last layer on every image,
//     averages them over each superpixel (masked average pooling),
//     standardises them (and projects them on their first principal axes),
//     and re-fits the mixture on them: the next round's labels.
//
// The last round skips step 2: its body is the encoder, whose pooled
// features are the run's learned feature block.
//
// Like DeepCluster, the clustering over-segments: more clusters than the
// concepts the user asks for (the paper uses 10 000 clusters for the 1 000
// ImageNet classes and finds that more clusters than classes help), so
// that the network learns distinctions finer than the final concepts and
// the final mixture, fitted on its features, groups them.
//
// Everything is a function of the seed: results do not depend on the worker
// count, and a trainer rebuilt from a Checkpoint continues bit for bit.
package deepcluster
