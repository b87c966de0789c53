package pipeline

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func namedItems(n int) []*item {
	items := make([]*item, n)
	for i := range items {
		items[i] = &item{file: &ImageFile{Rel: fmt.Sprintf("dir%d/img%05d", i%7, i)}}
	}
	return items
}

func rels(items []*item) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.file.Rel)
	}
	return out
}

// TestEncoderImagesSample checks the properties of the SwAV/DeepCluster
// training sample: all images up to the cap, then exactly the cap, in input
// order, the same set whatever the order of listing, at most one image
// moved out when one is added, and no sampling for the other encoders.
func TestEncoderImagesSample(t *testing.T) {
	for _, tc := range []struct {
		encoder   string
		n, cap    int
		wantCount int
	}{
		{"swav", 50, 100, 50}, {"swav", 100, 100, 100}, {"swav", 101, 100, 100}, {"deepcluster", 1000, 37, 37},
		{"handcrafted+swav", 300, 10, 10}, {"sae-sigmoid", 300, 10, 300}, {"handcrafted", 300, 10, 300},
	} {
		t.Run(fmt.Sprintf("%s/n=%d/cap=%d", tc.encoder, tc.n, tc.cap), func(t *testing.T) {
			r := &runner{cfg: Config{Encoder: tc.encoder, EncoderImages: tc.cap}}
			items := namedItems(tc.n)
			got := r.encoderImages(items)
			if len(got) != tc.wantCount {
				t.Fatalf("%d images, want %d", len(got), tc.wantCount)
			}
			pos := map[*item]int{}
			for i, it := range items {
				pos[it] = i
			}
			for i := 1; i < len(got); i++ {
				if pos[got[i-1]] >= pos[got[i]] {
					t.Fatal("not in input order")
				}
			}
			if again := r.encoderImages(got); !slices.Equal(again, got) {
				t.Error("sampling the sample changed it")
			}
			shuffled := slices.Clone(items)
			rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			a, b := rels(got), rels(r.encoderImages(shuffled))
			slices.Sort(a)
			slices.Sort(b)
			if !slices.Equal(a, b) {
				t.Error("the sample depends on the listing order")
			}
			grown := append(slices.Clone(items), &item{file: &ImageFile{Rel: "new/image"}})
			after := rels(r.encoderImages(grown))
			out := 0
			for _, rel := range rels(got) {
				if !slices.Contains(after, rel) {
					out++
				}
			}
			if out > 1 {
				t.Errorf("adding an image moved %d out", out)
			}
		})
	}
}

// TestSwAVTrainsOnEncoderImages checks that with more images than
// --encoder-images the SwAV encoder is, byte for byte, the one trained on
// a folder holding only the sampled images, and that every image still
// gets features.
func TestSwAVTrainsOnEncoderImages(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	all := writeScenes(t, in, 0, 6)
	c := swavTestConfig()
	c.Until = StageFeatures
	c.EncoderImages = 3
	if _, err := runTest(t, in, out, c); err != nil {
		t.Fatal(err)
	}
	r := &runner{cfg: c.Defaults()}
	var items []*item
	for _, rel := range all {
		items = append(items, &item{file: &ImageFile{Rel: rel}})
	}
	chosen := rels(r.encoderImages(items))
	if len(chosen) != 3 {
		t.Fatalf("sample of %d", len(chosen))
	}
	for _, rel := range all {
		if _, err := os.Stat(filepath.Join(out, filepath.FromSlash(featurePath(rel)))); err != nil {
			t.Errorf("no features for %s: %v", rel, err)
		}
	}
	in3, out3 := t.TempDir(), t.TempDir()
	for i, rel := range all {
		if slices.Contains(chosen, rel) {
			writeScenes(t, in3, i, 1)
		}
	}
	c3 := c
	c3.EncoderImages = 0
	if _, err := runTest(t, in3, out3, c3); err != nil {
		t.Fatal(err)
	}
	a, err := os.ReadFile(filepath.Join(out, encoderFile))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out3, encoderFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("the encoder trained on a sample of %s differs from the one trained on those images alone", strings.Join(chosen, ", "))
	}
}
