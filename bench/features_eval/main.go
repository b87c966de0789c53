// Command features_eval measures feature extractors on a labelled dataset
// of ../shared/data: for each configuration and seed it computes features
// for every image over given superpixels, standardises them, fits a
// K-component full-covariance GMM (cluster.Fit; K = the dataset's classes),
// writes the concept maps, and scores them with
// ../shared/peers/eval_miou.py (Hungarian mIoU). A seed varies everything
// random: the patch sample, the encoder's initialisation and training, and
// the GMM. It prints each seed's score, then per configuration the mean
// and range over seeds, the time per image of each extractor and the
// encoder's training time (-json writes the summary).
//
//	/usr/bin/python3 bench/features_eval/slic_skimage.py ../shared/data/stanford_background/images /tmp/sp
//	go run -tags openblas ./bench/features_eval -sp /tmp/sp -out /tmp/pred [-configs default,sae-relu] [-seeds 3]
//	go run -tags openblas ./bench/features_eval -data ../shared/data/siftflow -sp /tmp/sp_sift ...
//
// With -tags openblas (Debian's libopenblas-dev) the encoders' and the
// GMM's matrix products go to OpenBLAS; run with OPENBLAS_NUM_THREADS=1.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"log"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	_ "image/jpeg"

	"gonum.org/v1/gonum/mat"

	"github.com/segdiscover/segdiscover/cluster"
	"github.com/segdiscover/segdiscover/features"
	"github.com/segdiscover/segdiscover/superpixel"
)

type item struct {
	id  string
	img *image.NRGBA
	l   *superpixel.Labels
}

type config struct {
	name    string
	desc    *features.Settings        // hand-crafted block, or nil
	enc     *features.EncoderSettings // learned block, or nil
	stacked *features.StackedSettings // learned block, or nil
	vae     *features.VAESettings     // learned block, or nil
	encPCA  int                       // PCA of the learned codes before concatenation
	encW    float64                   // weight of the learned block (0 = 1)
}

func (c config) learned() bool { return c.enc != nil || c.stacked != nil || c.vae != nil }

// result is one configuration's summary over seeds.
type result struct {
	Config   string    `json:"config"`
	Dataset  string    `json:"dataset"`
	K        int       `json:"k"`
	MIoU     []float64 `json:"miou"` // per seed
	Mean     float64   `json:"mean"`
	Min      float64   `json:"min"`
	Max      float64   `json:"max"`
	TrainSec []float64 `json:"train_s,omitempty"` // encoder training per seed
	DescMs   float64   `json:"describe_ms_per_image"`
	PatchMs  float64   `json:"patches_ms_per_image"`
	EncMs    float64   `json:"encode_ms_per_image"`
	Dims     int       `json:"dims"`
	Patches  int       `json:"patches"`
}

