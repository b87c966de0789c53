package htmlreport

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// The page stays small with the most concepts a run can have, whatever
// the number of images: the galleries are bounded per concept.
func TestPageSizeBounded(t *testing.T) {
	r := &Report{Title: "t", Images: 100000, Source: "masks"}
	for c := range 255 {
		k := Concept{ID: c, Name: fmt.Sprintf("concept %d with a longish name", c), Colour: "#123456", PixelShare: 0.004, Images: 400, MeanConf: 0.8}
		for i := range 8 {
			k.Crops = append(k.Crops, Picture{Src: fmt.Sprintf("report/crops/%016x.jpg", c*100+i), Href: "overlays/some/folder/image_000123.jpg", Caption: "some/folder/image_000123, confidence 0.99"})
		}
		for i := range 6 {
			k.Dominant = append(k.Dominant, Picture{Src: fmt.Sprintf("report/thumbs/%016x.jpg", c*100+i), Href: "overlays/some/folder/image_000123.jpg", Caption: "image_000123 98%"})
		}
		r.Concepts = append(r.Concepts, k)
	}
	for i := range 200 {
		r.Failures = append(r.Failures, Failure{Path: fmt.Sprintf("in/bad_%d.jpg", i), Stage: "superpixels", Error: "corrupt or truncated image data: unexpected end of data"})
	}
	r.FailuresMore = 99800
	for k := 2; k <= 255; k++ {
		r.BIC = append(r.BIC, BICPoint{K: k, BIC: float64(1e6 - k*k)})
	}
	r.ChosenK = 255
	var buf bytes.Buffer
	if err := Encode(&buf, r); err != nil {
		t.Fatal(err)
	}
	if buf.Len() > 5<<20 {
		t.Errorf("page of %d bytes, above 5 MB", buf.Len())
	}
	for _, s := range []string{"concept 254 with a longish name", "99800 more", "<svg", "loading=\"lazy\""} {
		if !strings.Contains(buf.String(), s) {
			t.Errorf("page lacks %q", s)
		}
	}
	if strings.Contains(buf.String(), "http://") || strings.Contains(buf.String(), "https://") {
		t.Error("page refers to the network")
	}
	t.Logf("%d bytes", buf.Len())
}

// Names are user text: escaped.
func TestPageEscapes(t *testing.T) {
	var buf bytes.Buffer
	r := &Report{Concepts: []Concept{{ID: 0, Name: `<script>alert(1)</script>`, Colour: "#ff0000"}}}
	if err := Encode(&buf, r); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "<script>alert") {
		t.Error("name not escaped")
	}
}
