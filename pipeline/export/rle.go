package export

import (
	"errors"
	"image"
	"strings"
)

// Binary is a binary mask: Pix[y*W+x] != 0 inside.
type Binary struct {
	W, H int
	Pix  []uint8
}

// Area returns the number of pixels inside.
func (b Binary) Area() int {
	n := 0
	for _, v := range b.Pix {
		if v != 0 {
			n++
		}
	}
	return n
}

// Bounds returns the smallest rectangle holding every pixel inside (empty
// if none).
func (b Binary) Bounds() image.Rectangle {
	x0, y0, x1, y1 := b.W, b.H, -1, -1
	for y := range b.H {
		row := b.Pix[y*b.W : (y+1)*b.W]
		for x, v := range row {
			if v != 0 {
				x0, y0, x1, y1 = min(x0, x), min(y0, y), max(x1, x), max(y1, y)
			}
		}
	}
	if x1 < 0 {
		return image.Rectangle{}
	}
	return image.Rect(x0, y0, x1+1, y1+1)
}

// COCOCounts returns the uncompressed COCO RLE of b: run lengths over the
// pixels in column-major order (x outer, y inner), alternately outside and
// inside, starting outside (a first run of 0 when the first pixel is in).
func COCOCounts(b Binary) []int {
	var counts []int
	cur, run := uint8(0), 0
	for x := range b.W {
		for y := range b.H {
			v := uint8(0)
			if b.Pix[y*b.W+x] != 0 {
				v = 1
			}
			if v != cur {
				counts = append(counts, run)
				cur, run = v, 0
			}
			run++
		}
	}
	return append(counts, run)
}

// COCOString compresses COCO run lengths into the string of pycocotools'
// rleToString.
func COCOString(counts []int) string {
	var s strings.Builder
	for i, c := range counts {
		x := int64(c)
		if i > 2 {
			x -= int64(counts[i-2])
		}
		for more := true; more; {
			ch := x & 0x1f
			x >>= 5 // arithmetic: negative differences end with all ones
			if ch&0x10 != 0 {
				more = x != -1
			} else {
				more = x != 0
			}
			if more {
				ch |= 0x20
			}
			s.WriteByte(byte(ch + 48))
		}
	}
	return s.String()
}

// ParseCOCOString decodes a compressed COCO RLE string (pycocotools'
// rleFrString) into run lengths.
func ParseCOCOString(s string) ([]int, error) {
	var counts []int
	for p := 0; p < len(s); {
		var x int64
		k := 0
		for more := true; more; {
			if p >= len(s) || k > 12 {
				return nil, errors.New("export: truncated or overlong COCO RLE")
			}
			c := int64(s[p]) - 48
			if c < 0 || c > 63 {
				return nil, errors.New("export: byte outside the COCO RLE alphabet")
			}
			x |= (c & 0x1f) << (5 * k)
			more = c&0x20 != 0
			p++
			k++
			if !more && c&0x10 != 0 {
				x |= -1 << (5 * k)
			}
		}
		if len(counts) > 2 {
			x += int64(counts[len(counts)-2])
		}
		if x < 0 {
			return nil, errors.New("export: negative run in COCO RLE")
		}
		counts = append(counts, int(x))
	}
	return counts, nil
}

// CVATCounts returns the run lengths of b over r (its bounding box, in
// CVAT), row-major, alternately outside and inside, starting outside.
func CVATCounts(b Binary, r image.Rectangle) []int {
	var counts []int
	cur, run := uint8(0), 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			v := uint8(0)
			if b.Pix[y*b.W+x] != 0 {
				v = 1
			}
			if v != cur {
				counts = append(counts, run)
				cur, run = v, 0
			}
			run++
		}
	}
	return append(counts, run)
}

