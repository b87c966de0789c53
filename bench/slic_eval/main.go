// Command slic_eval runs superpixel.SLIC over BSDS500-style images and
// scores the result against the human segmentations with
// superpixel.Evaluate (the same figures as peers/spmetrics.py). It times
// the whole job per image (read + decode, segment, encode the 16-bit PNG)
// with the functions the superpixels stage uses (artifact.DecodeImage,
// artifact.EncodeLabels), and the segmentation alone, single-threaded
// unless -workers says otherwise. -cpuprofile profiles that per-image path.
// It is the tuning tool behind bench/slic.sh:
//
//	go run ./bench/slic_eval -data ../shared/data/bsds500_test -segments 200 -compactness 10
package main

import (
	"bytes"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/segdiscover/segdiscover/pipeline/artifact"
	"github.com/segdiscover/segdiscover/superpixel"
)

func main() {
	data := flag.String("data", "../shared/data/bsds500_test", "folder with images/*.jpg and gt/<id>_<k>.png")
	var p superpixel.Params
	flag.IntVar(&p.Segments, "segments", 200, "requested superpixels")
	flag.Float64Var(&p.Compactness, "compactness", 0, "m (0 = default)")
	flag.Float64Var(&p.Sigma, "sigma", 0, "pre-smoothing sigma (0 = default, <0 none)")
	flag.IntVar(&p.Iterations, "iterations", 0, "iterations (0 = default)")
	flag.IntVar(&p.MinSize, "minsize", 0, "connectivity fragment size (0 = default)")
	flag.BoolVar(&p.SLICO, "slico", false, "SLICO")
	limit := flag.Int("limit", 0, "use only the first N images")
	workers := flag.Int("workers", 1, "images in parallel (timings are only meaningful with 1)")
	out := flag.String("out", "", "write 16-bit label PNGs here as <id>.png")
	name := flag.String("name", "go_slic", "method name printed in the result line")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the run (scoring included) to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}

	paths, err := filepath.Glob(filepath.Join(*data, "images", "*.jpg"))
	if err != nil || len(paths) == 0 {
		log.Fatalf("no images under %s/images", *data)
	}
	slices.Sort(paths)
	if *limit > 0 && *limit < len(paths) {
		paths = paths[:*limit]
	}
	if *out != "" {
		if err := os.MkdirAll(*out, 0o755); err != nil {
			log.Fatal(err)
		}
	}
	type result struct {
		q         superpixel.Quality
		job, slic time.Duration
		err       error
	}
	res := make([]result, len(paths))
	var wg sync.WaitGroup
	next := make(chan int)
	for range max(1, *workers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				res[i] = one(paths[i], *data, *out, p)
			}
		}()
	}
	for i := range paths {
		next <- i
	}
	close(next)
	wg.Wait()

	var qs []superpixel.Quality
	var job, seg []float64
	for i, r := range res {
		if r.err != nil {
			log.Fatalf("%s: %v", paths[i], r.err)
		}
		qs = append(qs, r.q)
		job = append(job, r.job.Seconds())
		seg = append(seg, r.slic.Seconds())
	}
	s := superpixel.Summarize(qs)
	fmt.Printf("%s\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.1f\n", *name, median(job), median(seg), s.BR, s.UE, s.ASA, s.Segments)
}

func median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

func one(path, data, out string, p superpixel.Params) (r struct {
	q         superpixel.Quality
	job, slic time.Duration
	err       error
}) {
	id := strings.TrimSuffix(filepath.Base(path), ".jpg")
	t0 := time.Now()
	img, err := load(path)
	if err != nil {
		r.err = err
		return r
	}
	t1 := time.Now()
	l := superpixel.SLIC(img, p)
	r.slic = time.Since(t1)
	var buf bytes.Buffer
	if err := artifact.EncodeLabels(&buf, l); err != nil {
		r.err = err
		return r
	}
	if out != "" {
		if err := os.WriteFile(filepath.Join(out, id+".png"), buf.Bytes(), 0o644); err != nil {
			r.err = err
			return r
		}
	}
	r.job = time.Since(t0)
	gts, err := filepath.Glob(filepath.Join(data, "gt", id+"_*.png"))
	if err != nil || len(gts) == 0 {
		r.err = fmt.Errorf("no ground truth for %s", id)
		return r
	}
	slices.Sort(gts)
	var ls []*superpixel.Labels
	for _, g := range gts {
		f, err := os.Open(g)
		if err != nil {
			r.err = err
			return r
		}
		gl, err := decodeLabels(f)
		f.Close()
		if err != nil {
			r.err = fmt.Errorf("%s: %w", g, err)
			return r
		}
		ls = append(ls, gl)
	}
	r.q, r.err = superpixel.Evaluate(l, ls, superpixel.QualitySettings{})
	return r
}

func load(path string) (*image.NRGBA, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, err := artifact.DecodeImage(f, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return img, nil
}

func decodeLabels(r io.Reader) (*superpixel.Labels, error) {
	img, err := png.Decode(r)
	if err != nil {
		return nil, err
	}
	b := img.Bounds()
	l := &superpixel.Labels{Width: b.Dx(), Height: b.Dy(), Pix: make([]int32, b.Dx()*b.Dy())}
	for y := range l.Height {
		for x := range l.Width {
			v := int32(color.Gray16Model.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.Gray16).Y)
			l.Pix[y*l.Width+x] = v
			l.N = max(l.N, int(v)+1)
		}
	}
	return l, nil
}
