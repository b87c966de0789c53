//go:build ignore

// Command features_eval measures feature extractors on Stanford Background:
// for each configuration it computes features for every image over given
// superpixels, standardises them, fits an 8-component full-covariance GMM
// (cluster.Fit) with several seeds, writes the concept maps, and scores
// them with ../shared/peers/eval_miou.py (Hungarian mIoU). It prints the
// time per image of each extractor.
//
//	/usr/bin/python3 bench/features_eval/slic_skimage.py ../shared/data/stanford_background/images /tmp/sp
//	go run bench/features_eval/main.go -sp /tmp/sp -out /tmp/pred [-configs default,sae-relu] [-seeds 4]
package main

import (
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
	name   string
	desc   *features.Settings        // hand-crafted block, or nil
	enc    *features.EncoderSettings // learned block, or nil
	encPCA int                       // PCA of the learned codes before concatenation
	encW   float64                   // weight of the learned block (0 = 1)
}

func main() {
	data := flag.String("data", "../shared/data/stanford_background", "dataset folder (images/, labels/)")
	spDir := flag.String("sp", "", "folder of 16-bit PNG superpixel maps <id>.png (required)")
	out := flag.String("out", filepath.Join(os.TempDir(), "features_eval"), "folder for concept maps")
	only := flag.String("configs", "", "comma-separated configurations (default all)")
	seeds := flag.Int("seeds", 4, "GMM seeds per configuration")
	reservoir := flag.Int("reservoir", 20000, "training patches for encoders")
	flag.Parse()
	if *spDir == "" {
		log.Fatal("-sp is required")
	}
	items := load(*data, *spDir)
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
	}
	want := strings.Split(*only, ",")
	for _, c := range all {
		if *only == "" || slices.Contains(want, c.name) {
			run(c, items, *seeds, *reservoir, *data, *out)
		}
	}
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

func run(c config, items []item, seeds, reservoir int, data, out string) {
	blocks := make([][]*mat.Dense, len(items))
	var tDesc, tPatch, tEnc, tTrain time.Duration
	var weights []float64
	if c.desc != nil {
		t0 := time.Now()
		for i, it := range items {
			blocks[i] = append(blocks[i], features.Describe(it.img, it.l, c.desc))
		}
		tDesc = time.Since(t0)
		weights = c.desc.ColumnWeights()
	}
	if c.enc != nil {
		t0 := time.Now()
		patches := make([]*mat.Dense, len(items))
		res := features.NewReservoir(reservoir, rand.NewPCG(1, 1))
		for i, it := range items {
			patches[i] = features.ExtractPatches(it.img, it.l, 0)
			res.AddRows(patches[i], func(k int) uint64 { return features.PatchKey(it.id, k) })
		}
		tPatch = time.Since(t0)
		t0 = time.Now()
		e := features.NewEncoder(features.PatchDims(0), *c.enc, rand.NewPCG(2, 2))
		sample := res.Sample()
		hist, err := e.Train(sample, rand.NewPCG(3, 3), nil)
		if err != nil {
			log.Fatal(err)
		}
		tTrain = time.Since(t0)
		ev := e.Evaluate(sample)
		fmt.Printf("  %s: loss %.4f -> %.4f; on the sample: reconstruction %.4f, mean activation %.3f\n",
			c.name, hist[0].Total, hist[len(hist)-1].Total, ev.Reconstruction, ev.MeanActivation)
		t0 = time.Now()
		codes := make([]*mat.Dense, len(items))
		var m features.Moments
		for i := range items {
			codes[i] = e.Encode(patches[i])
			m.Add(codes[i])
		}
		tEnc = time.Since(t0)
		n, ok := features.FitNormalizer(&m, features.NormalizerSettings{PCA: c.encPCA})
		if !ok {
			log.Fatal("PCA failed")
		}
		w := c.encW
		if w == 0 {
			w = 1
		}
		for i := range items {
			blocks[i] = append(blocks[i], n.Apply(codes[i]))
		}
		for range n.Dims() {
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
	x := mat.NewDense(m.N(), norm.Dims(), nil)
	k := 0
	for i := range items {
		y := norm.Apply(xs[i])
		r, _ := y.Dims()
		for j := range r {
			x.SetRow(k, y.RawRowView(j))
			k++
		}
	}
	n := float64(len(items))
	msPer := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / n }
	fmt.Printf("%s: %d dims, %d superpixels; per image: describe %.2f ms, patches %.2f ms, encode %.2f ms; training %.1f s\n",
		c.name, norm.Dims(), m.N(), msPer(tDesc), msPer(tPatch), msPer(tEnc), tTrain.Seconds())
	for s := range seeds {
		g, info, ok := cluster.Fit(x, cluster.Settings{K: 8}, rand.NewPCG(uint64(s)+10, 7))
		if !ok {
			fmt.Printf("  seed %d: GMM failed\n", s)
			continue
		}
		lab := g.Predict(x, 0)
		dir := filepath.Join(out, fmt.Sprintf("%s_s%d", c.name, s))
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
		res, err := cmd.CombinedOutput()
		if err != nil {
			log.Fatalf("eval_miou: %v\n%s", err, res)
		}
		lines := strings.Split(strings.TrimSpace(string(res)), "\n")
		fmt.Printf("  seed %d: mean log-likelihood %.4f, %d EM iterations: %s\n", s, info.LowerBound, info.Iterations, lines[max(0, len(lines)-3)])
	}
}
