// Package features turns superpixels into feature vectors, one row per
// superpixel in superpixel-id order, for the clustering stage to group
// into concepts. It is pure: images, label maps and matrices in, matrices
// out; the pipeline package stores the results.
//
// # Hand-crafted descriptor
//
// Describe computes, in one sweep over an image and its label map (a
// second sweep for texture), a choice of blocks (Settings.Blocks):
//
//   - LabMean, LabStd: mean and standard deviation of CIELAB L*, a*, b*
//     (sRGB, D65, as skimage.color.rgb2lab);
//   - CentroidX, CentroidY, Area: normalised position and size;
//   - GradStats: mean and spread of the gradient magnitude of L*;
//   - GradHist: histogram of gradient orientations weighted by magnitude
//     (the cell histogram of Dalal and Triggs' HOG, over a superpixel);
//   - LBP: rotation-invariant uniform local binary patterns, P=8, R=1
//     (T. Ojala, M. Pietikäinen, T. Mäenpää, "Multiresolution gray-scale
//     and rotation invariant texture classification with local binary
//     patterns", IEEE TPAMI 24(7), 2002).
//
// DefaultBlocks is LabMean+LabStd+CentroidY. Measured on Stanford
// Background (715 images, skimage SLIC with 300 segments, standardised
// features, an 8-component full-covariance GMM, Hungarian-matched mIoU),
// adding texture histograms to the colour statistics lowered the mIoU: a
// full-covariance mixture spends its components on the many correlated
// histogram bins. The blocks remain available, with per-block weights
// applied after standardisation (Settings.ColumnWeights,
// NormalizerSettings.Weights).
//
// # Learned encoders
//
// ExtractPatches gives each superpixel a small fixed-size RGB patch (its
// bounding box, other superpixels' pixels replaced by the image mean);
// Reservoir keeps a bounded, order-independent uniform sample of patches
// from a whole dataset to train on. Encoder is a one-hidden-layer
// autoencoder trained with minibatch Adam (D. P. Kingma, J. Ba, "Adam: a
// method for stochastic optimization", ICLR 2015); its features are the
// hidden activations:
//
//   - SparseSigmoid follows A. Ng, "Sparse autoencoder", CS294A lecture
//     notes, Stanford, 2011: sigmoid hidden and output units, loss
//     (1/2m)Σ||y-x||² + (λ/2)Σ W² + β Σ_j KL(ρ || ρ̂_j), with ρ̂_j the mean
//     activation of hidden unit j over the batch and KL the divergence
//     between Bernoulli variables of means ρ and ρ̂_j;
//   - SparseReLU replaces the KL penalty by an L1 penalty on the code,
//     λ₁ (1/m) Σ_i ||a_i||₁, with ReLU hidden and softplus output units;
//   - either becomes a denoising autoencoder (P. Vincent, H. Larochelle,
//     Y. Bengio, P.-A. Manzagol, "Extracting and composing robust features
//     with denoising autoencoders", ICML 2008) with MaskingNoise or
//     GaussianNoise: the encoder sees a corrupted input and the loss
//     compares the output with the clean one.
//
// Two deeper members of the family train on the same patches:
//
//   - Stacked is a stacked autoencoder (Y. Bengio, P. Lamblin, D. Popovici,
//     H. Larochelle, "Greedy layer-wise training of deep networks", NIPS
//     2006; stacked denoising autoencoders: P. Vincent et al., JMLR 11,
//     2010): 2 or 3 autoencoder layers of any of the kinds above, code
//     sizes shrinking geometrically from the input to the feature
//     dimension, each trained greedily on the codes of the layers below,
//     then all encoders and decoders fine-tuned together on the
//     reconstruction of the input; its features are the top code;
//   - VAE is a variational autoencoder (D. P. Kingma, M. Welling,
//     "Auto-encoding variational Bayes", ICLR 2014): a softplus MLP
//     encoder giving the mean μ and log-variance ℓ of a diagonal Gaussian
//     q(z|x), a sample z = μ + exp(ℓ/2)·ε with the noise ε passed in (the
//     reparameterisation trick), a softplus MLP decoder giving the mean of
//     a Gaussian p(x|z) whose one variance is set to its
//     maximum-likelihood value on each batch (O. Rybkin, K. Daniilidis,
//     S. Levine, "Simple and effective VAE training with calibrated
//     decoders", ICML 2021), and the loss -E_q log p(x|z) + β·KL(q || N(0, I))
//     (β = 1: the negative evidence lower bound); its features are the
//     posterior means μ.
//
// PatchEncoder is what the three have in common, and LoadPatchEncoder
// restores any of them from its Params.
//
// The layers' products go through gonum's mat, and hence through the
// blas64 implementation installed with blas64.Use. Training is
// deterministic for given seeds. Weights are exported as Params, named as
// torch.nn.Linear layers "encoder" and "decoder" would be.
//
// PoolDense averages a dense feature map (such as that of the SwAV encoder,
// segnet.Encoder) over each superpixel: the map resized bilinearly to the
// label map (PyTorch's align_corners=False) and masked-average pooled, in
// time linear in the pixels.
//
// # Post-processing
//
// Moments accumulates the mean and covariance of a dataset's features
// batch by batch (Chan, Golub and LeVeque's pairwise update, whose floats
// depend on the batches); TwoPassMoments gets from two streamed passes
// (column sums, then the scatter about their mean) exactly the floats of
// one Add over the whole dataset, whatever the batches. FitNormalizer turns them into a Normalizer that
// standardises each column, applies block weights and optionally projects
// on the first principal axes (PCA). Concat joins blocks of features.
//
// This stage corresponds to the feature extraction of SegDiscover (H.
// Huang, Z. Chen, C. Rudin, "SegDiscover: visual concept discovery via
// unsupervised semantic segmentation", arXiv:2204.10926, 2022), with
// label-free encoders in place of its pretrained network, since no
// pretrained weights are available to the tool.
package features
