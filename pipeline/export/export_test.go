package export

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func randomMask(rng *rand.Rand, w, h int) Binary {
	b := Binary{W: w, H: h, Pix: make([]uint8, w*h)}
	// Blobs, so that runs are long and short.
	for range 3 {
		cx, cy, r := rng.IntN(w), rng.IntN(h), 1+rng.IntN(max(w, h)/2+1)
		for y := range h {
			for x := range w {
				if (x-cx)*(x-cx)+(y-cy)*(y-cy) < r*r {
					b.Pix[y*w+x] = 1
				}
			}
		}
	}
	return b
}

// decodeCOCO expands column-major run lengths.
func decodeCOCO(counts []int, w, h int) []uint8 {
	cm := make([]uint8, 0, w*h)
	v := uint8(0)
	for _, c := range counts {
		for range c {
			cm = append(cm, v)
		}
		v ^= 1
	}
	out := make([]uint8, w*h)
	for i, p := range cm {
		out[(i%h)*w+i/h] = p
	}
	return out
}

func TestCOCOStringKnown(t *testing.T) {
	// Worked by hand from pycocotools' rleToString: 100 is 3<<5|4 (the
	// group 4 with the continuation bit, then 3); the fourth count is
	// coded as its difference to the second, 1-100 = -99 = -4<<5|29.
	for _, tc := range []struct {
		counts []int
		want   string
	}{
		{[]int{1, 3}, "13"}, {[]int{0, 1}, "01"}, {[]int{5, 100, 3}, "5T33"}, {[]int{5, 100, 3, 1}, "5T33mL"},
	} {
		if got := COCOString(tc.counts); got != tc.want {
			t.Errorf("COCOString(%v) = %q, want %q", tc.counts, got, tc.want)
		}
		if got, err := ParseCOCOString(tc.want); err != nil || !slices.Equal(got, tc.counts) {
			t.Errorf("ParseCOCOString(%q) = %v, %v", tc.want, got, err)
		}
	}
	// A 2x2 mask [[0,1],[1,1]]: column-major 0,1,1,1.
	if got := COCOCounts(Binary{W: 2, H: 2, Pix: []uint8{0, 1, 1, 1}}); !slices.Equal(got, []int{1, 3}) {
		t.Errorf("counts %v", got)
	}
}

func TestRoundTrips(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		w, h := 1+rng.IntN(70), 1+rng.IntN(50)
		b := randomMask(rng, w, h)
		if i%17 == 0 {
			clear(b.Pix)
		}
		counts, err := ParseCOCOString(COCOString(COCOCounts(b)))
		if err != nil {
			t.Fatal(err)
		}
		if got := decodeCOCO(counts, w, h); !slices.Equal(got, b.Pix) {
			t.Fatalf("%dx%d: COCO round trip differs", w, h)
		}
		vals, err := DecodeLabelStudioRLE(LabelStudioRLE(b))
		if err != nil {
			t.Fatal(err)
		}
		for j, p := range b.Pix {
			if want := 255 * p; vals[4*j+3] != want || vals[4*j] != want {
				t.Fatalf("%dx%d: Label Studio round trip differs at %d", w, h, j)
			}
		}
		if r := b.Bounds(); !r.Empty() {
			cv := CVATCounts(b, r)
			var n, in int
			for k, c := range cv {
				n += c
				if k%2 == 1 {
					in += c
				}
			}
			if n != r.Dx()*r.Dy() || in != b.Area() {
				t.Fatalf("CVAT counts %v over %v", cv, r)
			}
		}
	}
}

func bitsToInts(t *testing.T, bits string) []int {
	bits = strings.ReplaceAll(bits, " ", "")
	for len(bits)%8 != 0 {
		bits += "0"
	}
	var out []int
	for i := 0; i < len(bits); i += 8 {
		v, err := strconv.ParseUint(bits[i:i+8], 2, 8)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, int(v))
	}
	return out
}

