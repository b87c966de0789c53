package segnet

import (
	"sync"
	"sync/atomic"
)

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

// parallelDynamic runs f(w, i) for i in [0, n) on up to workers goroutines,
// each taking the next unclaimed item: on a shared machine a static split
// leaves one core idle whenever the other is slowed down. Which worker gets
// which item varies from run to run, so f's result must not depend on w
// (w only selects scratch space).
func parallelDynamic(n, workers int, f func(w, i int)) {
	if workers > n {
		workers = n
	}
	if workers <= 1 {
		for i := range n {
			f(0, i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
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
