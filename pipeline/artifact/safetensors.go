package artifact

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// The safetensors format (https://huggingface.co/docs/safetensors), as
// written by EncodeSafetensors and read by DecodeSafetensors:
//
//	offset 0   uint64, little-endian: N, the length of the JSON header in bytes
//	offset 8   N bytes: a UTF-8 JSON object, padded at the end with spaces
//	           (0x20) so that 8+N is a multiple of 8
//	offset 8+N the data buffer: every tensor's raw little-endian elements,
//	           row-major (C order), packed without gaps
//
// The header maps each tensor name to
// {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, where
// begin and end are byte offsets into the data buffer (end exclusive), and
// may hold one "__metadata__" entry, an object of string to string. A shape
// of [] is a scalar (one element). PyTorch users load such files with
// safetensors.torch.load_file, or with a few lines of Python (struct, json,
// numpy.frombuffer).

// DType is a safetensors element type, spelled as in the file header.
type DType string

// The element types of the safetensors format.
const (
	F64  DType = "F64"
	F32  DType = "F32"
	F16  DType = "F16"
	BF16 DType = "BF16"
	I64  DType = "I64"
	I32  DType = "I32"
	I16  DType = "I16"
	I8   DType = "I8"
	U64  DType = "U64"
	U32  DType = "U32"
	U16  DType = "U16"
	U8   DType = "U8"
	Bool DType = "BOOL"
)

// Size returns the size of one element of type d in bytes, or 0 if d is not
// a known type.
func (d DType) Size() int {
	switch d {
	case F64, I64, U64:
		return 8
	case F32, I32, U32:
		return 4
	case F16, BF16, I16, U16:
		return 2
	case I8, U8, Bool:
		return 1
	}
	return 0
}

// MaxSafetensorsHeader is the largest JSON header DecodeSafetensors accepts,
// in bytes (the limit of the reference implementation).
const MaxSafetensorsHeader = 100 << 20

// DefaultMaxSafetensorsBytes bounds the size of a file DecodeSafetensors
// reads when its maxBytes argument is <= 0.
const DefaultMaxSafetensorsBytes = 4 << 30

// ErrSafetensors is wrapped by every error DecodeSafetensors returns for a
// file that is not valid safetensors (as opposed to an I/O error).
var ErrSafetensors = errors.New("invalid safetensors")

// Tensor is one named tensor of a safetensors file. Data holds its elements
// raw, little-endian, row-major; len(Data) is the product of Shape times
// DType.Size(). NewF32Tensor and friends build tensors from Go slices, and
// Float32s and friends read them back.
type Tensor struct {
	Name  string
	DType DType
	Shape []int // nil or empty: a scalar
	Data  []byte
}

// NumElements returns the product of t.Shape (1 for a scalar).
func (t *Tensor) NumElements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

func checkShape(name string, shape []int, n int) {
	p := 1
	for _, d := range shape {
		if d < 0 {
			panic(fmt.Sprintf("safetensors: tensor %q: negative dimension in shape %v", name, shape))
		}
		p *= d
	}
	if p != n {
		panic(fmt.Sprintf("safetensors: tensor %q: %d values for shape %v", name, n, shape))
	}
}

// NewF32Tensor returns an F32 tensor holding a copy of v with the given
// shape. It panics if len(v) is not the product of shape.
func NewF32Tensor(name string, shape []int, v []float32) Tensor {
	checkShape(name, shape, len(v))
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return Tensor{Name: name, DType: F32, Shape: slices.Clone(shape), Data: b}
}

// NewF64Tensor returns an F64 tensor holding a copy of v with the given
// shape. It panics if len(v) is not the product of shape.
func NewF64Tensor(name string, shape []int, v []float64) Tensor {
	checkShape(name, shape, len(v))
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(x))
	}
	return Tensor{Name: name, DType: F64, Shape: slices.Clone(shape), Data: b}
}

// NewI64Tensor returns an I64 tensor holding a copy of v with the given
// shape. It panics if len(v) is not the product of shape.
func NewI64Tensor(name string, shape []int, v []int64) Tensor {
	checkShape(name, shape, len(v))
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(x))
	}
	return Tensor{Name: name, DType: I64, Shape: slices.Clone(shape), Data: b}
}

func (t *Tensor) check(want DType) error {
	if t.DType != want {
		return fmt.Errorf("tensor %q has dtype %s, want %s", t.Name, t.DType, want)
	}
	if len(t.Data) != t.NumElements()*want.Size() {
		return fmt.Errorf("tensor %q: %d bytes for shape %v of %s", t.Name, len(t.Data), t.Shape, want)
	}
	return nil
}

