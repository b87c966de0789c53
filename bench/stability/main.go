// Command stability measures how much the concepts of the cluster stage
// depend on the seed: it reads the superpixels and features a run wrote
// (OUT_DIR of `segdiscover run --until features`), fits the mixture at
// several seeds with the pipeline's settings, and scores every fit's
// pseudo-labels against the ground truth with the dataset-level Hungarian
// mIoU (exactly the figure eval_miou.py gives for the pseudo-label masks:
// each pixel takes its superpixel's concept, so the pixel confusion matrix
// is the sum of per-superpixel ground-truth histograms).
//
//	go run -tags openblas ./bench/stability -run OUT_DIR -gt ../shared/data/stanford_background/labels -k 8 -seeds 1-5
package main

import (
	"context"
	"flag"
	"fmt"
	"image"
	_ "image/png"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"gonum.org/v1/gonum/mat"

	"github.com/segdiscover/segdiscover/cluster"
	"github.com/segdiscover/segdiscover/features"
	"github.com/segdiscover/segdiscover/pipeline/artifact"
	"github.com/segdiscover/segdiscover/pseudolabel"
)

func main() {
	runDir := flag.String("run", "", "OUT_DIR of a run with superpixels/ and features/")
	gtDir := flag.String("gt", "", "ground-truth labels folder")
	k := flag.Int("k", 8, "concepts")
	seeds := flag.String("seeds", "1-5", "seed range a-b")
	init := flag.String("init", "", "cluster.Settings.Init strategy: \"\" (Settings default) or a name cluster.ParseInitMethod knows")
	nInit := flag.Int("n-init", 1, "restarts")
	survey := flag.Int("survey", 0, "survey: fit this many restarts on samples of -m rows and print mIoU, likelihood and agreement")
	m := flag.Int("m", 20000, "survey sample rows")
	diag := flag.Bool("diag", false, "diagnostic: per seed, mIoU and label-free criteria (likelihood, BIC, entropy, spatial coherence, balance, agreement), and their rank correlation with mIoU")
	flag.Parse()
	var s0, s1 int
	if _, err := fmt.Sscanf(*seeds, "%d-%d", &s0, &s1); err != nil {
		log.Fatal(err)
	}
	z, hist, edges, classes := load(*runDir, *gtDir)
	n, d := z.Dims()
	fmt.Printf("rows %d dims %d classes %d edges %d\n", n, d, classes, len(edges))
	s := cluster.Settings{K: *k, NInit: *nInit, MaxSamples: 1_000_000}
	if *init != "" {
		m, err := cluster.ParseInitMethod(*init)
		if err != nil {
			log.Fatal(err)
		}
		s.InitMethod = m
	}
	if *diag {
		runDiag(z, hist, edges, s, classes, s0, s1)
		return
	}
	if *survey > 0 {
		runSurvey(z, hist, *k, classes, *survey, *m)
		return
	}
	var ms []float64
	for seed := s0; seed <= s1; seed++ {
		g, info, sec := fitSeed(z, s, seed)
		labels := g.Predict(z, 0)
		m := miou(labels, hist, *k, classes)
		ms = append(ms, m)
		fmt.Printf("seed %d  mIoU %.4f  lower_bound %.4f  iters %d  %.1fs\n", seed, m, info.LowerBound, info.Iterations, sec)
	}
	sort.Float64s(ms)
	var mean float64
	for _, v := range ms {
		mean += v
	}
	mean /= float64(len(ms))
	fmt.Printf("mean %.4f  min %.4f  max %.4f  range %.4f\n", mean, ms[0], ms[len(ms)-1], ms[len(ms)-1]-ms[0])
}

