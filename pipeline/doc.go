// Package pipeline is the only part of segdiscover that touches files and
// folders. It reads input images (DecodeImage, ListImages), holds the file
// formats of every stage's outputs, writes them atomically
// (WriteFileAtomic), and runs the stages over a folder with a bounded pool
// of workers, an on-disk cache keyed by content and parameters, resumable
// after a crash, with progress and a record of bad inputs.
//
// The algorithm packages (superpixel, features, cluster, pseudolabel,
// segnet) are pure functions over in-memory values; this package is the thin
// layer that feeds them files and stores what they return.
package pipeline
