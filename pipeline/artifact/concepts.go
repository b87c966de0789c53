package artifact

import (
	"encoding/json"
	"fmt"
	"image/color"
	"io"

	"github.com/segdiscover/segdiscover/pseudolabel"
)

// Concept is one concept of a run as people see it.
type Concept struct {
	ID     int    `json:"id"`
	Name   string `json:"name"`
	Colour string `json:"colour"` // "#rrggbb"
}

// ConceptsFile is OUT_DIR/concepts.json ("segdiscover-concepts" v1).
// pipeline reads and writes it (ReadConcepts, ensureConcepts). The
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

// ConceptsFormat is the "format" of a concepts file.
const ConceptsFormat = "segdiscover-concepts"

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

// ParseColour parses "#rrggbb".
func ParseColour(s string) (color.RGBA, bool) {
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
	if f.Format != ConceptsFormat {
		return nil, fmt.Errorf("format %q, want %q", f.Format, ConceptsFormat)
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
		if _, ok := ParseColour(c.Colour); !ok {
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
