package segnet

import (
	"bytes"
	"testing"
)

func TestArchText(t *testing.T) {
	for _, tc := range []struct {
		name string
		text string
		ok   bool
	}{
		{"default", `{"format":"segdiscover-segnet-v1","classes":8,"layers":[{"out":32,"stride":2,"dilation":1}],"input":[120,160]}`, true},
		{"wrong format", `{"format":"other","classes":8,"layers":[{"out":32,"stride":2,"dilation":1}]}`, false},
		{"no layers", `{"format":"segdiscover-segnet-v1","classes":8}`, false},
		{"empty layers", `{"format":"segdiscover-segnet-v1","classes":8,"layers":[]}`, false},
		{"256 classes", `{"format":"segdiscover-segnet-v1","classes":256,"layers":[{"out":3,"stride":1,"dilation":1}]}`, false},
		{"stride 3", `{"format":"segdiscover-segnet-v1","classes":2,"layers":[{"out":3,"stride":3,"dilation":1}]}`, false},
		{"half input", `{"format":"segdiscover-segnet-v1","classes":2,"layers":[{"out":3,"stride":1,"dilation":1}],"input":[0,5]}`, false},
		{"not json", `segnet`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a Arch
			err := a.UnmarshalText([]byte(tc.text))
			if (err == nil) != tc.ok {
				t.Fatalf("error %v, want ok=%v", err, tc.ok)
			}
		})
	}
	b, err := Arch{Classes: 5}.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	var a Arch
	if err := a.UnmarshalText(b); err != nil || len(a.Layers) != len(DefaultLayers) || a.Classes != 5 {
		t.Fatalf("default round trip: %+v, %v", a, err)
	}
}

// FuzzArchUnmarshalText: the "segnet.arch" metadata comes from files; no
// input may panic, and whatever is accepted re-encodes to a fixed point.
func FuzzArchUnmarshalText(f *testing.F) {
	b, _ := Arch{Classes: 8, Input: [2]int{120, 160}}.MarshalText()
	f.Add(b)
	f.Add([]byte(`{"format":"segdiscover-segnet-v1","classes":1,"layers":[{"out":1,"stride":2,"dilation":9}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var a Arch
		if a.UnmarshalText(data) != nil {
			return
		}
		b1, err := a.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var c Arch
		if err := c.UnmarshalText(b1); err != nil {
			t.Fatalf("re-decode of %s: %v", b1, err)
		}
		if b2, _ := c.MarshalText(); !bytes.Equal(b1, b2) {
			t.Fatalf("not a fixed point: %s vs %s", b1, b2)
		}
	})
}
