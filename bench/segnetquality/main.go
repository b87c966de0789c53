// Command segnetquality trains segnet on a folder of pseudo-labels (8-bit
// PNG ids, 255 ignored, e.g. peers/results/pseudo_k8) over the matching
// Stanford Background images, once per seed, and writes the predicted masks
// as <out>/seed<S>/<id>.png (8-bit ids at the image's size) for
// peers/eval_miou.py. Used by bench/segnet_quality.sh.
package main

import (
	"context"
	"flag"
	"fmt"
	"image"
	"image/draw"
	_ "image/jpeg"
	"image/png"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/segdiscover/segdiscover/segnet"
)

func main() {
	images := flag.String("images", "../shared/data/stanford_background/images", "image folder (<id>.jpg)")
	pseudo := flag.String("pseudo", "../shared/peers/results/pseudo_k8", "pseudo-label folder (<id>.png)")
	out := flag.String("out", "", "output folder")
	seeds := flag.String("seeds", "0,1,2", "comma-separated seeds")
	epochs := flag.Int("epochs", 4, "epochs")
	h := flag.Int("h", 120, "training crop height")
	w := flag.Int("w", 160, "training crop width")
	lr := flag.Float64("lr", 1e-3, "peak learning rate")
	minScale := flag.Float64("min-scale", 0.75, "random scaled crop, smallest zoom")
	maxScale := flag.Float64("max-scale", 1.5, "random scaled crop, largest zoom")
	workers := flag.Int("workers", 2, "goroutines")
	limit := flag.Int("limit", 0, "use only the first N images (0 = all)")
	flag.Parse()
	if *out == "" {
		log.Fatal("-out is required")
	}
	files, err := filepath.Glob(filepath.Join(*pseudo, "*.png"))
	if err != nil {
		log.Fatal(err)
	}
	sort.Strings(files)
	var ids []string
	for _, f := range files {
		if strings.HasSuffix(f, ".conf.png") {
			continue
		}
		ids = append(ids, strings.TrimSuffix(filepath.Base(f), ".png"))
	}
	if *limit > 0 && *limit < len(ids) {
		ids = ids[:*limit]
	}
	t0 := time.Now()
	data := make([]segnet.Sample, len(ids))
	k := 0
	for i, id := range ids {
		img, err := loadRGB(filepath.Join(*images, id+".jpg"))
		if err != nil {
			log.Fatal(err)
		}
		m, err := loadIDs(filepath.Join(*pseudo, id+".png"))
		if err != nil {
			log.Fatal(err)
		}
		if m.Bounds() != img.Bounds() {
			log.Fatalf("%s: mask %v, image %v", id, m.Bounds(), img.Bounds())
		}
		for _, v := range m.Pix {
			if v != segnet.Ignore {
				k = max(k, int(v)+1)
			}
		}
		data[i] = segnet.Sample{Image: img, Mask: m}
	}
	log.Printf("loaded %d images, K=%d, %.1fs; backend %s", len(ids), k, time.Since(t0).Seconds(), segnet.Backend())
	for _, s := range strings.Split(*seeds, ",") {
		seed, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
		if err != nil {
			log.Fatal(err)
		}
		set := segnet.TrainSettings{Epochs: *epochs, LR: *lr, Height: *h, Width: *w, MinScale: *minScale,
			MaxScale: *maxScale, Workers: *workers}
		tr, err := segnet.NewTrainer(segnet.Arch{Classes: k}, data, set, seed)
		if err != nil {
			log.Fatal(err)
		}
		tt := time.Now()
		for !tr.Done() {
			st, err := tr.Epoch(context.Background())
			if err != nil {
				log.Fatal(err)
			}
			log.Printf("seed %d epoch %d loss %.4f %.1fs (%.2f img/s)", seed, st.Epoch, st.Loss, st.Seconds,
				float64(st.Images)/st.Seconds)
		}
		trainS := time.Since(tt).Seconds()
		dir := filepath.Join(*out, fmt.Sprintf("seed%d", seed))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			log.Fatal(err)
		}
		net := tr.Net()
		net.Workers = *workers
		tp := time.Now()
		agree, total := 0, 0
		for i, d := range data {
			mask, _ := net.Predict(d.Image) // at net.InputSize: cover-scaled to the training crop
			for j, v := range mask.Pix {
				if d.Mask.Pix[j] != segnet.Ignore {
					total++
					if v == d.Mask.Pix[j] {
						agree++
					}
				}
			}
			g := &image.Gray{Pix: mask.Pix, Stride: mask.Stride, Rect: mask.Rect}
			if err := writePNG(filepath.Join(dir, ids[i]+".png"), g); err != nil {
				log.Fatal(err)
			}
		}
		log.Printf("seed %d: train %.1fs (%.2f img/s), predict %.1fs, agreement with pseudo-labels %.4f -> %s",
			seed, trainS, float64(*epochs*len(data))/trainS, time.Since(tp).Seconds(), float64(agree)/float64(total), dir)
	}
}

func loadRGB(path string) (*image.NRGBA, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	src, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	dst := image.NewNRGBA(image.Rect(0, 0, src.Bounds().Dx(), src.Bounds().Dy()))
	draw.Draw(dst, dst.Bounds(), src, src.Bounds().Min, draw.Src)
	return dst, nil
}

func loadIDs(path string) (*image.Paletted, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	src, err := png.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	b := src.Bounds()
	m := image.NewPaletted(image.Rect(0, 0, b.Dx(), b.Dy()), nil)
	switch s := src.(type) {
	case *image.Gray:
		for y := range b.Dy() {
			copy(m.Pix[y*m.Stride:y*m.Stride+b.Dx()], s.Pix[y*s.Stride:y*s.Stride+b.Dx()])
		}
	case *image.Paletted:
		for y := range b.Dy() {
			copy(m.Pix[y*m.Stride:y*m.Stride+b.Dx()], s.Pix[y*s.Stride:y*s.Stride+b.Dx()])
		}
	default:
		return nil, fmt.Errorf("%s: want an 8-bit grey or paletted PNG, got %T", path, src)
	}
	return m, nil
}

func writePNG(path string, g *image.Gray) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, g); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
