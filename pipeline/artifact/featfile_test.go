package artifact

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

func TestFeaturesRoundTrip(t *testing.T) {
	x := mat.NewDense(3, 2, []float64{1, -2.5, 0, 1e-3, 3.4e38, -7})
	var buf bytes.Buffer
	if err := EncodeFeatures(&buf, x); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 24+4*6 {
		t.Errorf("file has %d bytes, want %d", buf.Len(), 24+4*6)
	}
	cfg, err := DecodeFeaturesConfig(bytes.NewReader(buf.Bytes()))
	if err != nil || cfg != (FeatureConfig{Version: 1, Rows: 3, Cols: 2}) {
		t.Errorf("config = %+v, %v", cfg, err)
	}
	y, err := DecodeFeatures(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		for j := range 2 {
			if want := float64(float32(x.At(i, j))); y.At(i, j) != want {
				t.Errorf("(%d,%d) = %v, want %v", i, j, y.At(i, j), want)
			}
		}
	}
}

// TestFeaturesLayout checks the bytes against the documented layout.
func TestFeaturesLayout(t *testing.T) {
	var buf bytes.Buffer
	if err := EncodeFeatures(&buf, mat.NewDense(1, 2, []float64{1, -2})); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	want := []byte("SDF1\x01\x00\x01\x00\x01\x00\x00\x00\x02\x00\x00\x00")
	if !bytes.Equal(b[:16], want) {
		t.Errorf("header % x, want % x", b[:16], want)
	}
	if !bytes.Equal(b[20:24], []byte{0, 0, 0, 0}) {
		t.Errorf("reserved field % x", b[20:24])
	}
	if binary.LittleEndian.Uint32(b[24:]) != math.Float32bits(1) || binary.LittleEndian.Uint32(b[28:]) != math.Float32bits(-2) {
		t.Errorf("payload % x", b[24:])
	}
}

func TestEncodeFeaturesRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		x    *mat.Dense
	}{
		{"empty", &mat.Dense{}},
		{"NaN", mat.NewDense(1, 2, []float64{0, math.NaN()})},
		{"Inf", mat.NewDense(1, 1, []float64{math.Inf(-1)})},
		{"float32 overflow", mat.NewDense(1, 1, []float64{1e39})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := EncodeFeatures(&buf, tc.x); err == nil {
				t.Error("no error")
			}
			if buf.Len() != 0 {
				t.Errorf("wrote %d bytes", buf.Len())
			}
		})
	}
}

func validFeatureFile(t testing.TB) []byte {
	var buf bytes.Buffer
	if err := EncodeFeatures(&buf, mat.NewDense(2, 3, []float64{1, 2, 3, 4, 5, 6})); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDecodeFeaturesRejects(t *testing.T) {
	valid := validFeatureFile(t)
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(valid)) }
	fixCRC := func(b []byte) []byte {
		binary.LittleEndian.PutUint32(b[16:], featureCRC(b))
		return b
	}
	for _, tc := range []struct {
		name, reason string
		file         []byte
	}{
		{"empty", "shorter", nil},
		{"short header", "shorter", valid[:10]},
		{"magic", "magic", edit(func(b []byte) []byte { b[0] = 'X'; return b })},
		{"version", "version", edit(func(b []byte) []byte { b[4] = 2; return fixCRC(b) })},
		{"dtype", "dtype", edit(func(b []byte) []byte { b[6] = 2; return fixCRC(b) })},
		{"reserved", "reserved", edit(func(b []byte) []byte { b[21] = 1; return b })},
		{"zero rows", "dimensions", edit(func(b []byte) []byte { b[8] = 0; return b })},
		{"huge", "dimensions", edit(func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[8:], 1<<31)
			return b
		})},
		{"truncated payload", "payload has", valid[:len(valid)-1]},
		{"claims more than it has", "payload has", edit(func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[8:], 1<<20)
			return b
		})},
		{"trailing", "trailing", append(bytes.Clone(valid), 0)},
		{"bit flip", "checksum", edit(func(b []byte) []byte { b[30] ^= 1; return b })},
		{"NaN", "not finite", edit(func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[28:], math.Float32bits(float32(math.NaN())))
			return fixCRC(b)
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeFeatures(bytes.NewReader(tc.file))
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrFeatureFile) {
				t.Errorf("error %v does not wrap ErrFeatureFile", err)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("error %q does not mention %q", err, tc.reason)
			}
		})
	}
}

// TestFeaturesPython reads a feature file with the three lines of numpy
// given in the format's documentation. Skipped without python3 and numpy.
func TestFeaturesPython(t *testing.T) {
	py, err := exec.LookPath("/usr/bin/python3")
	if err != nil {
		py, err = exec.LookPath("python3")
	}
	if err != nil || exec.Command(py, "-c", "import numpy").Run() != nil {
		t.Skip("python3 with numpy not available")
	}
	path := filepath.Join(t.TempDir(), "x.f32")
	if err := os.WriteFile(path, validFeatureFile(t), 0o644); err != nil {
		t.Fatal(err)
	}
	const script = `
import struct, sys, numpy
h = open(sys.argv[1], "rb").read()
rows, cols = struct.unpack_from("<II", h, 8)
x = numpy.frombuffer(h, "<f4", rows*cols, 24).reshape(rows, cols)
print(x.shape, x[1].tolist())
`
	out, err := exec.Command(py, "-c", script, path).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "(2, 3) [4.0, 5.0, 6.0]" {
		t.Errorf("python read %q", got)
	}
}

func FuzzDecodeFeatures(f *testing.F) {
	f.Add(validFeatureFile(f))
	f.Add([]byte("SDF1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := DecodeFeatures(bytes.NewReader(b))
		if err != nil {
			return
		}
		cfg, err := DecodeFeaturesConfig(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("DecodeFeatures succeeded but DecodeFeaturesConfig failed: %v", err)
		}
		if r, c := x.Dims(); r != cfg.Rows || c != cfg.Cols {
			t.Fatalf("dims %dx%d, config %+v", r, c, cfg)
		}
		// A decoded file re-encodes to the same bytes.
		var buf bytes.Buffer
		if err := EncodeFeatures(&buf, x); err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if !bytes.Equal(buf.Bytes(), b) {
			t.Fatal("re-encoded file differs")
		}
	})
}
