package pipeline

import (
	"encoding/json"
	"reflect"
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
