// Package artifact holds the codecs of the files a run writes to OUT_DIR
// (the contract of README.md, "OUT_DIR layout" and "File formats"), so that
// other code reads them without importing the orchestrator:
//
//   - safetensors.go: the safetensors format of Hugging Face
//     (https://huggingface.co/docs/safetensors), one Tensor type for every
//     model file; params.go converts it to and from the parameter types of
//     segnet, features and features/vit, and is the only place that does;
//   - featfile.go: the "SDF1" feature matrices, features/<rel>.f32;
//   - gmmfile.go: the mixture, model/gmm.json ("segdiscover-gmm" v1);
//   - labelfile.go: superpixel id maps, 16-bit grayscale PNG;
//   - maskfile.go: concept masks (8-bit paletted PNG, PASCAL VOC palette)
//     and confidence maps; DecodeIDMap reads ground-truth and predicted id
//     maps for scoring;
//   - concepts.go: the concepts' names and colours, concepts.json
//     ("segdiscover-concepts" v1); classes.go: a ground truth's classes.txt;
//   - image.go: input images (JPEG with EXIF orientation, PNG, GIF, BMP,
//     TIFF, WebP) as opaque 8-bit RGB, bounded by a pixel budget read from
//     the header before any pixel memory is allocated.
//
// Every codec is Decode/Encode over io.Reader/io.Writer (DecodeXConfig
// where the header alone answers a question): no files, no goroutines, no
// global state. Errors for malformed input wrap a sentinel of the format
// (ErrSafetensors, ErrFeatureFile, ErrNotIDMap, ErrCorrupt...) and say what
// is wrong; the caller adds the file name. Each format has a fuzz target
// (decoding arbitrary bytes never panics and never allocates beyond the
// limits) and a test against an independent Python reader where one exists.
package artifact
