package artifact

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// TestConceptsRoundTrip checks that a concepts file decodes to what was
// encoded, in id order whatever order the file lists them in.
func TestConceptsRoundTrip(t *testing.T) {
	f := &ConceptsFile{Format: ConceptsFormat, Version: 1, Model: "abc", Concepts: DefaultConcepts(3)}
	f.Concepts[1].Name = "sky & co"
	var buf bytes.Buffer
	if err := EncodeConcepts(&buf, f); err != nil {
		t.Fatal(err)
	}
	got, err := DecodeConcepts(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, f) {
		t.Errorf("decoded %+v, want %+v", got, f)
	}
	shuffled := `{"format": "segdiscover-concepts", "version": 1, "model": "m", "concepts": [
		{"id": 1, "name": "b", "colour": "#000080"}, {"id": 0, "name": "a", "colour": "#800000"}]}`
	got, err = DecodeConcepts(strings.NewReader(shuffled))
	if err != nil || got.Concepts[0].Name != "a" || got.Concepts[1].Name != "b" {
		t.Errorf("shuffled: %+v, %v", got, err)
	}
	if c := DefaultConcepts(2); c[0].Colour != "#800000" || c[1].Colour != "#008000" {
		t.Errorf("default colours %+v, want VOC's", c)
	}
}

func TestDecodeConceptsRejects(t *testing.T) {
	for name, in := range map[string]string{
		"format":    `{"format": "other", "concepts": []}`,
		"id twice":  `{"format": "segdiscover-concepts", "concepts": [{"id": 0, "colour": "#000000"}, {"id": 0, "colour": "#000000"}]}`,
		"id range":  `{"format": "segdiscover-concepts", "concepts": [{"id": 1, "colour": "#000000"}]}`,
		"colour":    `{"format": "segdiscover-concepts", "concepts": [{"id": 0, "colour": "red"}]}`,
		"not json":  `{"format": `,
		"not array": `{"format": "segdiscover-concepts", "concepts": 3}`,
	} {
		if f, err := DecodeConcepts(strings.NewReader(in)); err == nil {
			t.Errorf("%s: accepted %+v", name, f)
		}
	}
}

// FuzzDecodeConcepts: decoding never panics, and what it accepts encodes
// and decodes to itself.
func FuzzDecodeConcepts(f *testing.F) {
	var buf bytes.Buffer
	EncodeConcepts(&buf, &ConceptsFile{Format: ConceptsFormat, Version: 1, Model: "m", Concepts: DefaultConcepts(4)})
	f.Add(buf.Bytes())
	f.Add([]byte(`{"format": "segdiscover-concepts", "concepts": [{"id": 0, "colour": "#00000g"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeConcepts(bytes.NewReader(data))
		if err != nil {
			return
		}
		var b bytes.Buffer
		if err := EncodeConcepts(&b, c); err != nil {
			t.Fatal(err)
		}
		back, err := DecodeConcepts(&b)
		if err != nil || !reflect.DeepEqual(back, c) {
			t.Fatalf("round trip: %+v, %v; want %+v", back, err, c)
		}
	})
}
