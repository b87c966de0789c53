package artifact

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func sampleTensors() []Tensor {
	return []Tensor{
		NewF32Tensor("enc.weight", []int{2, 3}, []float32{1, -2, 3.5, 0, float32(math.Inf(1)), -0.25}),
		NewF64Tensor("enc.bias", []int{3}, []float64{0.1, 0.2, -1e300}),
		NewI64Tensor("adam.step", nil, []int64{-42}),
		{Name: "empty", DType: F32, Shape: []int{0, 4}, Data: []byte{}},
		{Name: "bytes", DType: U8, Shape: []int{3}, Data: []byte{1, 2, 3}},
	}
}

func TestSafetensorsRoundTrip(t *testing.T) {
	in := sampleTensors()
	meta := map[string]string{"format": "pt", "encoder": "sae-sigmoid"}
	var buf bytes.Buffer
	if err := EncodeSafetensors(&buf, in, meta); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	n := binary.LittleEndian.Uint64(b)
	if (8+n)%8 != 0 {
		t.Errorf("header length %d: data buffer not 8-byte aligned", n)
	}
	if b[8] != '{' {
		t.Errorf("header starts with %q", b[8])
	}
	out, gotMeta, err := DecodeSafetensors(bytes.NewReader(b), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(gotMeta) != 2 || gotMeta["format"] != "pt" || gotMeta["encoder"] != "sae-sigmoid" {
		t.Errorf("metadata = %v", gotMeta)
	}
	names := make([]string, len(out))
	for i, o := range out {
		names[i] = o.Name
	}
	if !slices.IsSorted(names) {
		t.Errorf("tensors not in name order: %v", names)
	}
	for _, want := range in {
		got := FindTensor(out, want.Name)
		if got == nil {
			t.Fatalf("tensor %q missing", want.Name)
		}
		if got.DType != want.DType || !slices.Equal(got.Shape, want.Shape) || !bytes.Equal(got.Data, want.Data) {
			t.Errorf("tensor %q: got %+v, want %+v", want.Name, *got, want)
		}
	}
	w, _ := FindTensor(out, "enc.weight").Float32s()
	if w[2] != 3.5 || !math.IsInf(float64(w[4]), 1) {
		t.Errorf("enc.weight = %v", w)
	}
	s, _ := FindTensor(out, "adam.step").Int64s()
	if len(s) != 1 || s[0] != -42 {
		t.Errorf("adam.step = %v", s)
	}
	if _, err := FindTensor(out, "enc.bias").Float32s(); err == nil {
		t.Error("Float32s of an F64 tensor succeeded")
	}
	w64, err := FindTensor(out, "enc.weight").Float64s()
	if err != nil || w64[3] != 0 || w64[5] != -0.25 {
		t.Errorf("Float64s of F32 = %v, %v", w64, err)
	}
}

// TestSafetensorsLayout checks the exact bytes of a small file against the
// format spec: header length, sorted keys, space padding, data by
// decreasing element size then name.
func TestSafetensorsLayout(t *testing.T) {
	var buf bytes.Buffer
	ts := []Tensor{
		NewF32Tensor("b", []int{1}, []float32{1}),
		NewF64Tensor("a", []int{1}, []float64{2}),
		NewF32Tensor("c", []int{1}, []float32{3}),
	}
	if err := EncodeSafetensors(&buf, ts, nil); err != nil {
		t.Fatal(err)
	}
	hdr := `{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},` +
		`"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},` +
		`"c":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}}`
	for len(hdr)%8 != 0 {
		hdr += " "
	}
	want := binary.LittleEndian.AppendUint64(nil, uint64(len(hdr)))
	want = append(want, hdr...)
	want = binary.LittleEndian.AppendUint64(want, math.Float64bits(2))
	want = binary.LittleEndian.AppendUint32(want, math.Float32bits(1))
	want = binary.LittleEndian.AppendUint32(want, math.Float32bits(3))
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("got\n%q\nwant\n%q", buf.Bytes(), want)
	}
}

