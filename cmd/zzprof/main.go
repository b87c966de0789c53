// Scratch profiler (not committed): runs pipeline.Run and writes a heap
// profile each time the live heap reaches a new maximum.
package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/segdiscover/segdiscover/pipeline"
)

func main() {
	in, out, until, prof := os.Args[1], os.Args[2], os.Args[3], os.Args[4]
	runtime.MemProfileRate = 4096
	stop := make(chan struct{})
	go func() {
		var peak uint64
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak+peak/50 {
				peak = ms.HeapAlloc
				f, _ := os.Create(prof)
				pprof.Lookup("heap").WriteTo(f, 0)
				f.Close()
				fmt.Fprintf(os.Stderr, "peak heap %d MB sys %d MB\n", ms.HeapAlloc>>20, ms.Sys>>20)
			}
		}
	}()
	c := pipeline.Config{Until: until, Epochs: 1}
	_, err := pipeline.Run(context.Background(), pipeline.Options{InDir: in, OutDir: out, Config: c, Progress: pipeline.ProgressNone})
	close(stop)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
