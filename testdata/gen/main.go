// Command gen writes the synthetic scenes of testdata/images/synthetic: small
// outdoor-like images whose every pixel has a known class, for tests and
// quick runs of the whole pipeline. Run from the module root:
//
//	go run ./testdata/gen
//
// It writes testdata/images/synthetic/<name>.png (8-bit sRGB),
// testdata/gt/synthetic/<name>.png (8-bit gray, pixel value = class index)
// and testdata/gt/synthetic/classes.txt (one "<index> <name>" per line).
// The ground truth lives outside testdata/images so that a run over the
// images does not take the class maps for photographs. The
// output depends only on the fixed seeds below: running it again gives the
// same bytes.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
)

// Classes, in ground-truth index order.
const (
	sky = iota
	grass
	water
	building
	sand
	numClasses
)

var classNames = [numClasses]string{"sky", "grass", "water", "building", "sand"}

// scene describes one image: its size and the seed of its layout and
// textures.
type scene struct {
	name string
	w, h int
	seed uint64
}

var scenes = []scene{
	{"lake", 320, 240, 1},
	{"town", 320, 240, 2},
	{"meadow", 240, 180, 3},
	{"harbour", 256, 192, 4},
	{"beach", 200, 150, 5},
	{"village", 160, 120, 6},
	{"coast", 288, 216, 7},
}

func main() {
	out := flag.String("o", filepath.Join("testdata", "images", "synthetic"), "output folder of the images")
	gtDir := flag.String("gt", filepath.Join("testdata", "gt", "synthetic"), "output folder of the class maps and classes.txt")
	flag.Parse()
	for _, d := range []string{*out, *gtDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			log.Fatal(err)
		}
	}
	var classes bytes.Buffer
	for i, n := range classNames {
		fmt.Fprintf(&classes, "%d %s\n", i, n)
	}
	if err := os.WriteFile(filepath.Join(*gtDir, "classes.txt"), classes.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
	for _, sc := range scenes {
		img, gt := render(sc)
		if err := writePNG(filepath.Join(*out, sc.name+".png"), img); err != nil {
			log.Fatal(err)
		}
		if err := writePNG(filepath.Join(*gtDir, sc.name+".png"), gt); err != nil {
			log.Fatal(err)
		}
	}
}

func writePNG(path string, img image.Image) error {
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&buf, img); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// render lays out the classes of sc (the ground truth first), then paints
// every pixel with the texture of its class.
func render(sc scene) (*image.NRGBA, *image.Gray) {
	rng := rand.New(rand.NewPCG(sc.seed, 0x5e9d15c0))
	w, h := sc.w, sc.h
	gt := image.NewGray(image.Rect(0, 0, w, h))

	// A wavy horizon separates sky from ground; the ground is split into
	// two classes by a wavy, slanted shoreline.
	horizon := (0.3 + 0.25*rng.Float64()) * float64(h)
	hAmp, hFreq, hPhase := 2+4*rng.Float64(), 1+2*rng.Float64(), 2*math.Pi*rng.Float64()
	ground := [2]uint8{grass, water}
	switch rng.IntN(3) {
	case 1:
		ground = [2]uint8{sand, water}
	case 2:
		ground = [2]uint8{grass, sand}
	}
	shore := (0.3 + 0.4*rng.Float64()) * float64(w)
	slant := 0.8 * (rng.Float64() - 0.5)
	sAmp, sFreq := 3+6*rng.Float64(), 1+3*rng.Float64()
	for y := range h {
		for x := range w {
			fx, fy := float64(x), float64(y)
			c := uint8(sky)
			if fy >= horizon+hAmp*math.Sin(hFreq*2*math.Pi*fx/float64(w)+hPhase) {
				c = ground[0]
				if fx >= shore+slant*(fy-horizon)+sAmp*math.Sin(sFreq*2*math.Pi*fy/float64(h)) {
					c = ground[1]
				}
			}
			gt.Pix[y*gt.Stride+x] = c
		}
	}
	// Buildings: axis-aligned blocks standing on the horizon.
	for range rng.IntN(4) {
		bw := int(float64(w) * (0.08 + 0.15*rng.Float64()))
		bh := int(horizon * (0.3 + 0.6*rng.Float64()))
		x0 := rng.IntN(w - bw)
		y1 := min(h, int(horizon)+int(0.1*float64(h)*rng.Float64())+4)
		for y := max(0, y1-bh); y < y1; y++ {
			for x := x0; x < x0+bw; x++ {
				gt.Pix[y*gt.Stride+x] = building
			}
		}
	}

	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	tint := [numClasses]float64{}
	for i := range tint {
		tint[i] = 0.9 + 0.2*rng.Float64()
	}
	stripe := 5 + 4*rng.Float64()
	window := 6 + rng.IntN(4)
	for y := range h {
		for x := range w {
			fx, fy := float64(x), float64(y)
			var r, g, b float64
			switch gt.Pix[y*gt.Stride+x] {
			case sky: // vertical gradient, deep to pale blue, smooth
				t := fy / float64(h)
				r, g, b = 70+120*t, 120+100*t, 220+30*t
			case grass: // green with strong per-pixel noise
				n := rng.NormFloat64() * 18
				r, g, b = 60+0.5*n, 140+n, 50+0.4*n
			case water: // horizontal ripples
				s := math.Sin(2*math.Pi*fy/stripe + 0.15*math.Sin(fx/9))
				r, g, b = 30+10*s, 90+25*s, 150+30*s
			case building: // grey wall with a grid of dark windows
				r, g, b = 150, 145, 140
				if x%window > 1 && y%window > 2 && x%window < window-1 {
					r, g, b = 60, 65, 80
				}
			case sand: // light tan, fine grain
				n := rng.NormFloat64() * 6
				r, g, b = 215+n, 190+n, 140+n
			}
			c := gt.Pix[y*gt.Stride+x]
			img.SetNRGBA(x, y, color.NRGBA{clamp(r * tint[c]), clamp(g * tint[c]), clamp(b * tint[c]), 255})
		}
	}
	return img, gt
}

func clamp(v float64) uint8 {
	return uint8(max(0, min(255, math.Round(v))))
}
