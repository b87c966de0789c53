package artifact

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"

	"gonum.org/v1/gonum/mat"
)

// The feature file format (features/<rel>.f32): one matrix of float32, one
// row per superpixel in superpixel-id order, one column per feature
// dimension. All integers are little-endian.
//
//	offset size field
//	0      4    magic "SDF1"
//	4      2    version, uint16 = 1
//	6      2    dtype, uint16: 1 = float32 (IEEE 754 binary32)
//	8      4    rows, uint32 >= 1 (superpixels)
//	12     4    cols, uint32 >= 1 (feature dimensions)
//	16     4    CRC-32C (Castagnoli) of bytes 0..15 followed by the payload
//	20     4    reserved, zero
//	24     4*rows*cols  payload: row-major float32, element (i, j) at
//	            24 + 4*(i*cols + j); every value finite
//
// The file ends with the payload. In Python:
//
//	h = open(p, "rb").read()
//	rows, cols = struct.unpack_from("<II", h, 8)
//	x = numpy.frombuffer(h, "<f4", rows*cols, 24).reshape(rows, cols)

// FeatureMagic starts every feature file.
const FeatureMagic = "SDF1"

// FeatureVersion is the version of the feature file format that
// EncodeFeatures writes.
const FeatureVersion = 1

const (
	featDTypeF32   = 1
	featHeaderSize = 24
	// MaxFeatureElements bounds rows*cols of a feature file (1 GiB of
	// float32), so that a corrupt header cannot claim absurd sizes.
	MaxFeatureElements = 1 << 28
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrFeatureFile is wrapped by every error DecodeFeatures and
// DecodeFeaturesConfig return for input that is not a valid feature file.
var ErrFeatureFile = errors.New("invalid feature file")

// FeatureConfig is the header of a feature file.
type FeatureConfig struct {
	Version    int
	Rows, Cols int
}

// EncodeFeatures writes x to w in the feature file format, converting its
// values to float32. It fails, writing nothing, if x is empty, larger than
// MaxFeatureElements, or holds a value that is not finite in float32 (NaN,
// ±Inf, or beyond ±3.4e38).
func EncodeFeatures(w io.Writer, x *mat.Dense) error {
	if x.IsEmpty() {
		return errors.New("feature matrix is empty")
	}
	r, c := x.Dims()
	if int64(r)*int64(c) > MaxFeatureElements {
		return fmt.Errorf("feature matrix %dx%d has more than %d elements", r, c, MaxFeatureElements)
	}
	buf := make([]byte, featHeaderSize+4*r*c)
	p := buf[featHeaderSize:]
	for i := range r {
		for j, v := range x.RawRowView(i) {
			f := float32(v)
			if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
				return fmt.Errorf("feature matrix: value %v at row %d, column %d is not finite in float32", v, i, j)
			}
			binary.LittleEndian.PutUint32(p[4*(i*c+j):], math.Float32bits(f))
		}
	}
	copy(buf, FeatureMagic)
	binary.LittleEndian.PutUint16(buf[4:], FeatureVersion)
	binary.LittleEndian.PutUint16(buf[6:], featDTypeF32)
	binary.LittleEndian.PutUint32(buf[8:], uint32(r))
	binary.LittleEndian.PutUint32(buf[12:], uint32(c))
	binary.LittleEndian.PutUint32(buf[16:], featureCRC(buf))
	_, err := w.Write(buf)
	return err
}

func featureCRC(file []byte) uint32 {
	h := crc32.Update(0, castagnoli, file[:16])
	return crc32.Update(h, castagnoli, file[featHeaderSize:])
}

func featInvalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrFeatureFile, fmt.Sprintf(format, args...))
}

func parseFeatureHeader(h []byte) (FeatureConfig, error) {
	if string(h[:4]) != FeatureMagic {
		return FeatureConfig{}, featInvalidf("bad magic %q", h[:4])
	}
	cfg := FeatureConfig{
		Version: int(binary.LittleEndian.Uint16(h[4:])),
		Rows:    int(binary.LittleEndian.Uint32(h[8:])),
		Cols:    int(binary.LittleEndian.Uint32(h[12:])),
	}
	if cfg.Version != FeatureVersion {
		return FeatureConfig{}, featInvalidf("unsupported version %d", cfg.Version)
	}
	if dt := binary.LittleEndian.Uint16(h[6:]); dt != featDTypeF32 {
		return FeatureConfig{}, featInvalidf("unsupported dtype %d", dt)
	}
	if binary.LittleEndian.Uint32(h[20:]) != 0 {
		return FeatureConfig{}, featInvalidf("reserved header field is not zero")
	}
	if cfg.Rows < 1 || cfg.Cols < 1 || int64(cfg.Rows)*int64(cfg.Cols) > MaxFeatureElements {
		return FeatureConfig{}, featInvalidf("bad dimensions %dx%d", cfg.Rows, cfg.Cols)
	}
	return cfg, nil
}

func readFeatureHeader(r io.Reader) ([]byte, FeatureConfig, error) {
	h := make([]byte, featHeaderSize)
	if _, err := io.ReadFull(r, h); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, FeatureConfig{}, featInvalidf("shorter than its %d-byte header", featHeaderSize)
		}
		return nil, FeatureConfig{}, err
	}
	cfg, err := parseFeatureHeader(h)
	return h, cfg, err
}

// DecodeFeaturesConfig reads and checks the header of a feature file
// without reading its payload.
func DecodeFeaturesConfig(r io.Reader) (FeatureConfig, error) {
	_, cfg, err := readFeatureHeader(r)
	return cfg, err
}

// DecodeFeatures reads a feature file written by EncodeFeatures. It checks
// the magic, version, dtype, dimensions, that the payload has exactly
// rows*cols values followed by the end of the stream, the checksum, and
// that every value is finite. Malformed input gives an error wrapping
// ErrFeatureFile; memory use is bounded by the real length of the input,
// whatever its header claims.
func DecodeFeatures(r io.Reader) (*mat.Dense, error) {
	h, cfg, err := readFeatureHeader(r)
	if err != nil {
		return nil, err
	}
	n := int64(4 * cfg.Rows * cfg.Cols)
	p, err := io.ReadAll(io.LimitReader(r, n+1))
	if err != nil {
		return nil, err
	}
	switch {
	case int64(len(p)) < n:
		return nil, featInvalidf("payload has %d bytes, header needs %d", len(p), n)
	case int64(len(p)) > n:
		return nil, featInvalidf("trailing bytes after the %d-byte payload", n)
	}
	crc := crc32.Update(crc32.Update(0, castagnoli, h[:16]), castagnoli, p)
	if want := binary.LittleEndian.Uint32(h[16:]); crc != want {
		return nil, featInvalidf("checksum mismatch (%08x, header says %08x)", crc, want)
	}
	data := make([]float64, cfg.Rows*cfg.Cols)
	for i := range data {
		f := math.Float32frombits(binary.LittleEndian.Uint32(p[4*i:]))
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return nil, featInvalidf("value %v at row %d, column %d is not finite", f, i/cfg.Cols, i%cfg.Cols)
		}
		data[i] = float64(f)
	}
	return mat.NewDense(cfg.Rows, cfg.Cols, data), nil
}
