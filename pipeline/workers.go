package pipeline

import "runtime"

// What --workers (Config.Workers, and the Workers of PredictOptions and the
// eval options) means, resolved here and nowhere else:
//
//   - In the per-image stages (superpixels, features, pseudo-labels, masks,
//     overlays, predict, eval): the number of images processed at once,
//     within the pixel budget of --max-pixels. An image's own parallel work
//     (the network's or the transformer's forward pass) gets an equal share
//     of the CPUs, threadsPerWorker, so that W workers do not start
//     W x GOMAXPROCS goroutines.
//   - In the global stages (encoder training, the GMM fit and assignment,
//     network training): the number of threads of the one computation.
//
// The default, 0, is the number of CPUs the process may use (GOMAXPROCS).
// No output depends on it: parallel partial results are merged in a fixed
// order everywhere.

// resolveWorkers returns n, or GOMAXPROCS when n <= 0.
func resolveWorkers(n int) int {
	if n <= 0 {
		return runtime.GOMAXPROCS(0)
	}
	return n
}

// threadsPerWorker is the share of the CPUs of one of w workers, at least 1.
func threadsPerWorker(w int) int {
	return max(1, runtime.GOMAXPROCS(0)/max(w, 1))
}
