// Package export writes concept masks in the import formats of labelling
// tools and training pipelines, as pure codecs over io.Writer:
//
//   - COCO (Lin et al., ECCV 2014; cocodataset.org "Data format"): one
//     annotation per (image, concept) with the mask as compressed RLE —
//     column-major run lengths starting with a run of 0s, each coded as
//     in pycocotools' rleToString (5-bit groups with a continuation bit,
//     offset by 48, and from the third count on the difference to the
//     count two before) — plus its area and bounding box.
//   - CVAT for images 1.1 (docs.cvat.ai, "CVAT for images" XML): a <mask>
//     per (image, concept) whose rle attribute holds the run lengths over
//     its bounding box, row-major, starting with a run of 0s.
//   - Label Studio (labelstud.io, "Import pre-annotated data"): a task per
//     image with a prediction whose results are brushlabels in Label
//     Studio's RLE, the rle-pack bit stream of label-studio-converter's
//     brush.encode_rle over the RGBA bytes of a 0/255 mask.
//
// A mask is given as a Binary: width, height and one byte per pixel,
// row-major, non-zero inside.
package export