func TestEncodeSafetensorsRejects(t *testing.T) {
	f := NewF32Tensor("x", []int{1}, []float32{1})
	for _, tc := range []struct {
		name string
		ts   []Tensor
	}{
		{"empty name", []Tensor{{DType: F32, Shape: []int{0}}}},
		{"reserved name", []Tensor{{Name: "__metadata__", DType: F32, Shape: []int{0}}}},
		{"duplicate", []Tensor{f, f}},
		{"unknown dtype", []Tensor{{Name: "x", DType: "F8", Shape: []int{0}}}},
		{"short data", []Tensor{{Name: "x", DType: F32, Shape: []int{2}, Data: make([]byte, 4)}}},
		{"negative dim", []Tensor{{Name: "x", DType: F32, Shape: []int{-1, -1}, Data: make([]byte, 4)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := EncodeSafetensors(&buf, tc.ts, nil); err == nil {
				t.Error("no error")
			}
			if buf.Len() != 0 {
				t.Errorf("wrote %d bytes before failing", buf.Len())
			}
		})
	}
}

// rawSafetensors builds a file from a literal header and data buffer.
func rawSafetensors(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, data...)
}

func TestDecodeSafetensorsRejects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		file   []byte
		reason string
	}{
		{"empty", nil, "shorter"},
		{"short length", []byte{1, 2, 3}, "shorter"},
		{"huge header", binary.LittleEndian.AppendUint64(nil, 1<<40), "out of range"},
		{"truncated header", rawSafetensors(`{"a":`, nil)[:10], "inside its"},
		{"not an object", rawSafetensors(`[1,2]`, nil), "start with"},
		{"bad json", rawSafetensors(`{"a":}`, nil), "header"},
		{"trailing garbage", rawSafetensors(`{}x`, nil), "after the JSON"},
		{"duplicate key", rawSafetensors(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, []byte{1}), "duplicate"},
		{"unknown field", rawSafetensors(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":1}}`, []byte{1}), "unknown field"},
		{"missing field", rawSafetensors(`{"a":{"dtype":"U8","shape":[1]}}`, []byte{1}), "needs"},
		{"unknown dtype", rawSafetensors(`{"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}}`, []byte{1}), "unknown dtype"},
		{"negative dim", rawSafetensors(`{"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}}`, []byte{1}), "bad dimension"},
		{"size mismatch", rawSafetensors(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, make([]byte, 4)), "needs 8"},
		{"reversed offsets", rawSafetensors(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[1,0]}}`, []byte{1}), "bad data_offsets"},
		{"overflowing shape", rawSafetensors(`{"a":{"dtype":"F64","shape":[2147483647,2147483647,2147483647],"data_offsets":[0,8]}}`, make([]byte, 8)), "too large"},
		{"gap", rawSafetensors(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`, []byte{1, 2}), "gap"},
		{"overlap", rawSafetensors(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`, []byte{1, 2}), "overlaps"},
		{"short data", rawSafetensors(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}`, []byte{1, 2}), "has 2 bytes"},
		{"trailing data", rawSafetensors(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, []byte{1, 2}), "trailing"},
		{"claims huge data", rawSafetensors(`{"a":{"dtype":"U8","shape":[1024,1024,1024],"data_offsets":[0,1073741824]}}`, nil), "exceeds"},
		{"metadata not strings", rawSafetensors(`{"__metadata__":{"a":1}}`, nil), "__metadata__"},
		{"empty name", rawSafetensors(`{"":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, []byte{1}), "empty"},
		{"metadata null", rawSafetensors(`{"__metadata__":null}`, nil), "__metadata__"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := DecodeSafetensors(bytes.NewReader(tc.file), 1<<20)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrSafetensors) {
				t.Errorf("error %v does not wrap ErrSafetensors", err)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("error %q does not mention %q", err, tc.reason)
			}
		})
	}
}

func TestDecodeSafetensorsAccepts(t *testing.T) {
	// Files other writers may produce: no padding, whitespace, fields in any
	// order, tensors listed out of offset order, zero-size tensors.
	for _, tc := range []struct {
		name string
		file []byte
		n    int
	}{
		{"empty object", rawSafetensors(`{}`, nil), 0},
		{"whitespace", rawSafetensors("{ \"a\" : {\"shape\":[], \"data_offsets\":[0,1], \"dtype\":\"BOOL\"} }\n  ", []byte{1}), 1},
		{"out of order", rawSafetensors(`{"b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]},"a":{"dtype":"I16","shape":[0],"data_offsets":[0,0]},"c":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, []byte{7, 9}), 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts, _, err := DecodeSafetensors(bytes.NewReader(tc.file), 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(ts) != tc.n {
				t.Errorf("%d tensors, want %d", len(ts), tc.n)
			}
		})
	}
}