// Float32s returns the elements of an F32 tensor. It fails if t has another
// dtype or a Data length that does not match its shape.
func (t *Tensor) Float32s() ([]float32, error) {
	if err := t.check(F32); err != nil {
		return nil, err
	}
	v := make([]float32, len(t.Data)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:]))
	}
	return v, nil
}

// Float64s returns the elements of an F64 tensor, or of an F32 tensor
// widened to float64. It fails for other dtypes or a Data length that does
// not match the shape.
func (t *Tensor) Float64s() ([]float64, error) {
	if t.DType == F32 {
		v32, err := t.Float32s()
		if err != nil {
			return nil, err
		}
		v := make([]float64, len(v32))
		for i, x := range v32 {
			v[i] = float64(x)
		}
		return v, nil
	}
	if err := t.check(F64); err != nil {
		return nil, err
	}
	v := make([]float64, len(t.Data)/8)
	for i := range v {
		v[i] = math.Float64frombits(binary.LittleEndian.Uint64(t.Data[8*i:]))
	}
	return v, nil
}

// Int64s returns the elements of an I64 tensor. It fails if t has another
// dtype or a Data length that does not match its shape.
func (t *Tensor) Int64s() ([]int64, error) {
	if err := t.check(I64); err != nil {
		return nil, err
	}
	v := make([]int64, len(t.Data)/8)
	for i := range v {
		v[i] = int64(binary.LittleEndian.Uint64(t.Data[8*i:]))
	}
	return v, nil
}

// FindTensor returns the tensor named name in ts, or nil.
func FindTensor(ts []Tensor, name string) *Tensor {
	for i := range ts {
		if ts[i].Name == name {
			return &ts[i]
		}
	}
	return nil
}