// Label Studio's brush RLE (label-studio-converter brush.encode_rle, after
// @thi.ng/rle-pack): a bit stream, most significant bit first, of
// the count of values (32 bits), the word size minus one (5 bits: 7), four
// run-length field sizes minus one (4 bits each: 3, 4, 8, 16), then
// chunks. A repeat chunk is a 1 bit, a 2-bit index into the sizes, the run
// length minus one in that many bits, and the value in 8 bits. The values
// are the RGBA bytes of a 0/255 mask (each pixel's value four times); the
// stream is zero-padded to whole bytes, given as a list of byte values.
var lsSizes = [4]int{3, 4, 8, 16}

type bitWriter struct {
	out []byte
	n   uint // bits used in the last byte
}

func (w *bitWriter) write(v uint64, n int) {
	for i := n - 1; i >= 0; i-- {
		if w.n == 0 {
			w.out = append(w.out, 0)
		}
		if v>>uint(i)&1 != 0 {
			w.out[len(w.out)-1] |= 0x80 >> w.n
		}
		w.n = (w.n + 1) % 8
	}
}

// LabelStudioRLE encodes b in Label Studio's brush RLE.
func LabelStudioRLE(b Binary) []int {
	var w bitWriter
	num := 4 * len(b.Pix)
	w.write(uint64(num), 32)
	w.write(7, 5)
	for _, s := range lsSizes {
		w.write(uint64(s-1), 4)
	}
	emit := func(v uint8, n int) {
		for n > 0 {
			l := min(n, 1<<16)
			idx := 0
			for (l-1)>>lsSizes[idx] != 0 {
				idx++
			}
			w.write(1, 1)
			w.write(uint64(idx), 2)
			w.write(uint64(l-1), lsSizes[idx])
			w.write(uint64(v), 8)
			n -= l
		}
	}
	cur, run := uint8(0), 0
	for i, p := range b.Pix {
		v := uint8(0)
		if p != 0 {
			v = 255
		}
		if i > 0 && v != cur {
			emit(cur, run)
			run = 0
		}
		cur = v
		run += 4
	}
	emit(cur, run)
	out := make([]int, len(w.out))
	for i, c := range w.out {
		out[i] = int(c)
	}
	return out
}

// DecodeLabelStudioRLE decodes Label Studio's brush RLE into its values
// (RGBA bytes), for tests and tools.
func DecodeLabelStudioRLE(rle []int) ([]uint8, error) {
	data := make([]byte, len(rle))
	for i, v := range rle {
		if v < 0 || v > 255 {
			return nil, errors.New("export: RLE value outside 0..255")
		}
		data[i] = byte(v)
	}
	pos := 0
	read := func(n int) (uint64, error) {
		var v uint64
		for range n {
			if pos >= 8*len(data) {
				return 0, errors.New("export: truncated Label Studio RLE")
			}
			v = v<<1 | uint64(data[pos/8]>>(7-pos%8)&1)
			pos++
		}
		return v, nil
	}
	num, err := read(32)
	if err != nil {
		return nil, err
	}
	ws, err := read(5)
	if err != nil {
		return nil, err
	}
	word := int(ws) + 1
	var sizes [4]int
	for i := range sizes {
		s, err := read(4)
		if err != nil {
			return nil, err
		}
		sizes[i] = int(s) + 1
	}
	if num > 1<<31 || word > 8 {
		return nil, errors.New("export: Label Studio RLE header out of range")
	}
	out := make([]uint8, 0, min(num, 1<<20))
	for uint64(len(out)) < num {
		x, err := read(1)
		if err != nil {
			return nil, err
		}
		si, err := read(2)
		if err != nil {
			return nil, err
		}
		l, err := read(sizes[si])
		if err != nil {
			return nil, err
		}
		n := int(l) + 1
		if uint64(len(out)+n) > num {
			return nil, errors.New("export: Label Studio RLE runs past its length")
		}
		if x == 1 {
			v, err := read(word)
			if err != nil {
				return nil, err
			}
			for range n {
				out = append(out, uint8(v))
			}
		} else {
			for range n {
				v, err := read(word)
				if err != nil {
					return nil, err
				}
				out = append(out, uint8(v))
			}
		}
	}
	return out, nil
}
