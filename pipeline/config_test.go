package pipeline

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// FuzzDecodeConfig feeds arbitrary bytes to the config-file decoder (also
// the reader of run.json when a stage command continues a run): it must
// never panic, and whatever it accepts must survive defaulting, validation
// and a JSON round trip unchanged.
func FuzzDecodeConfig(f *testing.F) {
	for _, s := range []string{
		`{"segments": 400, "concepts": "8", "covariance": "diag"}`,
		`{"concepts": 12, "until": "pseudolabels", "epochs": 3}`,
		`{"concepts": "auto", "concept-min": 2, "concept-max": 9, "balance": "sinkhorn"}`,
		`{"format": "segdiscover-run", "version": 1, "config": {"segments": 20, "encoder": "handcrafted+sae-relu"}}`,
		`{"segmnets": 3}`,
		`{"concepts": 1e400}`,
		`[]`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var c Config
		if err := decodeConfig(data, &c); err != nil {
			return
		}
		_ = c.Defaults().Validate()
		enc, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("marshal %+v: %v", c, err)
		}
		var back Config
		if err := decodeConfig(enc, &back); err != nil {
			t.Fatalf("decode of our own encoding %s: %v", enc, err)
		}
		if !reflect.DeepEqual(c, back) {
			t.Fatalf("round trip changed the config:\n%+v\n%+v", c, back)
		}
	})
}

// TestConceptCount checks the one parser of --concepts: the spellings a
// flag, a config file and run.json use, and JSON that writes them back as
// run.json always did ("8", "auto").
func TestConceptCount(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ConceptCount
		ok   bool
	}{
		{"8", ConceptCount{K: 8}, true},
		{"auto", ConceptCount{Auto: true}, true},
		{"", ConceptCount{}, true},
		{"255", ConceptCount{K: 255}, true},
		{"0", ConceptCount{}, false},
		{"256", ConceptCount{}, false},
		{"Auto", ConceptCount{}, false},
		{"many", ConceptCount{}, false},
	} {
		got, err := ParseConceptCount(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseConceptCount(%q) = %+v, %v", tc.in, got, err)
		}
	}
	for in, want := range map[string]ConceptCount{`"8"`: {K: 8}, `8`: {K: 8}, `"auto"`: {Auto: true}} {
		var c ConceptCount
		if err := json.Unmarshal([]byte(in), &c); err != nil || c != want {
			t.Errorf("unmarshal %s = %+v, %v", in, c, err)
		}
	}
	for _, in := range []string{`0`, `1e400`, `"x"`, `true`} {
		var c ConceptCount
		if err := json.Unmarshal([]byte(in), &c); err == nil {
			t.Errorf("unmarshal %s accepted: %+v", in, c)
		}
	}
	b, _ := json.Marshal(Config{}.Defaults())
	if !strings.Contains(string(b), `"concepts":"8"`) {
		t.Errorf("defaults marshal as %s", b)
	}
	if b, _ := json.Marshal(Config{}); strings.Contains(string(b), "concepts") {
		t.Errorf("the zero value is written: %s", b)
	}
}

// TestParseTTA checks the spellings of --tta, and that Validate rejects
// the others naming the setting.
func TestParseTTA(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // segnet.TTA.String, or "" for an error
	}{
		{"", "none"},
		{"none", "none"},
		{"flip", "flip"},
		{"scales", "scales=0.75:1:1.5"},
		{"flip,scales", "flip,scales=0.75:1:1.5"},
		{"scales, flip", "flip,scales=0.75:1:1.5"},
		{"flop", ""},
		{"flip,", ""},
		{"none,flip", ""},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseTTA(tc.in)
			verr := Config{TTA: tc.in}.Defaults().Validate()
			if tc.want == "" {
				if err == nil || verr == nil || !strings.Contains(verr.Error(), "tta") {
					t.Errorf("accepted: %v, Validate %v", got, verr)
				}
				return
			}
			if err != nil || verr != nil || got.String() != tc.want {
				t.Errorf("%v (%v, Validate %v), want %s", got, err, verr, tc.want)
			}
		})
	}
}
