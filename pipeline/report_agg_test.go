package pipeline

import (
	"encoding/json"
	"fmt"
	"image"
	"math/rand/v2"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"testing"

	"github.com/segdiscover/segdiscover/pipeline/artifact"
	"github.com/segdiscover/segdiscover/pipeline/htmlreport"
)

// TestReportAggMatchesAllStats checks that the report built from the
// streamed aggregate (reportAgg, fed image by image in input order) is
// the one built from every image's statistics at once, as the report
// stage did before (oldBuildReport, kept below as the reference): same
// figures, crops, dominant images, sample and pictures, with many ties
// in confidence and share (quantised as the masks are) and images a
// concept does not cover.
func TestReportAggMatchesAllStats(t *testing.T) {
	for _, tc := range []struct{ images, k int }{{1, 3}, {5, 4}, {23, 3}, {24, 2}, {700, 8}, {1000, 33}} {
		t.Run(fmt.Sprintf("images=%d,k=%d", tc.images, tc.k), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(tc.images), uint64(tc.k)))
			var cs []artifact.Concept
			for c := range tc.k {
				cs = append(cs, artifact.Concept{ID: c, Name: fmt.Sprintf("concept %d", c), Colour: "#102030"})
			}
			r := &runner{cfg: testConfig().Defaults(), o: Options{InDir: "/data/in", OutDir: "/data/out"},
				sum: &Summary{Images: tc.images}, concepts: cs}
			var all []*imageStats
			agg := newReportAgg(tc.k)
			for i := range tc.images {
				it := &item{file: &ImageFile{Rel: fmt.Sprintf("d%d/img%04d", i%3, i), Path: fmt.Sprintf("/data/in/img%04d.jpg", i)}}
				s := &imageStats{it: it, pixels: int64(10 + rng.IntN(3)), count: make([]int64, 256), conf: make([]float64, 256), best: make([]cropCand, tc.k)}
				for range s.pixels {
					c := rng.IntN(tc.k + 1) // tc.k: the unlabelled id
					if c == tc.k {
						c = 255
					}
					s.count[c]++
					s.conf[c] += float64(rng.IntN(4)) / 255
				}
				for c := range tc.k {
					if rng.IntN(3) > 0 {
						x, y := rng.IntN(20), rng.IntN(20)
						s.best[c] = cropCand{conf: float64(200+rng.IntN(4)) / 255, box: image.Rect(x, y, x+5, y+5), it: it, ok: true}
					}
				}
				all = append(all, s)
				agg.add(s)
			}
			wantRep, wantPics := r.oldBuildReport(all, tc.k, true)
			gotRep, gotPics := r.buildReport(agg, tc.k, true)
			if !reflect.DeepEqual(gotRep, wantRep) {
				a, _ := json.Marshal(gotRep)
				b, _ := json.Marshal(wantRep)
				t.Fatalf("report differs:\n%s\nwant\n%s", a, b)
			}
			if !reflect.DeepEqual(gotPics, wantPics) {
				t.Fatalf("pictures differ: %d vs %d", len(gotPics), len(wantPics))
			}
			if len(wantRep.Concepts) != tc.k || (tc.images > 6 && len(wantRep.Concepts[0].Dominant) == 0) {
				t.Fatalf("degenerate case: %d concepts", len(wantRep.Concepts))
			}
		})
	}
}

// TestTopInsert checks topInsert against a stable sort of everything.
func TestTopInsert(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	type kv struct{ key, seq int }
	for _, n := range []int{1, 2, 6, 8, 50} {
		for trial := range 50 {
			var top, every []kv
			for i := range rng.IntN(60) {
				v := kv{rng.IntN(5 + trial%7), i}
				every = append(every, v)
				top = topInsert(top, v, n, func(x kv) float64 { return float64(x.key) })
			}
			sort.SliceStable(every, func(a, b int) bool { return every[a].key > every[b].key })
			if want := every[:min(n, len(every))]; !slices.Equal(top, want) {
				t.Fatalf("n=%d: %v, want %v", n, top, want)
			}
		}
	}
}

