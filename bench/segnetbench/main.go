// Command segnetbench measures segnet's training and inference throughput
// (images/s) on synthetic 240x320 images with the peers/segnet_ref.py
// architecture, batch 8, K=8: the Go side of bench/segnet.sh.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/segdiscover/segdiscover/segnet"
)

func main() {
	trainImgs := flag.Int("train", 32, "training images timed (after one warm-up batch)")
	inferImgs := flag.Int("infer", 64, "inference images timed (after one warm-up batch)")
	workers := flag.Int("workers", 2, "goroutines")
	h := flag.Int("h", 240, "height")
	w := flag.Int("w", 320, "width")
	prof := flag.String("cpuprofile", "", "write a CPU profile")
	flag.Parse()
	if *prof != "" {
		f, err := os.Create(*prof)
		check(err)
		check(pprof.StartCPUProfile(f))
		defer pprof.StopCPUProfile()
	}

	const k, batch = 8, 8
	rng := rand.New(rand.NewPCG(1, 2))
	n := max(*trainImgs, batch)
	data := make([]segnet.Sample, n)
	for i := range data {
		img := image.NewNRGBA(image.Rect(0, 0, *w, *h))
		for j := range img.Pix {
			img.Pix[j] = uint8(rng.IntN(256))
			if j%4 == 3 {
				img.Pix[j] = 255
			}
		}
		m := image.NewPaletted(img.Bounds(), nil)
		for j := range m.Pix {
			m.Pix[j] = uint8((j / 4000) % k)
		}
		data[i] = segnet.Sample{Image: img, Mask: m}
	}
	set := segnet.TrainSettings{Epochs: 2, Batch: batch, Height: *h, Width: *w, MinScale: 1, MaxScale: 1, Workers: *workers}
	warm, err := segnet.NewTrainer(segnet.Arch{Classes: k}, data[:batch], set, 1)
	check(err)
	_, err = warm.Epoch(context.Background())
	check(err)
	tr, err := segnet.NewTrainer(segnet.Arch{Classes: k}, data, segnet.TrainSettings{Epochs: 1, Batch: batch, Height: *h,
		Width: *w, MinScale: 1, MaxScale: 1, Workers: *workers}, 1)
	check(err)
	c0 := cpuSeconds()
	st, err := tr.Epoch(context.Background())
	check(err)
	trainRate := float64(st.Images) / st.Seconds
	trainCPU := (cpuSeconds() - c0) / float64(st.Images)

	net := tr.Net()
	imgs := make([]*image.NRGBA, batch)
	for i := range imgs {
		imgs[i] = data[i%len(data)].Image
	}
	net.PredictBatch(imgs, 0, 0) // warm-up
	t0, c0 := time.Now(), cpuSeconds()
	done := 0
	for done < *inferImgs {
		net.PredictBatch(imgs, 0, 0)
		done += batch
	}
	inferRate := float64(done) / time.Since(t0).Seconds()
	inferCPU := (cpuSeconds() - c0) / float64(done)
	out := map[string]any{"backend": segnet.Backend(), "workers": *workers, "gomaxprocs": runtime.GOMAXPROCS(0),
		"train_img_per_s": trainRate, "infer_img_per_s": inferRate, "train_loss": st.Loss,
		"train_cpu_ms_per_img": 1e3 * trainCPU, "infer_cpu_ms_per_img": 1e3 * inferCPU}
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
}

// cpuSeconds is the process's user+system CPU time: on a shared machine it
// shows the work done even when wall-clock rates are disturbed.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	check(syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// check reports err and exits; deferred profiling is lost, which is fine
// for a benchmark that failed.

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "segnetbench:", err)
		os.Exit(1)
	}
}