// load returns the standardised features of every superpixel (as the
// cluster stage computes them, default descriptor) and each superpixel's
// ground-truth class histogram (last column: void), and the neighbour
// graph of the superpixels (4-connected pixel pairs across a superpixel
// boundary, weighted by their number).
func load(runDir, gtDir string) (*mat.Dense, [][]int64, []cluster.Edge, int) {
	cf, err := os.Open(filepath.Join(filepath.Dir(filepath.Clean(gtDir)), "classes.txt"))
	if err != nil {
		log.Fatal(err)
	}
	names, err := artifact.DecodeClasses(cf)
	cf.Close()
	if err != nil {
		log.Fatal(err)
	}
	c := len(names)
	files, _ := filepath.Glob(filepath.Join(runDir, "features", "*.f32"))
	sort.Strings(files)
	var blocks []*mat.Dense
	var hist [][]int64
	var edges []cluster.Edge
	for _, f := range files {
		id := strings.TrimSuffix(filepath.Base(f), ".f32")
		fh, err := os.Open(f)
		if err != nil {
			log.Fatal(err)
		}
		x, err := artifact.DecodeFeatures(fh)
		fh.Close()
		if err != nil {
			log.Fatal(err)
		}
		lf, err := os.Open(filepath.Join(runDir, "superpixels", id+".png"))
		if err != nil {
			log.Fatal(err)
		}
		l, err := artifact.DecodeLabels(lf, 0)
		lf.Close()
		if err != nil {
			log.Fatal(err)
		}
		gf, err := os.Open(filepath.Join(gtDir, id+".png"))
		if err != nil {
			log.Fatal(err)
		}
		gt, _, err := image.Decode(gf)
		gf.Close()
		if err != nil {
			log.Fatal(err)
		}
		h := make([][]int64, l.N)
		for i := range h {
			h[i] = make([]int64, c+1)
		}
		gray := gt.(*image.Gray)
		for y := range l.Height {
			for xx := range l.Width {
				v := int(gray.Pix[y*gray.Stride+xx])
				if v >= c {
					v = c
				}
				h[l.Pix[y*l.Width+xx]][v]++
			}
		}
		off := len(hist)
		w := map[[2]int]float64{}
		for y := range l.Height {
			for xx := range l.Width {
				a := int(l.Pix[y*l.Width+xx])
				if xx+1 < l.Width {
					if b := int(l.Pix[y*l.Width+xx+1]); b != a {
						w[[2]int{min(a, b), max(a, b)}]++
					}
				}
				if y+1 < l.Height {
					if b := int(l.Pix[(y+1)*l.Width+xx]); b != a {
						w[[2]int{min(a, b), max(a, b)}]++
					}
				}
			}
		}
		keys := make([][2]int, 0, len(w))
		for p := range w {
			keys = append(keys, p)
		}
		sort.Slice(keys, func(i, j int) bool {
			return keys[i][0] < keys[j][0] || keys[i][0] == keys[j][0] && keys[i][1] < keys[j][1]
		})
		for _, p := range keys {
			edges = append(edges, cluster.Edge{A: off + p[0], B: off + p[1], W: w[p]})
		}
		blocks = append(blocks, x)
		hist = append(hist, h...)
	}
	rows := 0
	for _, b := range blocks {
		r, _ := b.Dims()
		rows += r
	}
	_, cols := blocks[0].Dims()
	all := mat.NewDense(rows, cols, nil)
	r := 0
	for _, b := range blocks {
		br, _ := b.Dims()
		all.Slice(r, r+br, 0, cols).(*mat.Dense).Copy(b)
		r += br
	}
	var mom features.Moments
	mom.Add(all)
	fs := &features.Settings{Blocks: features.DefaultBlocks}
	norm, ok := features.FitNormalizer(&mom, features.NormalizerSettings{Weights: fs.ColumnWeights()})
	if !ok {
		log.Fatal("normaliser")
	}
	return norm.Apply(all), hist, edges, c
}

// miou is the Hungarian mIoU of superpixel labels against the histograms
// (the protocol of segdiscover eval, whose confusion matrix it fills).
func miou(labels []int, hist [][]int64, k, c int) float64 {
	conf := pseudolabel.NewConfusion(c, pseudolabel.DefaultIgnore)
	conf.AddCounts(k-1, make([]int64, c)) // k rows even when the last concepts are empty
	for i, l := range labels {
		conf.AddCounts(l, hist[i][:c])
	}
	return conf.Score(new(bool)).Hungarian.MIoU
}

func runSurvey(z *mat.Dense, hist [][]int64, k, c, r, m int) {
	labs := make([][]int, r)
	mi := make([]float64, r)
	lb := make([]float64, r)
	ent := make([]float64, r)
	ll := make([]float64, r)
	for i := range r {
		g, info, ok := cluster.Fit(z, cluster.Settings{K: k, MaxSamples: m}, rand.NewPCG(uint64(i+1), 7))
		if !ok {
			log.Fatal("fit")
		}
		labs[i] = g.Predict(z, 0)
		mi[i] = miou(labs[i], hist, k, c)
		lb[i] = info.LowerBound
		p := g.PredictProba(z, 0).RawMatrix()
		var h float64
		for _, v := range p.Data {
			if v > 0 {
				h -= v * math.Log(v)
			}
		}
		ent[i] = h / float64(p.Rows)
		ll[i] = g.Score(z, 0)
		w := g.Weights()
		sort.Float64s(w)
		fmt.Printf("restart %2d  mIoU %.4f  ll %.4f  entropy %.4f  completed %.4f  weights %.3f\n", i, mi[i], ll[i], ent[i], ll[i]-ent[i], w)
	}
	for i := range r {
		var a float64
		for j := range r {
			if j != i {
				a += cluster.AdjustedRand(labs[i], labs[j], k)
			}
		}
		fmt.Printf("restart %2d  mIoU %.4f  lb %.4f  meanARI %.4f\n", i, mi[i], lb[i], a/float64(r-1))
	}
}

// fitSeed fits the mixture with the pipeline's random stream for seed and
// returns it with its fit report and wall seconds; a failed fit ends the
// benchmark.
func fitSeed(z *mat.Dense, s cluster.Settings, seed int) (*cluster.GMM, cluster.FitInfo, float64) {
	t0 := time.Now()
	g, info, ok, err := cluster.FitContext(context.Background(), z, s, rand.NewPCG(uint64(seed), 0x5e9d15c0))
	if err != nil || !ok {
		log.Fatalf("seed %d: fit failed: %v", seed, err)
	}
	return g, info, time.Since(t0).Seconds()
}