// The bit stream of label-studio-converter's brush RLE, written out by
// hand for a 2x1 mask [in, out]: 8 RGBA values, word size 8, run sizes
// 3 4 8 16, a run of four 255s and a run of four 0s.
func TestLabelStudioRLEKnown(t *testing.T) {
	want := bitsToInts(t, "00000000000000000000000000001000 00111 0010 0011 0111 1111"+
		" 1 00 011 11111111"+
		" 1 00 011 00000000")
	if got := LabelStudioRLE(Binary{W: 2, H: 1, Pix: []uint8{1, 0}}); !slices.Equal(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}

// The documented import file of Label Studio (labelstud.io "Import
// pre-annotations", brush masks), written from its documentation.
const lsDocExample = `[{
  "data": {"image": "/data/local-files/?d=images/a.jpg"},
  "predictions": [{
    "model_version": "one",
    "result": [{
      "id": "r1",
      "type": "brushlabels",
      "from_name": "tag",
      "to_name": "image",
      "original_width": 2,
      "original_height": 1,
      "image_rotation": 0,
      "value": {"format": "rle", "rle": [0, 0, 0, 8, 57, 27, 252, 127, 241, 128, 0], "brushlabels": ["sky"]}
    }]
  }]
}]`

// keysOf returns the JSON object keys along every path of v, for
// comparing the shape of two documents.
func keysOf(v any, prefix string, out map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			out[prefix+"."+k] = true
			keysOf(e, prefix+"."+k, out)
		}
	case []any:
		for _, e := range x {
			keysOf(e, prefix+"[]", out)
		}
	}
}

func TestLabelStudioSchema(t *testing.T) {
	var buf bytes.Buffer
	lw := NewLabelStudioWriter(&buf, "/data/local-files/?d=images/")
	im := Image{File: "a.jpg", Width: 2, Height: 1, Masks: slices.Values([]Mask{{Concept: 3, Binary: Binary{W: 2, H: 1, Pix: []uint8{1, 0}}}})}
	if err := lw.Add(im, map[int]string{3: "sky"}); err != nil {
		t.Fatal(err)
	}
	if err := lw.Close(); err != nil {
		t.Fatal(err)
	}
	var got, want []any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	if err := json.Unmarshal([]byte(lsDocExample), &want); err != nil {
		t.Fatal(err)
	}
	gk, wk := map[string]bool{}, map[string]bool{}
	keysOf(got, "", gk)
	keysOf(want, "", wk)
	for k := range wk {
		if !gk[k] {
			t.Errorf("missing %s", k)
		}
	}
	for k := range gk {
		if !wk[k] {
			t.Errorf("unexpected %s", k)
		}
	}
	r := got[0].(map[string]any)["predictions"].([]any)[0].(map[string]any)["result"].([]any)[0].(map[string]any)
	v := r["value"].(map[string]any)
	if r["type"] != "brushlabels" || v["format"] != "rle" || v["brushlabels"].([]any)[0] != "sky" {
		t.Errorf("result %v", r)
	}
	var cfg bytes.Buffer
	LabelStudioConfig(&cfg, []Category{{ID: 3, Name: "sky & cloud", Colour: "#8080ff"}})
	var view struct {
		XMLName xml.Name `xml:"View"`
		Image   struct {
			Name  string `xml:"name,attr"`
			Value string `xml:"value,attr"`
		} `xml:"Image"`
		Brush struct {
			Name   string `xml:"name,attr"`
			ToName string `xml:"toName,attr"`
			Labels []struct {
				Value      string `xml:"value,attr"`
				Background string `xml:"background,attr"`
			} `xml:"Label"`
		} `xml:"BrushLabels"`
	}
	if err := xml.Unmarshal(cfg.Bytes(), &view); err != nil {
		t.Fatal(err)
	}
	if view.Image.Name != r["to_name"] || view.Brush.Name != r["from_name"] || view.Brush.ToName != view.Image.Name ||
		view.Image.Value != "$image" || view.Brush.Labels[0].Value != "sky & cloud" {
		t.Errorf("config %+v", view)
	}
}

// The structure of "CVAT for images 1.1" as its documentation gives it
// (docs.cvat.ai, CVAT for images: <annotations><version>, <meta><task>
// <labels><label><name><color><type>, <image id name width height> with
// <mask label source occluded rle left top width height z_order>).
type cvatDoc struct {
	XMLName xml.Name `xml:"annotations"`
	Version string   `xml:"version"`
	Labels  []struct {
		Name  string `xml:"name"`
		Color string `xml:"color"`
		Type  string `xml:"type"`
	} `xml:"meta>task>labels>label"`
	Images []struct {
		ID     int    `xml:"id,attr"`
		Name   string `xml:"name,attr"`
		Width  int    `xml:"width,attr"`
		Height int    `xml:"height,attr"`
		Masks  []struct {
			Label    string `xml:"label,attr"`
			Source   string `xml:"source,attr"`
			Occluded string `xml:"occluded,attr"`
			RLE      string `xml:"rle,attr"`
			Left     int    `xml:"left,attr"`
			Top      int    `xml:"top,attr"`
			Width    int    `xml:"width,attr"`
			Height   int    `xml:"height,attr"`
			ZOrder   string `xml:"z_order,attr"`
		} `xml:"mask"`
	} `xml:"image"`
}

