// Command vitbench is the Go side of bench/vit_torch.py and bench/vit.sh.
//
//	vitbench check -images DIR [-n 3] [-size 224] MODEL_DIR...
//	    For each MODEL_DIR/model.safetensors: preprocess the first n images
//	    of DIR, run the transformer, write MODEL_DIR/inputs.safetensors
//	    (input_J) and MODEL_DIR/ours.safetensors (tokens_J, keys_J) for the
//	    PyTorch side to compare.
//	vitbench time -weights FILE [-size 224] [-threads 2] [-n 20]
//	    Time the forward pass on a size x size input: median and minimum
//	    over n runs after 2 warm-ups, the bytes one forward allocates, and
//	    the process's peak resident memory.
//
// Build with -tags openblas for the OpenBLAS GEMMs (segnet's backend).
package main

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/segdiscover/segdiscover/pipeline"
	"github.com/segdiscover/segdiscover/pipeline/artifact"
	"github.com/segdiscover/segdiscover/segnet"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: vitbench check|time ...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "check":
		err = check(os.Args[2:])
	case "time":
		err = timeForward(os.Args[2:])
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "vitbench:", err)
		os.Exit(1)
	}
}

func check(args []string) error {
	fs := flag.NewFlagSet("check", flag.ExitOnError)
	images := fs.String("images", "testdata/images", "image folder")
	n := fs.Int("n", 3, "images per model")
	size := fs.Int("size", 224, "short side of the network input")
	fs.Parse(args)
	files, err := pipeline.ListImages(*images)
	if err != nil {
		return err
	}
	files = files[:min(*n, len(files))]
	for _, dir := range fs.Args() {
		w, err := pipeline.LoadViT(filepath.Join(dir, "model.safetensors"))
		if err != nil {
			return err
		}
		fmt.Printf("%s: %v\n", dir, w.Model.Arch)
		var ins, outs []artifact.Tensor
		for j, f := range files {
			img, err := pipeline.LoadImage(f.Path, 0)
			if err != nil {
				return err
			}
			x, h, wd := w.Model.Preprocess(img, *size)
			o := w.Model.Forward(x, h, wd, 2, true)
			d := w.Model.Arch.Hidden
			ins = append(ins, artifact.NewF32Tensor(fmt.Sprint("input_", j), []int{3, h, wd}, x))
			outs = append(outs, artifact.NewF32Tensor(fmt.Sprint("tokens_", j), []int{len(o.Tokens) / d, d}, o.Tokens),
				artifact.NewF32Tensor(fmt.Sprint("keys_", j), []int{len(o.Keys) / d, d}, o.Keys))
		}
		for name, ts := range map[string][]artifact.Tensor{"inputs.safetensors": ins, "ours.safetensors": outs} {
			var b bytes.Buffer
			if err := artifact.EncodeSafetensors(&b, ts, nil); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

func timeForward(args []string) error {
	fs := flag.NewFlagSet("time", flag.ExitOnError)
	weights := fs.String("weights", "", "model.safetensors")
	size := fs.Int("size", 224, "input side (square)")
	threads := fs.Int("threads", 2, "goroutines per forward pass")
	n := fs.Int("n", 20, "timed runs")
	keys := fs.Bool("keys", false, "also return the last attention keys")
	prof := fs.String("cpuprofile", "", "write a CPU profile of the timed runs")
	fs.Parse(args)
	w, err := pipeline.LoadViT(*weights)
	if err != nil {
		return err
	}
	m := w.Model
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, 3**size**size)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	m.Forward(x, *size, *size, *threads, *keys) // warm-up
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	m.Forward(x, *size, *size, *threads, *keys)
	runtime.ReadMemStats(&ms1)
	if *prof != "" {
		f, err := os.Create(*prof)
		if err != nil {
			return err
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	ts := make([]float64, *n)
	cpu0 := cpuSeconds()
	for i := range ts {
		t0 := time.Now()
		m.Forward(x, *size, *size, *threads, *keys)
		ts[i] = time.Since(t0).Seconds() * 1e3
	}
	cpu := (cpuSeconds() - cpu0) / float64(*n) * 1e3
	slices.Sort(ts)
	fmt.Printf("go %s %dx%d batch 1 threads %d (%s): median %.1f ms (min %.1f) over %d, %.1f CPU-ms each; %.1f MB allocated per forward; peak RSS %s\n",
		filepath.Base(filepath.Dir(*weights)), *size, *size, *threads, segnet.Backend(), ts[len(ts)/2], ts[0], *n, cpu,
		float64(ms1.TotalAlloc-ms0.TotalAlloc)/1e6, peakRSS())
	return nil
}

// cpuSeconds returns the user+system CPU time of the process so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

// peakRSS returns VmHWM from /proc/self/status.
func peakRSS() string {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}
