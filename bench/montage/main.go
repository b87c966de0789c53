// Command montage draws, for a few images of a run, one row of tiles:
// the image, then each given folder of concept masks (pseudo-labels,
// refined masks) in the fixed concept palette, downscaled to -width pixels
// per tile, into one PNG, so that a person can look at what the stages do.
//
//	go run ./bench/montage -in IN_DIR -ids 100007,100039 -o m.png OUT/pseudolabels OUT/masks
package main

import (
	"flag"
	"image"
	"image/draw"
	"image/png"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/disintegration/imaging"

	"github.com/segdiscover/segdiscover/pipeline/artifact"
	"github.com/segdiscover/segdiscover/pseudolabel"
)

func main() {
	in := flag.String("in", "", "input image folder")
	ids := flag.String("ids", "", "comma-separated <rel> of the images, one row each")
	out := flag.String("o", "montage.png", "output PNG")
	width := flag.Int("width", 160, "tile width in pixels")
	flag.Parse()
	rels := strings.Split(*ids, ",")
	cols := 1 + flag.NArg()
	var rows [][]image.Image
	const gap = 2
	th := 0 // canvas height
	for _, rel := range rels {
		img, err := loadInput(*in, rel)
		if err != nil {
			log.Fatal(err)
		}
		tiles := []image.Image{img}
		for _, dir := range flag.Args() {
			f, err := os.Open(filepath.Join(dir, rel+".png"))
			if err != nil {
				log.Fatal(err)
			}
			m, err := artifact.DecodeMask(f, 0)
			f.Close()
			if err != nil {
				log.Fatal(err)
			}
			m.Palette = pseudolabel.Palette()
			tiles = append(tiles, m)
		}
		for i, t := range tiles {
			// Masks hold ids: nearest neighbour keeps them crisp.
			filter := imaging.NearestNeighbor
			if i == 0 {
				filter = imaging.Lanczos
			}
			tiles[i] = imaging.Resize(t, *width, 0, filter)
		}
		th += tiles[0].Bounds().Dy() + gap
		rows = append(rows, tiles)
	}
	canvas := image.NewNRGBA(image.Rect(0, 0, cols*(*width+gap)-gap, th-gap))
	draw.Draw(canvas, canvas.Bounds(), image.White, image.Point{}, draw.Src)
	y := 0
	for _, tiles := range rows {
		for c, t := range tiles {
			at := image.Pt(c*(*width+gap), y)
			draw.Draw(canvas, t.Bounds().Add(at), t, image.Point{}, draw.Src)
		}
		y += tiles[0].Bounds().Dy() + gap
	}
	f, err := os.Create(*out)
	if err != nil {
		log.Fatal(err)
	}
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(f, canvas); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
}

func loadInput(dir, rel string) (image.Image, error) {
	for _, ext := range []string{".jpg", ".png", ".jpeg"} {
		p := filepath.Join(dir, rel+ext)
		if f, err := os.Open(p); err == nil {
			defer f.Close()
			return artifact.DecodeImage(f, 0)
		}
	}
	return nil, os.ErrNotExist
}
