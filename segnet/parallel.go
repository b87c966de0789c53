package segnet

import "sync"

// parallelFor runs f(w, i) for i in [0, n) on up to workers goroutines. Work
// is split into contiguous static blocks so that which worker handles which
// item, and therefore the order of every floating-point sum, depends only on
// n and workers.
func parallelFor(n, workers int, f func(w, i int)) {
	if workers > n {
		workers = n
	}
	if workers <= 1 {
		for i := range n {
			f(0, i)
		}
		return
	}
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*n/workers, (w+1)*n/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				f(w, i)
			}
		}()
	}
	wg.Wait()
}

// grow returns s resized to n elements, reusing its storage when possible.
// The contents are unspecified.
func grow(s []float32, n int) []float32 {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]float32, n)
}