// oldBuildReport is buildReport as it was when the report stage held
// every image's statistics: the reference of TestReportAggMatchesAllStats.
func (r *runner) oldBuildReport(all []*imageStats, k int, trained bool) (*htmlreport.Report, []picture) {
	var total int64
	count := make([]int64, 256)
	conf := make([]float64, 256)
	images := make([]int, 256)
	for _, s := range all {
		total += s.pixels
		for c := range 256 {
			count[c] += s.count[c]
			conf[c] += s.conf[c]
			if s.count[c] > 0 && float64(s.count[c]) >= reportPresent*float64(s.pixels) {
				images[c]++
			}
		}
	}
	pics := map[string]picture{}
	overlayPic := func(it *item, caption string) htmlreport.Picture {
		f := thumbName("thumbs", it.file.Rel, image.Rectangle{})
		pics[f] = picture{it: it, file: f}
		return htmlreport.Picture{Src: f, Href: overlayPath(it.file.Rel), Caption: caption}
	}
	// The input folder's last two names: "stanford_background/images"
	// says more than "images".
	abs, _ := filepath.Abs(r.o.InDir)
	title := filepath.ToSlash(filepath.Join(filepath.Base(filepath.Dir(abs)), filepath.Base(abs)))
	rep := &htmlreport.Report{Title: "segdiscover report: " + title, InDir: r.o.InDir, OutDir: r.o.OutDir,
		Images: r.sum.Images, Failed: len(r.failures), Source: "pseudo-labels (pseudolabels/)"}
	if trained {
		rep.Source = "refined masks (masks/)"
	}
	for _, c := range r.concepts[:k] {
		rc := htmlreport.Concept{ID: c.ID, Name: c.Name, Colour: c.Colour, Images: images[c.ID]}
		if total > 0 {
			rc.PixelShare = float64(count[c.ID]) / float64(total)
		}
		if count[c.ID] > 0 {
			rc.MeanConf = conf[c.ID] / float64(count[c.ID])
		}
		// Crops: the most confident superpixels, one per image.
		var cands []cropCand
		for _, s := range all {
			if b := s.best[c.ID]; b.ok {
				cands = append(cands, b)
			}
		}
		sort.SliceStable(cands, func(a, b int) bool { return cands[a].conf > cands[b].conf })
		for _, cd := range cands[:min(reportCrops, len(cands))] {
			box := padBox(cd.box)
			f := thumbName("crops", cd.it.file.Rel, box)
			pics[f] = picture{it: cd.it, box: box, file: f}
			rc.Crops = append(rc.Crops, htmlreport.Picture{Src: f, Href: overlayPath(cd.it.file.Rel),
				Caption: fmt.Sprintf("%s, confidence %.2f", cd.it.file.Rel, cd.conf)})
		}
		// The images it covers most.
		dom := slices.Clone(all)
		share := func(s *imageStats) float64 { return float64(s.count[c.ID]) / float64(max(1, s.pixels)) }
		sort.SliceStable(dom, func(a, b int) bool { return share(dom[a]) > share(dom[b]) })
		for _, s := range dom[:min(reportDominant, len(dom))] {
			if s.count[c.ID] == 0 {
				break
			}
			rc.Dominant = append(rc.Dominant, overlayPic(s.it, fmt.Sprintf("%s %.0f%%", path.Base(s.it.file.Rel), 100*share(s))))
		}
		rep.Concepts = append(rep.Concepts, rc)
	}
	// An even sample of the run's images.
	n := min(reportSample, len(all))
	for i := range n {
		s := all[i*len(all)/n]
		rep.Sample = append(rep.Sample, overlayPic(s.it, path.Base(s.it.file.Rel)))
	}
	r.addRunInfo(rep, k)
	list := make([]picture, 0, len(pics))
	for _, p := range pics {
		list = append(list, p)
	}
	sort.Slice(list, func(a, b int) bool { return list[a].file < list[b].file })
	return rep, list
}
