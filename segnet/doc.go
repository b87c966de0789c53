// Package segnet is a small fully convolutional segmentation network trained
// on CPU from pseudo-labels ("neural network smoothing" in SegDiscover, Huang,
// Chen & Rudin 2022), with hand-written forward and backward passes on float32
// NCHW tensors.
//
// Layers: 3x3 convolution with stride, dilation and zero padding computed as
// im2col + GEMM (Chellapilla et al. 2006) through gonum's swappable blas32
// interface; batch normalisation (Ioffe & Szegedy 2015) fused with ReLU;
// a 1x1 classifier with bias; bilinear resizing with PyTorch's
// align_corners=False convention (source = (dst+0.5)*in/out-0.5, clamped at
// 0); softmax cross-entropy averaged over the pixels whose label is not 255,
// optionally weighted per pixel by confidence:
//
//	L = sum_i w_i * (logsumexp(z_i) - z_i[y_i]) / sum_i w_i.
//
// Optimiser: Adam (Kingma & Ba 2015) with decoupled weight decay (AdamW,
// Loshchilov & Hutter 2019) on convolution weights, and a cosine learning-rate
// schedule lr_t = lr * (1 + cos(pi*t/T)) / 2 (SGDR without restarts).
//
// The default architecture is that of peers/segnet_ref.py: six conv3x3+BN+ReLU
// layers (3->32 stride 2, 32->64 stride 2, 64->64, 64->64 dilation 2,
// 64->64 dilation 4, 64->64), a 1x1 head to K classes, and x4 bilinear
// upsampling.
//
// Training (Trainer) normalises inputs with the data's per-channel mean and
// standard deviation, and augments each sample with a random horizontal flip
// and a random scaled crop (the image scaled to cover the crop, zoomed by a
// factor uniform in [MinScale, MaxScale], a uniformly placed window; pixels
// outside the image are ignored). All randomness comes from one PCG seeded by
// the caller, drawn on one goroutine, and every parallel result is merged in
// a fixed order, so a seed fixes the result bit for bit (whatever the worker
// count), and a Checkpoint after any epoch resumes to exactly that result.
// The samples come through the Samples interface, fetched batch by batch
// when each batch is built (NewStreamTrainer), so a trainer need not hold the
// dataset; where they come from does not change a bit of the result.
//
// Work is split by image: each worker runs a layer (im2col in blocks that
// stay in its L2 cache, GEMM, then the BN step) on one image at a time, so
// that BN statistics, BN+ReLU and the BN gradient are computed on data still
// in cache; only the pre-BN outputs are stored. Workers take the next image
// as they become free; every per-image partial result (BN statistics and
// gradient sums, weight gradients, loss) is merged in image order, so
// training does not depend on the worker count at all.
// Prediction has no batch statistics and runs each image through the whole
// network, resizing the logits row by row straight into the softmax.
// PredictRegions averages the full-resolution softmax posteriors over the
// regions of a partition of the image (the run's SLIC superpixels), as
// superpixel-based refinement of a CNN's output does (e.g. Gadde et al.,
// "Superpixel convolutional networks using bilateral inceptions", ECCV
// 2016, average within superpixels as its simplest form): the arg-max of
// each region's mean posterior puts the mask's edges on the superpixels'
// edges, which follow the image's own edges at full resolution, instead
// of on the bilinear upsampling of a quarter-resolution output.
//
// Build with -tags openblas (cgo, Debian's libopenblas-dev) to route blas32
// Sgemm to OpenBLAS; Backend reports which implementation is in use. That
// build sets OpenBLAS to one thread per call, for the whole program: segnet
// runs its GEMMs from several goroutines at once, and OpenBLAS threads on top
// would oversubscribe the cores. It also replaces the elementwise kernels
// (kernels_go.go) by C versions that GCC vectorises (kernels_cgo.go), with
// a polynomial exponential in the softmax; the confidence it returns is
// still exactly that of math.Exp.
//
// SwAV (swav.go) trains the same layers without labels (Caron et al.,
// "Unsupervised learning of visual features by contrasting cluster
// assignments", NeurIPS 2020): multi-crop views centred on superpixels, a
// projection head of average pooling, Linear, BatchNorm1d+ReLU, Linear and
// a non-affine BatchNorm1d (the layers above with hw = 1), L2-normalised
// embeddings and prototypes, codes by Sinkhorn-Knopp over the batch and a
// queue, and the swapped cross-entropy
//
//	L = 1/(2(V-1)) Σ_{v global} Σ_{w≠v} mean_b -Σ_k q_v[b,k] log softmax(<u_w[b], c>/τ)_k.
//
// Encoder then gives dense features of a whole image from a chosen layer.
//
// The package is pure: parameters, optimiser state and RNG state are exposed
// as named tensors and strings; pipeline/artifact encodes them as safetensors.
package segnet
