// Package pseudolabel turns concepts back into pixels, and scores pixel
// labellings against ground truth.
//
// # Masks
//
// Mask maps the concept of each superpixel (from the cluster stage) to its
// pixels: an *image.Paletted whose pixel values are concept ids 0..254 and
// Unassigned (255) for none, with the fixed Palette — the PASCAL VOC
// convention (Everingham et al., IJCV 2010), so tools that read indices get
// ids and people see colours — and an *image.Gray confidence map,
// round(255·posterior). Settings.MinConfidence leaves pixels whose
// posterior is below it Unassigned. Overlay blends an image with the
// concept colours and draws superpixel boundaries; Legend draws the key.
//
// # Dense CRF
//
// DenseCRF refines per-pixel class probabilities with the fully connected
// CRF of Krähenbühl and Koltun ("Efficient inference in fully connected
// CRFs with Gaussian edge potentials", NeurIPS 2011): the energy
//
//	E(x) = Σ_i -log p_i(x_i) + Σ_{i<j} [x_i≠x_j] (w_1 k_1(i,j) + w_2 k_2(i,j)),
//	k_1 = exp(-|p_i-p_j|²/2θ_α² - |I_i-I_j|²/2θ_β²),  k_2 = exp(-|p_i-p_j|²/2θ_γ²),
//
// (p positions, I RGB colours) is minimised approximately by mean field,
// Q_i(l) ∝ exp(-U_i(l) + Σ_m w_m Σ_j k̃_m(i,j) Q_j(l)), each kernel k̃
// evaluated on a permutohedral lattice (Adams, Baek and Davis,
// Eurographics 2010) and normalised symmetrically, D^-½ K D^-½, as
// pydensecrf does. The defaults are STEGO's (Hamilton et al., ICLR 2022):
// 10 iterations, θ_γ = 1 px, w_2 = 3, θ_α = 67 px, θ_β = 3, w_1 = 4. CRFMask
// runs it on the image scaled down to CRFMaxPixels pixels (kernel widths
// scaled alike) and resizes the marginals back bilinearly before the
// arg-max; CRFRegions averages them per superpixel instead.
//
// # Rectified pseudo-labels
//
// When a trained network is fine-tuned on its own predictions for new
// images, its mistakes teach it. Rectify keeps, per concept, only the most
// confident fraction of that concept's pixels — class-balanced thresholds
// from a dataset-wide ConfidenceHistogram (Zou et al., "Unsupervised domain
// adaptation for semantic segmentation via class-balanced self-training",
// ECCV 2018), so hard concepts are not dropped whole — and, given a second
// opinion (another network's or another view's prediction), only the pixels
// both agree on.
//
// # Evaluation
//
// Confusion and Assign implement the protocol used to score unsupervised
// semantic segmentation in PiCIE (Cho et al., CVPR 2021) and STEGO
// (Hamilton et al., ICLR 2022): one confusion matrix M[predicted id,
// class] over the whole dataset (not per image), then the one-to-one map
// from predicted ids to classes that maximises the matched pixels — the
// linear assignment problem (Kuhn 1955; Munkres 1957), solved by the
// O(n³) shortest augmenting path method of Jonker and Volgenant (1987) in
// the rectangular form of Crouse (IEEE TAES 2016). Then for each class c,
//
//	IoU_c = TP_c / (TP_c + FP_c + FN_c),
//
// the mean IoU over the classes present in the ground truth, and pixel
// accuracy = matched pixels / valid pixels. With more predicted ids than
// classes, the many-to-one score maps every id to its majority class.
// Ground-truth pixels equal to the ignore value are left out; predicted
// Unassigned pixels are never matched and always count as wrong.
//
// Boundaries scores the edges of a labelling, in the spirit of the
// boundary F-measure of the BSDS benchmark (Martin, Fowlkes and Malik,
// TPAMI 2004) and of the boundary-F score of semantic segmentation (Csurka
// et al., BMVC 2013): a pixel is a boundary pixel when its right or lower
// neighbour has another id (neither being void in the ground truth, so
// edges of void regions are not scored); a predicted boundary pixel is
// matched when a ground-truth boundary pixel lies within Euclidean distance
// BoundaryTolerance (2 px), and back. Precision = matched predicted /
// predicted boundary pixels, recall = matched ground-truth / ground-truth
// boundary pixels, both summed over the dataset, F = 2PR/(P+R). Ids are
// compared only with their neighbours, so no matching of ids to classes
// is involved. bench/boundary_f.py is an independent numpy/scipy version
// (scipy's exact Euclidean distance transform); the two agree exactly.
//
// These definitions, tie-breaking of the assignment included, are those
// of the Python scorer peers/eval_miou.py (numpy and
// scipy.optimize.linear_sum_assignment); the tests check agreement to
// 1e-6 on fixtures it produced.
//
// The package is pure: images and label maps in, images and numbers out.
// Files are read and written by package pipeline, in the formats of
// pipeline/artifact.
package pseudolabel
