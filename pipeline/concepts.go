package pipeline

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"io/fs"

	"github.com/segdiscover/segdiscover/pipeline/artifact"
	"github.com/segdiscover/segdiscover/pipeline/store"
	"github.com/segdiscover/segdiscover/pseudolabel"
)

// conceptsFileName is OUT_DIR/concepts.json: the concepts' names and
// colours, for people to edit.
const conceptsFileName = "concepts.json"

// ReadConcepts returns the concepts of the run in out: those of
// out/concepts.json, or the defaults for k concepts when it is absent. A
// file for another number of concepts is an error.
func ReadConcepts(out string, k int) ([]artifact.Concept, error) {
	return readConcepts(newCache(out), k)
}

// readConcepts returns the concepts of the run (ReadConcepts).
func (r *runner) readConcepts(k int) ([]artifact.Concept, error) { return readConcepts(r.cache, k) }

func readConcepts(c *cache, k int) ([]artifact.Concept, error) {
	f, err := readConceptsOf(c)
	if errors.Is(err, fs.ErrNotExist) {
		return artifact.DefaultConcepts(k), nil
	}
	if err != nil {
		return nil, err
	}
	if len(f.Concepts) != k {
		return nil, fmt.Errorf("%s: %d concepts, the model has %d", c.st.Location(conceptsFileName), len(f.Concepts), k)
	}
	return f.Concepts, nil
}

// readConceptsFile reads out/concepts.json.
func readConceptsFile(out string) (*artifact.ConceptsFile, error) {
	return readConceptsOf(newCache(out))
}

// readConceptsOf reads concepts.json from c's output store.
func readConceptsOf(c *cache) (*artifact.ConceptsFile, error) {
	p := c.st.Location(conceptsFileName)
	fl, err := c.open(conceptsFileName)
	if err != nil {
		return nil, err
	}
	defer fl.Close()
	f, err := artifact.DecodeConcepts(fl)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (fix it, or delete it for the default names)", p, err)
	}
	return f, nil
}

// ensureConcepts makes OUT_DIR/concepts.json describe the k concepts of
// the mixture whose key is model, keeping the user's file when it does.
func (r *runner) ensureConcepts(k int, model string) error {
	old, err := readConceptsOf(r.cache)
	switch {
	case err == nil && old.Model == model && len(old.Concepts) == k:
		return nil
	case err == nil:
		// Names of other concepts: kept aside, not applied.
		keep := fmt.Sprintf("concepts.%.12s.json", old.Model)
		if err := store.Move(r.cache.ctx, r.cache.st, conceptsFileName, keep); err != nil {
			return err
		}
		r.log.Warn("concepts refitted: the names of the old concepts are in " + r.outPath(keep))
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	f := &artifact.ConceptsFile{Format: artifact.ConceptsFormat, Version: 1, Model: model, Concepts: artifact.DefaultConcepts(k)}
	return r.cache.writeSync(conceptsFileName, func(w io.Writer) error { return artifact.EncodeConcepts(w, f) })
}

// conceptPalette returns the mask palette with the concepts' colours.
func conceptPalette(cs []artifact.Concept) color.Palette {
	pal := pseudolabel.Palette()
	for _, c := range cs {
		if col, ok := artifact.ParseColour(c.Colour); ok && c.ID < len(pal) {
			pal[c.ID] = col
		}
	}
	return pal
}

// legendKeys returns the legend rows of the concepts for which present is
// true (all when present is nil), then Unassigned if present[255].
func legendKeys(cs []artifact.Concept, present []bool) []pseudolabel.Key {
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