const cvatDocExample = `<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <meta><task><name>t</name><labels><label><name>sky</name><color>#8080ff</color><type>mask</type><attributes></attributes></label></labels></task></meta>
  <image id="0" name="a.jpg" width="4" height="3">
    <mask label="sky" source="manual" occluded="0" rle="1, 2, 1" left="1" top="0" width="2" height="2" z_order="0"></mask>
  </image>
</annotations>`

func TestCVATSchema(t *testing.T) {
	var want cvatDoc
	if err := xml.Unmarshal([]byte(cvatDocExample), &want); err != nil {
		t.Fatal(err)
	}
	// The mask of the example: over its box (left 1, top 0, 2x2), row-major
	// 0 1 / 1 0: runs of 1 outside, 2 inside, 1 outside.
	m := Binary{W: 4, H: 3, Pix: make([]uint8, 12)}
	m.Pix[0*4+2], m.Pix[1*4+1] = 1, 1
	var buf bytes.Buffer
	cw, _ := NewCVATWriter(&buf, []Category{{ID: 0, Name: "sky", Colour: "#8080ff"}}, "t")
	if err := cw.Add(Image{File: "a.jpg", Width: 4, Height: 3, Masks: slices.Values([]Mask{{Concept: 0, Binary: m}})}, map[int]string{0: "sky"}); err != nil {
		t.Fatal(err)
	}
	cw.Close()
	var got cvatDoc
	if err := xml.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	if got.Version != want.Version || len(got.Labels) != 1 || got.Labels[0] != want.Labels[0] || len(got.Images) != 1 {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	g, w := got.Images[0].Masks[0], want.Images[0].Masks[0]
	g.Source, w.Source = "", "" // ours are "auto"
	if g != w {
		t.Errorf("mask %+v\nwant %+v", g, w)
	}
}

func TestCOCOFile(t *testing.T) {
	var buf bytes.Buffer
	cw, err := NewCOCOWriter(&buf, []Category{{ID: 0, Name: "sky"}, {ID: 1, Name: "grass"}}, "test")
	if err != nil {
		t.Fatal(err)
	}
	m := Binary{W: 3, H: 2, Pix: []uint8{0, 1, 1, 0, 0, 1}}
	cw.Add(Image{File: "x/a.jpg", Width: 3, Height: 2, Masks: slices.Values([]Mask{{Concept: 1, Binary: m}})})
	cw.Add(Image{File: "b.png", Width: 3, Height: 2})
	if err := cw.Close(); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Images []struct {
			ID       int    `json:"id"`
			FileName string `json:"file_name"`
			Width    int    `json:"width"`
			Height   int    `json:"height"`
		} `json:"images"`
		Annotations []struct {
			ID, ImageID, CategoryID int
			Segmentation            struct {
				Size   []int  `json:"size"`
				Counts string `json:"counts"`
			} `json:"segmentation"`
			Area    int       `json:"area"`
			BBox    []float64 `json:"bbox"`
			IsCrowd int       `json:"iscrowd"`
		} `json:"annotations"`
		Categories []struct {
			ID   int    `json:"id"`
			Name string `json:"name"`
		} `json:"categories"`
	}
	dec := json.NewDecoder(&buf)
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Images) != 2 || doc.Images[0].FileName != "x/a.jpg" || len(doc.Annotations) != 1 || len(doc.Categories) != 2 {
		t.Fatalf("%+v", doc)
	}
	a := doc.Annotations[0]
	if a.Area != 3 || !slices.Equal(a.BBox, []float64{1, 0, 2, 2}) || a.Segmentation.Size[0] != 2 || a.Segmentation.Size[1] != 3 ||
		doc.Categories[1].Name != "grass" || doc.Categories[1].ID != 2 {
		t.Errorf("%+v", a)
	}
	counts, _ := ParseCOCOString(a.Segmentation.Counts)
	if got := decodeCOCO(counts, 3, 2); !slices.Equal(got, m.Pix) {
		t.Errorf("decoded %v, want %v", got, m.Pix)
	}
}

func FuzzParseCOCOString(f *testing.F) {
	f.Add("5T33mL")
	f.Add("01")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCOCOString(s)
		if err != nil {
			return
		}
		if back, err := ParseCOCOString(COCOString(c)); err != nil || !slices.Equal(back, c) {
			t.Errorf("%q: %v re-encoded to %v", s, c, back)
		}
	})
}

func FuzzDecodeLabelStudioRLE(f *testing.F) {
	f.Add([]byte{0, 0, 0, 8, 57, 27, 252, 127, 241, 128, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		rle := make([]int, len(b))
		for i, v := range b {
			rle[i] = int(v)
		}
		DecodeLabelStudioRLE(rle) // must not panic nor allocate without bound
	})
}