// pySafetensorsReader is the few lines of Python a PyTorch user would write
// without the safetensors package (which Debian does not ship): it prints
// name, dtype, shape and the sum of each tensor.
const pySafetensorsReader = `
import json, struct, sys
import numpy as np
dt = {"F64": "<f8", "F32": "<f4", "I64": "<i8", "U8": "u1"}
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8+n])
meta = h.pop("__metadata__", {})
for k in sorted(h):
    v = h[k]
    s, e = v["data_offsets"]
    a = np.frombuffer(b[8+n+s:8+n+e], dtype=dt[v["dtype"]]).reshape(v["shape"])
    print(k, v["dtype"], list(a.shape), repr(float(a.astype(np.float64).sum())))
print("meta", json.dumps(meta, sort_keys=True))
`

// TestSafetensorsPython reads a file written by EncodeSafetensors with an
// independent Python reader (numpy). Skipped when python3 or numpy is
// missing.
func TestSafetensorsPython(t *testing.T) {
	// Debian's interpreter has numpy; a python3 earlier on PATH may not.
	py, err := exec.LookPath("/usr/bin/python3")
	if err != nil {
		py, err = exec.LookPath("python3")
	}
	if err != nil {
		t.Skip("python3 not found")
	}
	if exec.Command(py, "-c", "import numpy").Run() != nil {
		t.Skip("numpy not available")
	}
	path := filepath.Join(t.TempDir(), "w.safetensors")
	ts := []Tensor{
		NewF32Tensor("w", []int{2, 3}, []float32{1, 2, 3, 4, 5, 6.5}),
		NewF64Tensor("b", []int{2}, []float64{0.25, -1}),
		NewI64Tensor("step", nil, []int64{7}),
	}
	var buf bytes.Buffer
	if err := EncodeSafetensors(&buf, ts, map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, "-c", pySafetensorsReader, path).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	want := "b F64 [2] -0.75\nstep I64 [] 7.0\nw F32 [2, 3] 21.5\nmeta {\"k\": \"v\"}\n"
	if string(out) != want {
		t.Errorf("python read\n%s\nwant\n%s", out, want)
	}
}

func FuzzDecodeSafetensors(f *testing.F) {
	var buf bytes.Buffer
	if err := EncodeSafetensors(&buf, sampleTensors(), map[string]string{"a": "b"}); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add(rawSafetensors(`{}`, nil))
	f.Add(rawSafetensors(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`, []byte{1, 2}))
	f.Fuzz(func(t *testing.T, b []byte) {
		ts, meta, err := DecodeSafetensors(bytes.NewReader(b), 1<<20)
		if err != nil {
			return
		}
		// Whatever decodes must re-encode and decode to the same tensors.
		var out bytes.Buffer
		if err := EncodeSafetensors(&out, ts, meta); err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		ts2, _, err := DecodeSafetensors(bytes.NewReader(out.Bytes()), 0)
		if err != nil {
			t.Fatalf("decode re-encoded: %v", err)
		}
		if len(ts2) != len(ts) {
			t.Fatalf("%d tensors, then %d", len(ts), len(ts2))
		}
		for _, x := range ts {
			y := FindTensor(ts2, x.Name)
			if y == nil || y.DType != x.DType || !slices.Equal(y.Shape, x.Shape) || !bytes.Equal(y.Data, x.Data) {
				t.Fatalf("tensor %q changed in round trip", x.Name)
			}
		}
	})
}
