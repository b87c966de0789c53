package export

import (
	"bufio"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"iter"
	"strconv"
	"strings"
)

// Category is a concept as the formats name it.
type Category struct {
	ID     int    // concept id, 0..254
	Name   string // from concepts.json
	Colour string // "#rrggbb"
}

// Image is one image with its masks, one per concept present, given one
// at a time (the writer is done with a mask when it asks for the next, so
// one buffer may serve them all).
type Image struct {
	File          string // the image's path under the input folder, slash-separated, with its extension
	Width, Height int
	Masks         iter.Seq[Mask] // nil: none
}

func (im Image) masks() iter.Seq[Mask] {
	if im.Masks == nil {
		return func(func(Mask) bool) {}
	}
	return im.Masks
}

// Mask is the mask of one concept in one image.
type Mask struct {
	Concept int
	Binary
}

// COCOWriter streams a COCO instances-style JSON file. Category ids are
// concept id + 1 (COCO reserves 0); image and annotation ids count from 1
// in the order written. Annotations are written as images are added and
// the "images" list at Close (JSON objects are unordered), so memory stays
// bounded by the images' names.
type COCOWriter struct {
	w      *bufio.Writer
	images []cocoImage
	nAnn   int
	err    error
}

type cocoImage struct {
	ID       int    `json:"id"`
	FileName string `json:"file_name"`
	Width    int    `json:"width"`
	Height   int    `json:"height"`
}

type cocoAnnotation struct {
	ID           int        `json:"id"`
	ImageID      int        `json:"image_id"`
	CategoryID   int        `json:"category_id"`
	Segmentation cocoRLE    `json:"segmentation"`
	Area         int        `json:"area"`
	BBox         [4]float64 `json:"bbox"`
	IsCrowd      int        `json:"iscrowd"`
}

type cocoRLE struct {
	Size   [2]int `json:"size"` // [height, width]
	Counts string `json:"counts"`
}

type cocoCategory struct {
	ID            int    `json:"id"`
	Name          string `json:"name"`
	Supercategory string `json:"supercategory"`
}

// NewCOCOWriter starts a COCO file with the given categories.
func NewCOCOWriter(w io.Writer, cats []Category, description string) (*COCOWriter, error) {
	c := &COCOWriter{w: bufio.NewWriter(w)}
	cc := make([]cocoCategory, len(cats))
	for i, k := range cats {
		cc[i] = cocoCategory{ID: k.ID + 1, Name: k.Name, Supercategory: "concept"}
	}
	info, _ := json.Marshal(map[string]any{"description": description, "version": "1.0"})
	cj, err := json.Marshal(cc)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(c.w, "{\"info\":%s,\n\"categories\":%s,\n\"annotations\":[", info, cj)
	return c, nil
}

// Add writes the annotations of one image: one per mask, as compressed
// RLE, with its area (pixels) and bounding box [x, y, width, height]. The
// annotations are marked iscrowd 1, COCO's convention for RLE masks.
func (c *COCOWriter) Add(im Image) error {
	if c.err != nil {
		return c.err
	}
	id := len(c.images) + 1
	c.images = append(c.images, cocoImage{ID: id, FileName: im.File, Width: im.Width, Height: im.Height})
	for m := range im.masks() {
		r := m.Bounds()
		a := cocoAnnotation{ID: c.nAnn + 1, ImageID: id, CategoryID: m.Concept + 1,
			Segmentation: cocoRLE{Size: [2]int{im.Height, im.Width}, Counts: COCOString(COCOCounts(m.Binary))},
			Area:         m.Area(), BBox: [4]float64{float64(r.Min.X), float64(r.Min.Y), float64(r.Dx()), float64(r.Dy())}, IsCrowd: 1}
		b, err := json.Marshal(a)
		if err != nil {
			return err
		}
		if c.nAnn > 0 {
			c.w.WriteByte(',')
		}
		c.w.WriteByte('\n')
		if _, err := c.w.Write(b); err != nil {
			c.err = err
			return err
		}
		c.nAnn++
	}
	return nil
}

// Close writes the images and ends the file.
func (c *COCOWriter) Close() error {
	if c.err != nil {
		return c.err
	}
	ij, err := json.Marshal(c.images)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.w, "],\n\"images\":%s}\n", ij)
	return c.w.Flush()
}

// CVATWriter streams a "CVAT for images 1.1" annotation file: the labels
// (type mask, with their colours) in <meta>, then an <image> per image
// with a <mask> per concept present.
type CVATWriter struct {
	w   *bufio.Writer
	n   int
	err error
}

// NewCVATWriter starts a CVAT file with the given labels.
func NewCVATWriter(w io.Writer, cats []Category, taskName string) (*CVATWriter, error) {
	c := &CVATWriter{w: bufio.NewWriter(w)}
	c.w.WriteString(xml.Header)
	c.w.WriteString("<annotations>\n  <version>1.1</version>\n  <meta>\n    <task>\n      <name>")
	xml.EscapeText(c.w, []byte(taskName))
	c.w.WriteString("</name>\n      <labels>\n")
	for _, k := range cats {
		c.w.WriteString("        <label>\n          <name>")
		xml.EscapeText(c.w, []byte(k.Name))
		fmt.Fprintf(c.w, "</name>\n          <color>%s</color>\n          <type>mask</type>\n          <attributes></attributes>\n        </label>\n", k.Colour)
	}
	c.w.WriteString("      </labels>\n    </task>\n  </meta>\n")
	return c, nil
}