func main() {
	data := flag.String("data", "../shared/data/stanford_background", "dataset folder (images/, labels/)")
	spDir := flag.String("sp", "", "folder of 16-bit PNG superpixel maps <id>.png (required)")
	out := flag.String("out", filepath.Join(os.TempDir(), "features_eval"), "folder for concept maps")
	only := flag.String("configs", "", "comma-separated configurations (default all)")
	seeds := flag.Int("seeds", 3, "seeds per configuration")
	reservoir := flag.Int("reservoir", 10000, "training patches for encoders (the pipeline's --patch-sample default)")
	k := flag.Int("k", 0, "GMM components (0: the number of classes in classes.txt)")
	jsonOut := flag.String("json", "", "write the summary of every configuration here")
	flag.Parse()
	if *spDir == "" {
		log.Fatal("-sp is required")
	}
	if *k == 0 {
		b, err := os.ReadFile(filepath.Join(*data, "classes.txt"))
		if err != nil {
			log.Fatal(err)
		}
		*k = 0
		for _, line := range strings.Split(string(b), "\n") {
			if strings.TrimSpace(line) != "" {
				*k++
			}
		}
	}
	items := load(*data, *spDir)
	fmt.Printf("%s: %d images, K=%d, %d seeds, %d training patches, BLAS %s\n", *data, len(items), *k, *seeds, *reservoir, blasName)
	F := func(b features.Block) *features.Settings { return &features.Settings{Blocks: b} }
	all := []config{
		{name: "default", desc: F(0)},
		{name: "default-linear", desc: &features.Settings{Linear: true}},
		{name: "default+cx", desc: F(features.DefaultBlocks | features.CentroidX)},
		{name: "ref20", desc: &features.Settings{Blocks: features.LabMean | features.LabStd | features.GradStats | features.LBP | features.CentroidX | features.CentroidY, Linear: true}},
		{name: "default+grad", desc: F(features.DefaultBlocks | features.GradStats)},
		{name: "default+lbp0.3", desc: &features.Settings{Blocks: features.DefaultBlocks | features.LBP, Weights: map[features.Block]float64{features.LBP: 0.3}}},
		{name: "default+ghist0.3", desc: &features.Settings{Blocks: features.DefaultBlocks | features.GradHist, Weights: map[features.Block]float64{features.GradHist: 0.3}}},
		{name: "sae-sigmoid", enc: &features.EncoderSettings{}, encPCA: 8},
		{name: "sae-relu", enc: &features.EncoderSettings{Kind: features.SparseReLU}, encPCA: 8},
		{name: "sae-relu-mask", enc: &features.EncoderSettings{Kind: features.SparseReLU, Corruption: features.MaskingNoise}, encPCA: 8},
		{name: "sae-sigmoid-gauss", enc: &features.EncoderSettings{Corruption: features.GaussianNoise}, encPCA: 8},
		{name: "default+sae-sigmoid", desc: F(0), enc: &features.EncoderSettings{}, encPCA: 4, encW: 0.5},
		{name: "default+sae-relu", desc: F(0), enc: &features.EncoderSettings{Kind: features.SparseReLU}, encPCA: 4, encW: 0.5},
		// The deep autoencoders with the pipeline's settings for
		// --encoder stacked [--denoise] and --encoder vae.
		{name: "stacked", stacked: &features.StackedSettings{}, encPCA: 8},
		{name: "stacked-mask", stacked: &features.StackedSettings{Layer: features.EncoderSettings{Corruption: features.MaskingNoise}}, encPCA: 8},
		{name: "stacked3", stacked: &features.StackedSettings{Depth: 3}, encPCA: 8},
		{name: "vae", vae: &features.VAESettings{}, encPCA: 8},
		{name: "default+stacked", desc: F(0), stacked: &features.StackedSettings{}, encPCA: 4, encW: 0.5},
		{name: "default+vae", desc: F(0), vae: &features.VAESettings{}, encPCA: 4, encW: 0.5},
	}
	want := strings.Split(*only, ",")
	for _, w := range want {
		if *only != "" && !slices.ContainsFunc(all, func(c config) bool { return c.name == w }) {
			log.Fatalf("unknown configuration %q", w)
		}
	}
	var results []result
	if *only != "" { // in the order asked for
		slices.SortStableFunc(all, func(a, b config) int { return slices.Index(want, a.name) - slices.Index(want, b.name) })
	}
	for _, c := range all {
		if *only == "" || slices.Contains(want, c.name) {
			r := run(c, items, *seeds, *reservoir, *k, *data, *out)
			results = append(results, r)
			if *jsonOut != "" {
				b, _ := json.MarshalIndent(results, "", " ")
				if err := os.WriteFile(*jsonOut, b, 0o644); err != nil {
					log.Fatal(err)
				}
			}
		}
	}
	fmt.Printf("\n%-20s %6s %20s %10s %8s\n", "config", "mean", "range", "train s", "ms/img")
	for _, r := range results {
		tr := "-"
		if len(r.TrainSec) > 0 {
			tr = fmt.Sprintf("%.0f", mean(r.TrainSec))
		}
		fmt.Printf("%-20s %5.1f%% %8.1f%% - %5.1f%% %10s %8.2f\n", r.Config, 100*r.Mean, 100*r.Min, 100*r.Max, tr, r.DescMs+r.PatchMs+r.EncMs)
	}
}

var blasName = "gonum (pure Go)"

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

