package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/segdiscover/segdiscover/pseudolabel"
)

// conceptsFileName is OUT_DIR/concepts.json: the concepts' names and
// colours, for people to edit.
const conceptsFileName = "concepts.json"

// Concept is one concept of a run as people see it.
type Concept struct {
	ID     int    `json:"id"`
	Name   string `json:"name"`
	Colour string `json:"colour"` // "#rrggbb"
}

// ConceptsFile is OUT_DIR/concepts.json ("segdiscover-concepts" v1). The
// cluster stage writes it with default names ("concept 0", ...) and the
// colours of the mask palette; users may edit the names and colours, and
// every later output (legend, overlays, report, exports) uses them. A rerun
// keeps the file as long as the concepts are the same (Model, the key of
// the mixture they belong to); when the concepts are refitted, the old file
// is kept beside as concepts.<first 12 hex of its model>.json and a new one
// written.
type ConceptsFile struct {
	Format   string    `json:"format"`
	Version  int       `json:"version"`
	Model    string    `json:"model"`
	Concepts []Concept `json:"concepts"`
}

const conceptsFormat = "segdiscover-concepts"

// DefaultConcepts returns K concepts named "concept i" in the colours of
// the mask palette.
func DefaultConcepts(k int) []Concept {
	pal := pseudolabel.Palette()
	cs := make([]Concept, k)
	for i := range cs {
		cs[i] = Concept{ID: i, Name: fmt.Sprintf("concept %d", i), Colour: hexColour(pal[i])}
	}
	return cs
}

func hexColour(c color.Color) string {
	r, g, b, _ := c.RGBA()
	return fmt.Sprintf("#%02x%02x%02x", r>>8, g>>8, b>>8)
}

func parseColour(s string) (color.RGBA, bool) {
	var r, g, b uint8
	if len(s) != 7 || s[0] != '#' {
		return color.RGBA{}, false
	}
	if _, err := fmt.Sscanf(s, "#%02x%02x%02x", &r, &g, &b); err != nil {
		return color.RGBA{}, false
	}
	return color.RGBA{r, g, b, 255}, true
}

// EncodeConcepts writes f as indented JSON.
func EncodeConcepts(w io.Writer, f *ConceptsFile) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(f)
}

// DecodeConcepts reads a concepts file and checks it: ids 0..K-1, each
// once, colours "#rrggbb".
func DecodeConcepts(r io.Reader) (*ConceptsFile, error) {
	var f ConceptsFile
	dec := json.NewDecoder(io.LimitReader(r, 16<<20))
	if err := dec.Decode(&f); err != nil {
		return nil, err
	}
	if f.Format != conceptsFormat {
		return nil, fmt.Errorf("format %q, want %q", f.Format, conceptsFormat)
	}
	if len(f.Concepts) > pseudolabel.MaxConcepts {
		return nil, fmt.Errorf("%d concepts, at most %d", len(f.Concepts), pseudolabel.MaxConcepts)
	}
	seen := make([]bool, len(f.Concepts))
	for i, c := range f.Concepts {
		if c.ID < 0 || c.ID >= len(f.Concepts) || seen[c.ID] {
			return nil, fmt.Errorf("concept %d: id %d, want each of 0..%d once", i, c.ID, len(f.Concepts)-1)
		}
		seen[c.ID] = true
		if _, ok := parseColour(c.Colour); !ok {
			return nil, fmt.Errorf("concept %d: colour %q, want #rrggbb", c.ID, c.Colour)
		}
	}
	// In id order, whatever order the user left them in.
	sorted := make([]Concept, len(f.Concepts))
	for _, c := range f.Concepts {
		sorted[c.ID] = c
	}
	f.Concepts = sorted
	return &f, nil
}

// ReadConcepts returns the concepts of the run in out: those of
// out/concepts.json, or the defaults for k concepts when it is absent. A
// file for another number of concepts is an error.
func ReadConcepts(out string, k int) ([]Concept, error) {
	f, err := readConceptsFile(out)
	if errors.Is(err, fs.ErrNotExist) {
		return DefaultConcepts(k), nil
	}
	if err != nil {
		return nil, err
	}
	if len(f.Concepts) != k {
		return nil, fmt.Errorf("%s: %d concepts, the model has %d", filepath.Join(out, conceptsFileName), len(f.Concepts), k)
	}
	return f.Concepts, nil
}

func readConceptsFile(out string) (*ConceptsFile, error) {
	p := filepath.Join(out, conceptsFileName)
	fl, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer fl.Close()
	f, err := DecodeConcepts(fl)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (fix it, or delete it for the default names)", p, err)
	}
	return f, nil
}

// ensureConcepts makes OUT_DIR/concepts.json describe the k concepts of
// the mixture whose key is model, keeping the user's file when it does.
func (r *runner) ensureConcepts(k int, model string) error {
	old, err := readConceptsFile(r.cache.out)
	switch {
	case err == nil && old.Model == model && len(old.Concepts) == k:
		return nil
	case err == nil:
		// Names of other concepts: kept aside, not applied.
		keep := filepath.Join(r.cache.out, fmt.Sprintf("concepts.%.12s.json", old.Model))
		if err := os.Rename(filepath.Join(r.cache.out, conceptsFileName), keep); err != nil {
			return err
		}
		r.log.Warn("concepts refitted: the names of the old concepts are in " + keep)
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	f := &ConceptsFile{Format: conceptsFormat, Version: 1, Model: model, Concepts: DefaultConcepts(k)}
	return WriteFileAtomic(filepath.Join(r.cache.out, conceptsFileName), func(w io.Writer) error { return EncodeConcepts(w, f) })
}

// conceptPalette returns the mask palette with the concepts' colours.
func conceptPalette(cs []Concept) color.Palette {
	pal := pseudolabel.Palette()
	for _, c := range cs {
		if col, ok := parseColour(c.Colour); ok && c.ID < len(pal) {
			pal[c.ID] = col
		}
	}
	return pal
}

// legendKeys returns the legend rows of the concepts for which present is
// true (all when present is nil), then Unassigned if present[255].
func legendKeys(cs []Concept, present []bool) []pseudolabel.Key {
	pal := conceptPalette(cs)
	var keys []pseudolabel.Key
	for _, c := range cs {
		if present == nil || present[c.ID] {
			keys = append(keys, pseudolabel.Key{ID: c.ID, Name: c.Name, Color: pal[c.ID]})
		}
	}
	if present == nil || present[pseudolabel.Unassigned] {
		keys = append(keys, pseudolabel.Key{ID: pseudolabel.Unassigned, Color: pal[pseudolabel.Unassigned]})
	}
	return keys
}