// Add writes one image and its masks. Label names are those of cats given
// to NewCVATWriter, looked up by concept id.
func (c *CVATWriter) Add(im Image, names map[int]string) error {
	if c.err != nil {
		return c.err
	}
	fmt.Fprintf(c.w, "  <image id=\"%d\" name=\"%s\" width=\"%d\" height=\"%d\">\n", c.n, attr(im.File), im.Width, im.Height)
	for m := range im.masks() {
		r := m.Bounds()
		if r.Empty() {
			continue
		}
		counts := CVATCounts(m.Binary, r)
		s := make([]string, len(counts))
		for i, v := range counts {
			s[i] = strconv.Itoa(v)
		}
		fmt.Fprintf(c.w, "    <mask label=\"%s\" source=\"auto\" occluded=\"0\" rle=\"%s\" left=\"%d\" top=\"%d\" width=\"%d\" height=\"%d\" z_order=\"0\"></mask>\n",
			attr(names[m.Concept]), strings.Join(s, ", "), r.Min.X, r.Min.Y, r.Dx(), r.Dy())
	}
	_, err := c.w.WriteString("  </image>\n")
	c.n++
	c.err = err
	return err
}

// Close ends the file.
func (c *CVATWriter) Close() error {
	if c.err != nil {
		return c.err
	}
	c.w.WriteString("</annotations>\n")
	return c.w.Flush()
}

func attr(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return strings.ReplaceAll(b.String(), `"`, "&#34;")
}

// LabelStudioWriter streams a Label Studio import file: a JSON array of
// tasks, one per image, each with one prediction whose results are the
// concepts' brush masks. FromName and ToName are the names of the
// labelling config's BrushLabels and Image tags (LabelStudioConfig writes
// a matching config).
type LabelStudioWriter struct {
	w                *bufio.Writer
	n                int
	prefix           string
	fromName, toName string
	err              error
}

// NewLabelStudioWriter starts the array. imagePrefix is put before each
// image's path to make data.image (e.g. "/data/local-files/?d=photos/").
func NewLabelStudioWriter(w io.Writer, imagePrefix string) *LabelStudioWriter {
	l := &LabelStudioWriter{w: bufio.NewWriter(w), prefix: imagePrefix, fromName: "tag", toName: "image"}
	l.w.WriteString("[")
	return l
}

type lsTask struct {
	Data        map[string]string `json:"data"`
	Predictions []lsPrediction    `json:"predictions"`
}

type lsPrediction struct {
	ModelVersion string     `json:"model_version"`
	Result       []lsResult `json:"result"`
}

type lsResult struct {
	ID             string  `json:"id"`
	Type           string  `json:"type"`
	FromName       string  `json:"from_name"`
	ToName         string  `json:"to_name"`
	OriginalWidth  int     `json:"original_width"`
	OriginalHeight int     `json:"original_height"`
	ImageRotation  int     `json:"image_rotation"`
	Value          lsValue `json:"value"`
}

type lsValue struct {
	Format      string   `json:"format"`
	RLE         []int    `json:"rle"`
	BrushLabels []string `json:"brushlabels"`
}

// Add writes the task of one image.
func (l *LabelStudioWriter) Add(im Image, names map[int]string) error {
	if l.err != nil {
		return l.err
	}
	t := lsTask{Data: map[string]string{"image": l.prefix + im.File}, Predictions: []lsPrediction{{ModelVersion: "segdiscover"}}}
	for m := range im.masks() {
		t.Predictions[0].Result = append(t.Predictions[0].Result, lsResult{
			ID: fmt.Sprintf("i%dc%d", l.n, m.Concept), Type: "brushlabels", FromName: l.fromName, ToName: l.toName,
			OriginalWidth: im.Width, OriginalHeight: im.Height,
			Value: lsValue{Format: "rle", RLE: LabelStudioRLE(m.Binary), BrushLabels: []string{names[m.Concept]}}})
	}
	b, err := json.Marshal(t)
	if err != nil {
		return err
	}
	if l.n > 0 {
		l.w.WriteByte(',')
	}
	l.w.WriteByte('\n')
	_, l.err = l.w.Write(b)
	l.n++
	return l.err
}

// Close ends the array.
func (l *LabelStudioWriter) Close() error {
	if l.err != nil {
		return l.err
	}
	l.w.WriteString("\n]\n")
	return l.w.Flush()
}

// LabelStudioConfig writes the labelling config the tasks match: an Image
// tag named "image" and a BrushLabels tag named "tag" with one Label per
// concept in its colour.
func LabelStudioConfig(w io.Writer, cats []Category) error {
	b := bufio.NewWriter(w)
	b.WriteString("<View>\n  <Image name=\"image\" value=\"$image\" zoom=\"true\"/>\n  <BrushLabels name=\"tag\" toName=\"image\">\n")
	for _, k := range cats {
		fmt.Fprintf(b, "    <Label value=\"%s\" background=\"%s\"/>\n", attr(k.Name), k.Colour)
	}
	b.WriteString("  </BrushLabels>\n</View>\n")
	return b.Flush()
}