func load(data, spDir string) []item {
	paths, err := filepath.Glob(filepath.Join(data, "images", "*.jpg"))
	if err != nil || len(paths) == 0 {
		log.Fatalf("no images in %s/images", data)
	}
	var items []item
	for _, p := range paths {
		id := strings.TrimSuffix(filepath.Base(p), ".jpg")
		im := decode(p)
		img := image.NewNRGBA(im.Bounds())
		draw.Draw(img, img.Bounds(), im, im.Bounds().Min, draw.Src)
		g, ok := decode(filepath.Join(spDir, id+".png")).(*image.Gray16)
		if !ok {
			log.Fatalf("%s/%s.png: not a 16-bit grey PNG", spDir, id)
		}
		b := g.Bounds()
		l := &superpixel.Labels{Width: b.Dx(), Height: b.Dy(), Pix: make([]int32, b.Dx()*b.Dy())}
		for y := range b.Dy() {
			for x := range b.Dx() {
				v := int32(g.Gray16At(x, y).Y)
				l.Pix[y*l.Width+x] = v
				l.N = max(l.N, int(v)+1)
			}
		}
		items = append(items, item{id, img, l})
	}
	return items
}

func decode(path string) image.Image {
	f, err := os.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	im, _, err := image.Decode(f)
	if err != nil {
		log.Fatalf("%s: %v", path, err)
	}
	return im
}

// encoder trains the learned encoder of c on sample with seed s.
func trainEncoder(c config, sample *mat.Dense, s uint64) (features.PatchEncoder, string) {
	init, train := rand.NewPCG(2, 2+s), rand.NewPCG(3, 3+s)
	_, d := sample.Dims()
	switch {
	case c.enc != nil:
		e := features.NewEncoder(d, *c.enc, init)
		hist, err := e.Train(sample, train, nil)
		if err != nil {
			log.Fatal(err)
		}
		ev := e.Evaluate(sample)
		return e, fmt.Sprintf("loss %.4f -> %.4f; on the sample: reconstruction %.4f, mean activation %.3f",
			hist[0].Total, hist[len(hist)-1].Total, ev.Reconstruction, ev.MeanActivation)
	case c.stacked != nil:
		st := features.NewStacked(d, *c.stacked, init)
		hist, err := st.Train(sample, train, nil)
		if err != nil {
			log.Fatal(err)
		}
		var b strings.Builder
		for l, g := range hist.Greedy {
			fmt.Fprintf(&b, "layer %d loss %.4f -> %.4f; ", l, g[0].Total, g[len(g)-1].Total)
		}
		if f := hist.FineTune; len(f) > 0 {
			fmt.Fprintf(&b, "fine-tune %.4f -> %.4f; ", f[0].Total, f[len(f)-1].Total)
		}
		fmt.Fprintf(&b, "end-to-end reconstruction %.4f", st.Evaluate(sample).Reconstruction)
		return st, b.String()
	default:
		v := features.NewVAE(d, *c.vae, init)
		hist, err := v.Train(sample, train, nil)
		if err != nil {
			log.Fatal(err)
		}
		ev := v.Evaluate(sample, rand.NewPCG(4, 4))
		return v, fmt.Sprintf("ELBO %.1f -> %.1f, KL %.2f -> %.2f; on the sample: ELBO %.1f, KL %.2f, decoder sigma %.4f",
			hist[0].ELBO, hist[len(hist)-1].ELBO, hist[0].KL, hist[len(hist)-1].KL, ev.ELBO, ev.KL, ev.NoiseStd)
	}
}