type tensorInfo struct {
	DType       DType    `json:"dtype"`
	Shape       []int    `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

const metadataKey = "__metadata__"

// EncodeSafetensors writes tensors and metadata (which may be nil) to w in
// the safetensors format. The header lists tensors by name in sorted order;
// the data buffer holds them by decreasing element size, then by name, so
// that every tensor starts at an offset aligned to its element size (as the
// reference implementation does). It fails, writing nothing, on an empty or
// duplicate name, the reserved name "__metadata__", an unknown dtype, a
// negative dimension or a Data length that does not match the shape.
func EncodeSafetensors(w io.Writer, tensors []Tensor, metadata map[string]string) error {
	order := make([]int, len(tensors))
	seen := make(map[string]bool, len(tensors))
	for i := range tensors {
		t := &tensors[i]
		order[i] = i
		switch {
		case t.Name == "":
			return fmt.Errorf("safetensors: tensor %d has an empty name", i)
		case t.Name == metadataKey:
			return fmt.Errorf("safetensors: tensor name %q is reserved", t.Name)
		case seen[t.Name]:
			return fmt.Errorf("safetensors: duplicate tensor name %q", t.Name)
		case t.DType.Size() == 0:
			return fmt.Errorf("safetensors: tensor %q: unknown dtype %q", t.Name, t.DType)
		}
		seen[t.Name] = true
		for _, d := range t.Shape {
			if d < 0 {
				return fmt.Errorf("safetensors: tensor %q: negative dimension in shape %v", t.Name, t.Shape)
			}
		}
		if len(t.Data) != t.NumElements()*t.DType.Size() {
			return fmt.Errorf("safetensors: tensor %q: %d bytes of data for shape %v of %s", t.Name, len(t.Data), t.Shape, t.DType)
		}
	}
	slices.SortFunc(order, func(a, b int) int {
		ta, tb := &tensors[a], &tensors[b]
		if sa, sb := ta.DType.Size(), tb.DType.Size(); sa != sb {
			return sb - sa
		}
		return strings.Compare(ta.Name, tb.Name)
	})
	header := make(map[string]any, len(tensors)+1)
	var off int64
	for _, i := range order {
		t := &tensors[i]
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		end := off + int64(len(t.Data))
		header[t.Name] = tensorInfo{DType: t.DType, Shape: shape, DataOffsets: [2]int64{off, end}}
		off = end
	}
	if len(metadata) > 0 {
		header[metadataKey] = metadata
	}
	js, err := json.Marshal(header) // map keys come out sorted
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	if pad := (8 - len(js)%8) % 8; pad > 0 {
		js = append(js, bytes.Repeat([]byte{' '}, pad)...)
	}
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(js)))
	if _, err := w.Write(n[:]); err != nil {
		return err
	}
	if _, err := w.Write(js); err != nil {
		return err
	}
	for _, i := range order {
		if _, err := w.Write(tensors[i].Data); err != nil {
			return err
		}
	}
	return nil
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrSafetensors, fmt.Sprintf(format, args...))
}

// DecodeSafetensors reads a safetensors file from r and returns its tensors
// in header (name) order, and its metadata (nil if absent). Files larger
// than maxBytes bytes (DefaultMaxSafetensorsBytes if maxBytes <= 0) are
// refused before their data is allocated.
//
// Validation is strict: the header must be at most MaxSafetensorsHeader
// bytes of JSON, an object with no duplicate keys, whose tensor entries
// have exactly the fields dtype (a known type), shape (non-negative) and
// data_offsets; each tensor's byte length must equal its element count
// times its element size; the tensors must cover the data buffer exactly,
// without gaps or overlaps; and the stream must end with the buffer.
// Errors for malformed input wrap ErrSafetensors; it never panics.
func DecodeSafetensors(r io.Reader, maxBytes int64) ([]Tensor, map[string]string, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxSafetensorsBytes
	}
	var nb [8]byte
	if _, err := io.ReadFull(r, nb[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, nil, invalidf("file shorter than its 8-byte header length")
		}
		return nil, nil, err
	}
	n := binary.LittleEndian.Uint64(nb[:])
	if n < 2 || n > MaxSafetensorsHeader || int64(n) > maxBytes-8 {
		return nil, nil, invalidf("header length %d out of range", n)
	}
	hdr := make([]byte, n)
	if _, err := io.ReadFull(r, hdr); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, nil, invalidf("file ends inside its %d-byte header", n)
		}
		return nil, nil, err
	}
	infos, names, meta, err := parseSafetensorsHeader(hdr)
	if err != nil {
		return nil, nil, err
	}

	// The tensors, by offset, must tile [0, size) exactly.
	byOffset := make([]int, len(infos))
	for i := range byOffset {
		byOffset[i] = i
	}
	slices.SortStableFunc(byOffset, func(a, b int) int {
		oa, ob := infos[a].DataOffsets, infos[b].DataOffsets
		if oa[0] != ob[0] {
			return cmpInt64(oa[0], ob[0])
		}
		return cmpInt64(oa[1], ob[1])
	})
	var size int64
	for _, i := range byOffset {
		o := infos[i].DataOffsets
		if o[0] != size {
			if o[0] < size {
				return nil, nil, invalidf("tensor %q overlaps another (data_offsets %v)", names[i], o)
			}
			return nil, nil, invalidf("gap in data buffer before tensor %q (data_offsets %v)", names[i], o)
		}
		size = o[1]
	}
	if size > maxBytes-8-int64(n) {
		return nil, nil, invalidf("data buffer of %d bytes exceeds the limit of %d bytes", size, maxBytes)
	}
	// Read through a bounded reader so that a short file costs no more
	// memory than its real size, whatever the header claims.
	data, err := io.ReadAll(io.LimitReader(r, size+1))
	if err != nil {
		return nil, nil, err
	}
	if int64(len(data)) != size {
		if int64(len(data)) > size {
			return nil, nil, invalidf("trailing bytes after the %d-byte data buffer", size)
		}
		return nil, nil, invalidf("data buffer has %d bytes, header needs %d", len(data), size)
	}
	tensors := make([]Tensor, len(infos))
	for i, info := range infos {
		o := info.DataOffsets
		tensors[i] = Tensor{Name: names[i], DType: info.DType, Shape: info.Shape, Data: data[o[0]:o[1]:o[1]]}
	}
	return tensors, meta, nil
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// parseSafetensorsHeader parses and checks the JSON header. It walks the
// object token by token because encoding/json silently keeps the last of
// duplicate keys.
func parseSafetensorsHeader(hdr []byte) ([]tensorInfo, []string, map[string]string, error) {
	if hdr[0] != '{' {
		return nil, nil, nil, invalidf("header does not start with '{'")
	}
	dec := json.NewDecoder(bytes.NewReader(hdr))
	if _, err := dec.Token(); err != nil {
		return nil, nil, nil, invalidf("header: %v", err)
	}
	var (
		infos []tensorInfo
		names []string
		meta  map[string]string
		seen  = map[string]bool{}
	)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, nil, invalidf("header: %v", err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, nil, nil, invalidf("header: key is not a string")
		}
		if seen[key] {
			return nil, nil, nil, invalidf("header: duplicate key %q", key)
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, nil, invalidf("header: entry %q: %v", key, err)
		}
		if key == "" {
			return nil, nil, nil, invalidf("header: empty tensor name")
		}
		if key == metadataKey {
			if err := decodeStrict(raw, &meta); err != nil || meta == nil {
				return nil, nil, nil, invalidf("header: __metadata__ is not an object of strings")
			}
			continue
		}
		info, err := parseTensorInfo(raw)
		if err != nil {
			return nil, nil, nil, invalidf("header: tensor %q: %v", key, err)
		}
		infos = append(infos, info)
		names = append(names, key)
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, nil, nil, invalidf("header: %v", err)
	}
	for _, c := range hdr[dec.InputOffset():] {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return nil, nil, nil, invalidf("header: bytes after the JSON object")
		}
	}
	return infos, names, meta, nil
}

func decodeStrict(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func parseTensorInfo(raw []byte) (tensorInfo, error) {
	var p struct {
		DType       *DType   `json:"dtype"`
		Shape       *[]int64 `json:"shape"`
		DataOffsets *[]int64 `json:"data_offsets"`
	}
	if err := decodeStrict(raw, &p); err != nil {
		return tensorInfo{}, err
	}
	if p.DType == nil || p.Shape == nil || p.DataOffsets == nil {
		return tensorInfo{}, errors.New("needs dtype, shape and data_offsets")
	}
	size := int64(p.DType.Size())
	if size == 0 {
		return tensorInfo{}, fmt.Errorf("unknown dtype %q", *p.DType)
	}
	o := *p.DataOffsets
	if len(o) != 2 || o[0] < 0 || o[1] < o[0] {
		return tensorInfo{}, fmt.Errorf("bad data_offsets %v", o)
	}
	// Multiply with an overflow guard: no real file holds 2^62 bytes.
	const limit = 1 << 62
	elems := int64(1)
	shape := make([]int, len(*p.Shape))
	for i, d := range *p.Shape {
		if d < 0 || d > math.MaxInt32 {
			return tensorInfo{}, fmt.Errorf("bad dimension %d in shape %v", d, *p.Shape)
		}
		if d != 0 && elems > limit/d {
			return tensorInfo{}, fmt.Errorf("shape %v too large", *p.Shape)
		}
		elems *= d
		shape[i] = int(d)
	}
	if elems > limit/size || elems*size != o[1]-o[0] {
		return tensorInfo{}, fmt.Errorf("data_offsets %v hold %d bytes; shape %v of %s needs %d", o, o[1]-o[0], *p.Shape, *p.DType, elems*size)
	}
	return tensorInfo{DType: *p.DType, Shape: shape, DataOffsets: [2]int64{o[0], o[1]}}, nil
}

// CheckSafetensorsFile tells apart, from the first bytes of a file of size
// bytes (r positioned at its start), before anything is decoded, the usual
// wrong files: a PyTorch pickle or zip checkpoint, a file that is not
// safetensors at all, and one cut short.
func CheckSafetensorsFile(r io.Reader, size int64) error {
	var head [8]byte
	n, err := io.ReadFull(r, head[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return err
	}
	switch {
	case n >= 4 && string(head[:4]) == "PK\x03\x04":
		return fmt.Errorf("%w: this is a PyTorch zip checkpoint (.pth/.bin/.pt); convert it with "+
			"safetensors.torch.save_file(torch.load(FILE, map_location=\"cpu\"), \"model.safetensors\") (see README)", ErrSafetensors)
	case n >= 2 && head[0] == 0x80 && head[1] <= 5:
		return fmt.Errorf("%w: this is a pickled PyTorch checkpoint; convert it to safetensors (see README)", ErrSafetensors)
	case n < 8:
		return fmt.Errorf("%w: truncated: %d bytes, shorter than the 8-byte header length", ErrSafetensors, size)
	}
	hl := binary.LittleEndian.Uint64(head[:])
	if hl < 2 || hl > MaxSafetensorsHeader {
		return fmt.Errorf("%w: not a safetensors file (its first 8 bytes give a header length of %d)", ErrSafetensors, hl)
	}
	if int64(hl) > size-8 {
		return fmt.Errorf("%w: truncated: the header alone needs %d bytes, the file has %d", ErrSafetensors, 8+hl, size)
	}
	hdr := make([]byte, hl)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return err
	}
	if hdr[0] != '{' {
		return fmt.Errorf("%w: not a safetensors file (no JSON header)", ErrSafetensors)
	}
	var entries map[string]json.RawMessage
	if err := json.Unmarshal(hdr, &entries); err != nil {
		return nil // DecodeSafetensors says what is wrong
	}
	var end int64
	for name, raw := range entries {
		if name == metadataKey {
			continue
		}
		var e struct {
			Offsets []int64 `json:"data_offsets"`
		}
		if json.Unmarshal(raw, &e) == nil && len(e.Offsets) == 2 && e.Offsets[1] > end {
			end = e.Offsets[1]
		}
	}
	if need := 8 + int64(hl) + end; need > size {
		return fmt.Errorf("%w: truncated: the header describes %d bytes of tensors, the file has %d bytes, %d short", ErrSafetensors, end, size, need-size)
	}
	return nil
}
