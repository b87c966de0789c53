package pipeline

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/segdiscover/segdiscover/pipeline/artifact"
	"github.com/segdiscover/segdiscover/pipeline/export"
)

// A run's masks exported in every format decode back to exactly the masks,
// concept by concept, with the names of concepts.json.
func TestExportRoundTrip(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	writeScenes(t, in, 0, 5)
	c := testConfig()
	c.Until = StagePseudolabels
	if _, err := runTest(t, in, out, c); err != nil {
		t.Fatal(err)
	}
	// The user names a concept.
	cf, err := readConceptsFile(out)
	if err != nil {
		t.Fatal(err)
	}
	cf.Concepts[1].Name = "sky & co"
	f, _ := os.Create(filepath.Join(out, conceptsFileName))
	artifact.EncodeConcepts(f, cf)
	f.Close()

	masks := map[string]*image.Paletted{} // by file name under in
	files, _ := ListImages(in)
	for _, fi := range files {
		m, err := readExportMask(out, fi.Rel, 0)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(in, fi.Path)
		masks[filepath.ToSlash(rel)] = m
	}
	inside := func(file string, concept int, x, y int) bool {
		return masks[file].Pix[masks[file].PixOffset(x, y)] == uint8(concept)
	}
	dir := t.TempDir()
	for _, format := range ExportFormats {
		sum, err := Export(context.Background(), ExportOptions{OutDir: out, Format: format, Dir: filepath.Join(dir, format)})
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if sum.Images != 5 || sum.Annotations == 0 || sum.Source != "pseudolabels" {
			t.Errorf("%s: %+v", format, sum)
		}
	}
	// COCO
	var coco struct {
		Images []struct {
			ID       int    `json:"id"`
			FileName string `json:"file_name"`
		} `json:"images"`
		Annotations []struct {
			ImageID      int `json:"image_id"`
			CategoryID   int `json:"category_id"`
			Segmentation struct {
				Size   [2]int `json:"size"`
				Counts string `json:"counts"`
			} `json:"segmentation"`
			Area int `json:"area"`
		} `json:"annotations"`
		Categories []struct {
			ID   int    `json:"id"`
			Name string `json:"name"`
		} `json:"categories"`
	}
	data, _ := os.ReadFile(filepath.Join(dir, "coco", "annotations.json"))
	if err := json.Unmarshal(data, &coco); err != nil {
		t.Fatal(err)
	}
	if coco.Categories[1].Name != "sky & co" {
		t.Errorf("categories %+v", coco.Categories)
	}
	names := map[int]string{}
	for _, im := range coco.Images {
		names[im.ID] = im.FileName
	}
	for _, a := range coco.Annotations {
		file := names[a.ImageID]
		counts, err := export.ParseCOCOString(a.Segmentation.Counts)
		if err != nil {
			t.Fatal(err)
		}
		h, w := a.Segmentation.Size[0], a.Segmentation.Size[1]
		pos, v, area := 0, false, 0
		for _, n := range counts {
			for range n {
				x, y := pos/h, pos%h
				if v != inside(file, a.CategoryID-1, x, y) {
					t.Fatalf("%s concept %d: pixel %d,%d differs", file, a.CategoryID-1, x, y)
				}
				if v {
					area++
				}
				pos++
			}
			v = !v
		}
		if pos != w*h || area != a.Area {
			t.Errorf("%s: %d pixels, area %d/%d", file, pos, area, a.Area)
		}
	}
	// CVAT
	var cvat struct {
		Images []struct {
			Name  string `xml:"name,attr"`
			Masks []struct {
				Label string `xml:"label,attr"`
				RLE   string `xml:"rle,attr"`
				Left  int    `xml:"left,attr"`
				Top   int    `xml:"top,attr"`
				Width int    `xml:"width,attr"`
			} `xml:"mask"`
		} `xml:"image"`
	}
	data, _ = os.ReadFile(filepath.Join(dir, "cvat", "annotations.xml"))
	if err := xml.Unmarshal(data, &cvat); err != nil {
		t.Fatal(err)
	}
	byName := map[string]int{}
	for _, c := range cf.Concepts {
		byName[c.Name] = c.ID
	}
	for _, im := range cvat.Images {
		for _, m := range im.Masks {
			pos, v := 0, false
			for _, s := range strings.Split(m.RLE, ", ") {
				var n int
				if _, err := fmtSscan(s, &n); err != nil {
					t.Fatal(err)
				}
				for range n {
					x, y := m.Left+pos%m.Width, m.Top+pos/m.Width
					if v != inside(im.Name, byName[m.Label], x, y) {
						t.Fatalf("cvat %s %s: pixel %d,%d differs", im.Name, m.Label, x, y)
					}
					pos++
				}
				v = !v
			}
		}
	}
	// Label Studio
	var tasks []struct {
		Data        map[string]string `json:"data"`
		Predictions []struct {
			Result []struct {
				Value struct {
					RLE         []int    `json:"rle"`
					BrushLabels []string `json:"brushlabels"`
				} `json:"value"`
			} `json:"result"`
		} `json:"predictions"`
	}
	data, _ = os.ReadFile(filepath.Join(dir, "labelstudio", "tasks.json"))
	if err := json.Unmarshal(data, &tasks); err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		file := strings.TrimPrefix(task.Data["image"], "/data/local-files/?d=")
		m := masks[file]
		for _, r := range task.Predictions[0].Result {
			vals, err := export.DecodeLabelStudioRLE(r.Value.RLE)
			if err != nil {
				t.Fatal(err)
			}
			w := m.Rect.Dx()
			for i := range len(vals) / 4 {
				if (vals[4*i+3] == 255) != inside(file, byName[r.Value.BrushLabels[0]], i%w, i/w) {
					t.Fatalf("labelstudio %s: pixel %d differs", file, i)
				}
			}
		}
	}
	// PNG
	for file, m := range masks {
		for _, c := range cf.Concepts {
			p := filepath.Join(dir, "png", itoa(c.ID)+"-"+slug(c.Name), trimExt(file)+".png")
			f, err := os.Open(p)
			if err != nil {
				continue // concept absent from this image
			}
			g, err := png.Decode(f)
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			gr := g.(*image.Gray)
			for i, v := range gr.Pix {
				x, y := i%gr.Stride, i/gr.Stride
				if (v == 255) != (m.Pix[m.PixOffset(x, y)] == uint8(c.ID)) {
					t.Fatalf("png %s: pixel %d differs", p, i)
				}
			}
		}
	}
	// The independent Python decoder, when Pillow and numpy are there.
	if py, err := exec.LookPath("/usr/bin/python3"); err == nil {
		cmd := exec.Command(py, "-c", "import numpy, PIL")
		if cmd.Run() == nil {
			outp, err := exec.Command(py, "../bench/coco_rle_check.py", out, filepath.Join(dir, "coco", "annotations.json")).CombinedOutput()
			if err != nil || !strings.Contains(string(outp), " 0 bad") {
				t.Errorf("coco_rle_check.py: %v\n%s", err, outp)
			}
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func fmtSscan(s string, n *int) (int, error) {
	v, err := strconv.Atoi(strings.TrimSpace(s))
	*n = v
	return 1, err
}