func run(c config, items []item, seeds, reservoir, K int, data, out string) result {
	res := result{Config: c.name, Dataset: filepath.Base(data), K: K}
	var desc []*mat.Dense
	var tDesc, tPatch, tEnc time.Duration
	var descW []float64
	if c.desc != nil {
		t0 := time.Now()
		for _, it := range items {
			desc = append(desc, features.Describe(it.img, it.l, c.desc))
		}
		tDesc = time.Since(t0)
		descW = c.desc.ColumnWeights()
	}
	var x *mat.Dense
	n := float64(len(items))
	msPer := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / n }
	for s := range uint64(seeds) {
		if x == nil || c.learned() {
			blocks := make([][]*mat.Dense, len(items))
			for i := range items {
				if desc != nil {
					blocks[i] = append(blocks[i], desc[i])
				}
			}
			weights := slices.Clone(descW)
			if c.learned() {
				// Patches are recomputed rather than kept: SIFT Flow's
				// would take 2.3 GB.
				t0 := time.Now()
				rs := features.NewReservoir(reservoir, rand.NewPCG(1, 1+s))
				for _, it := range items {
					rs.AddRows(features.ExtractPatches(it.img, it.l, 0), func(k int) uint64 { return features.PatchKey(it.id, k) })
				}
				tPatch = time.Since(t0)
				sample := rs.Sample()
				res.Patches = rs.Seen()
				t0 = time.Now()
				e, note := trainEncoder(c, sample, s)
				tTrain := time.Since(t0)
				res.TrainSec = append(res.TrainSec, tTrain.Seconds())
				fmt.Printf("  seed %d: trained in %.1f s: %s\n", s, tTrain.Seconds(), note)
				codes := make([]*mat.Dense, len(items))
				var m features.Moments
				tEnc = 0
				for i, it := range items {
					p := features.ExtractPatches(it.img, it.l, 0)
					t0 = time.Now()
					codes[i] = e.Encode(p)
					tEnc += time.Since(t0)
					m.Add(codes[i])
				}
				nz, ok := features.FitNormalizer(&m, features.NormalizerSettings{PCA: c.encPCA})
				if !ok {
					log.Fatal("PCA failed")
				}
				w := c.encW
				if w == 0 {
					w = 1
				}
				for i := range items {
					blocks[i] = append(blocks[i], nz.Apply(codes[i]))
				}
				for range nz.Dims() {
					weights = append(weights, w)
				}
			}
			var m features.Moments
			xs := make([]*mat.Dense, len(items))
			for i := range items {
				xs[i] = features.Concat(blocks[i]...)
				m.Add(xs[i])
			}
			norm, _ := features.FitNormalizer(&m, features.NormalizerSettings{Weights: weights})
			x = mat.NewDense(m.N(), norm.Dims(), nil)
			k := 0
			for i := range items {
				y := norm.Apply(xs[i])
				r, _ := y.Dims()
				for j := range r {
					x.SetRow(k, y.RawRowView(j))
					k++
				}
			}
			res.Dims = norm.Dims()
		}
		g, info, ok := cluster.Fit(x, cluster.Settings{K: K}, rand.NewPCG(s+10, 7))
		if !ok {
			fmt.Printf("  seed %d: GMM failed\n", s)
			continue
		}
		lab := g.Predict(x, 0)
		dir := filepath.Join(out, fmt.Sprintf("%s_%s_s%d", filepath.Base(data), c.name, s))
		os.RemoveAll(dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			log.Fatal(err)
		}
		k := 0
		for _, it := range items {
			im := image.NewGray(image.Rect(0, 0, it.l.Width, it.l.Height))
			for p, id := range it.l.Pix {
				im.Pix[p] = uint8(lab[k+int(id)])
			}
			k += it.l.N
			f, err := os.Create(filepath.Join(dir, it.id+".png"))
			if err != nil {
				log.Fatal(err)
			}
			png.Encode(f, im)
			f.Close()
		}
		cmd := exec.Command("/usr/bin/python3", filepath.Join(data, "..", "..", "peers", "eval_miou.py"), dir,
			"--gt", filepath.Join(data, "labels"), "--json", dir+".json")
		out, err := cmd.CombinedOutput()
		if err != nil {
			log.Fatalf("eval_miou: %v\n%s", err, out)
		}
		var ev struct {
			Hungarian struct {
				MIoU float64 `json:"miou"`
			} `json:"hungarian"`
		}
		if b, err := os.ReadFile(dir + ".json"); err != nil || json.Unmarshal(b, &ev) != nil {
			log.Fatalf("%s.json: unreadable", dir)
		}
		res.MIoU = append(res.MIoU, ev.Hungarian.MIoU)
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		fmt.Printf("  seed %d: mean log-likelihood %.4f, %d EM iterations: %s\n", s, info.LowerBound, info.Iterations, lines[max(0, len(lines)-2)])
	}
	res.DescMs, res.PatchMs, res.EncMs = msPer(tDesc), msPer(tPatch), msPer(tEnc)
	if len(res.MIoU) > 0 {
		res.Mean, res.Min, res.Max = mean(res.MIoU), slices.Min(res.MIoU), slices.Max(res.MIoU)
	}
	tr := ""
	if len(res.TrainSec) > 0 {
		tr = fmt.Sprintf("; training %.1f s mean", mean(res.TrainSec))
	}
	fmt.Printf("%s: %d dims, mIoU mean %.2f%% (%.2f-%.2f%%) over %d seeds; per image: describe %.2f ms, patches %.2f ms, encode %.2f ms%s\n",
		c.name, res.Dims, 100*res.Mean, 100*res.Min, 100*res.Max, len(res.MIoU), res.DescMs, res.PatchMs, res.EncMs, tr)
	return res
}
