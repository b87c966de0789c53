// Command selftrain measures self-training: it trains the segmentation
// network of a run again, on the run's refined masks (or any folder of
// masks in the pseudo-label format) instead of its pseudo-labels, with the
// train stage's default settings, and writes the new network's refined
// masks, to be scored with eval_miou.py / segdiscover eval. One round per
// call; chain calls for more.
//
//	go run -tags openblas ./bench/selftrain -run OUT -images IN_DIR -labels OUT/masks_sp -seed 1 -refine superpixels -o OUT/masks_st1
package main

import (
	"context"
	"flag"
	"fmt"
	"image"
	"io"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/segdiscover/segdiscover/pipeline"
	"github.com/segdiscover/segdiscover/pipeline/artifact"
	"github.com/segdiscover/segdiscover/pseudolabel"
	"github.com/segdiscover/segdiscover/segnet"
	"github.com/segdiscover/segdiscover/superpixel"
)

func main() {
	runDir := flag.String("run", "", "OUT_DIR of a run (superpixels/)")
	images := flag.String("images", "", "the run's input folder")
	labels := flag.String("labels", "", "folder of masks to train on (<rel>.png, <rel>.conf.png)")
	out := flag.String("o", "", "output folder for the new masks")
	seed := flag.Uint64("seed", 1, "training seed")
	k := flag.Int("k", 8, "concepts")
	refine := flag.String("refine", "superpixels", "none, superpixels or crf")
	minConf := flag.Float64("min-conf", 0, "train only on pixels at least this confident")
	flag.Parse()
	files, _ := filepath.Glob(filepath.Join(*labels, "*.png"))
	sort.Strings(files)
	var rels []string
	for _, f := range files {
		if !strings.HasSuffix(f, ".conf.png") {
			rels = append(rels, strings.TrimSuffix(filepath.Base(f), ".png"))
		}
	}
	imgPath := func(rel string) string {
		m, _ := filepath.Glob(filepath.Join(*images, rel+".*"))
		if len(m) == 0 {
			log.Fatalf("%s: no image", rel)
		}
		return m[0]
	}
	samples := make([]segnet.Sample, len(rels))
	for i, rel := range rels {
		img, err := pipeline.LoadImage(imgPath(rel), 0)
		if err != nil {
			log.Fatal(err)
		}
		m := decode(filepath.Join(*labels, rel+".png"), func(r io.Reader) (any, error) { return artifact.DecodeMask(r, 0) }).(*image.Paletted)
		c := decode(filepath.Join(*labels, rel+".conf.png"), func(r io.Reader) (any, error) { return artifact.DecodeConfidence(r, 0) }).(*image.Gray)
		samples[i] = segnet.Sample{Image: img, Mask: m, Conf: c}
	}
	t0 := time.Now()
	tr, err := segnet.NewTrainer(segnet.Arch{Classes: *k}, samples, segnet.TrainSettings{MinConf: *minConf}, *seed)
	if err != nil {
		log.Fatal(err)
	}
	for !tr.Done() {
		es, err := tr.Epoch(context.Background())
		if err != nil {
			log.Fatal(err)
		}
		fmt.Fprintf(os.Stderr, "epoch %d loss %.4f %.0fs\n", es.Epoch, es.Loss, es.Seconds)
	}
	fmt.Fprintf(os.Stderr, "trained in %.0fs\n", time.Since(t0).Seconds())
	n := tr.Net()
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	for i, rel := range rels {
		img := samples[i].Image
		var mask *image.Paletted
		var conf *image.Gray
		switch *refine {
		case "superpixels":
			l := decode(filepath.Join(*runDir, "superpixels", rel+".png"), func(r io.Reader) (any, error) { return artifact.DecodeLabels(r, 0) }).(*superpixel.Labels)
			mask, conf = superpixelMask(n, img, l)
		case "crf":
			mask, conf = pseudolabel.CRFMask(img, *k, n.PredictProba, pseudolabel.CRFSettings{})
		default:
			mask, conf = n.Predict(img)
		}
		mask.Palette = pseudolabel.Palette()
		write(filepath.Join(*out, rel+".png"), func(w io.Writer) error { return artifact.EncodeMask(w, mask) })
		write(filepath.Join(*out, rel+".conf.png"), func(w io.Writer) error { return artifact.EncodeConfidence(w, conf) })
	}
}

func decode(path string, f func(io.Reader) (any, error)) any {
	fh, err := os.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer fh.Close()
	v, err := f(fh)
	if err != nil {
		log.Fatalf("%s: %v", path, err)
	}
	return v
}

func write(path string, f func(io.Writer) error) {
	fh, err := os.Create(path)
	if err != nil {
		log.Fatal(err)
	}
	if err := f(fh); err != nil {
		log.Fatal(err)
	}
	if err := fh.Close(); err != nil {
		log.Fatal(err)
	}
}

// superpixelMask is the masks stage's --refine superpixels.
func superpixelMask(n *segnet.Net, img *image.NRGBA, l *superpixel.Labels) (*image.Paletted, *image.Gray) {
	k := n.Arch().Classes
	post := n.PredictRegions(img, l.Pix, l.N)
	concepts := make([]int, l.N)
	best := make([]float64, l.N)
	for i := range l.N {
		p := post[i*k : (i+1)*k]
		for c, v := range p {
			if v > p[concepts[i]] {
				concepts[i] = c
			}
		}
		best[i] = p[concepts[i]]
	}
	return pseudolabel.Mask(l, concepts, best, pseudolabel.Settings{})
}
