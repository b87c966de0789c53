package pipeline

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/segdiscover/segdiscover/features/vit"
)

// A pretrained transformer (--encoder vit --weights FILE): the user's
// safetensors checkpoint, with the config.json and preprocessor_config.json
// beside it when present. The feature key includes the SHA-256 of all
// three, so another checkpoint recomputes the features and all after them.

// DefaultViTPCA is the PCA dimension of transformer features when --pca is
// not given: token widths (384 to 1024) are far more than a
// full-covariance GMM over a few hundred superpixels per image can fit, and
// STEGO and SegDiscover likewise cluster a low-dimensional projection.
const DefaultViTPCA = 32

// ViTWeights is a loaded checkpoint.
type ViTWeights struct {
	Model *vit.Model
	Key   string // SHA-256 over the weights, config.json and preprocessor_config.json
	Path  string
}

// LoadViT reads the transformer checkpoint at path (and the config files
// beside it). Its errors name the file and say what is wrong with it.
func LoadViT(path string) (*ViTWeights, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("weights: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("weights: %w", err)
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("weights %s: is a folder; give the .safetensors file inside it", path)
	}
	if err := checkSafetensorsFile(f, fi.Size()); err != nil {
		return nil, fmt.Errorf("weights %s: %w", path, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("weights %s: %w", path, err)
	}
	h := sha256.New()
	ts, _, err := DecodeSafetensors(io.TeeReader(f, h), 0)
	if err != nil {
		return nil, fmt.Errorf("weights %s: %w", path, err)
	}
	vts := make([]vit.Tensor, len(ts))
	for i, t := range ts {
		vts[i] = vit.Tensor{Name: t.Name, DType: string(t.DType), Shape: t.Shape, Data: t.Data}
	}
	key := sha256.New()
	fmt.Fprintf(key, "weights %x\n", h.Sum(nil))
	dir := filepath.Dir(path)
	readSide := func(name string) ([]byte, error) {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(key, "%s %x\n", name, sha256.Sum256(data))
		return data, nil
	}
	cfg, err := readSide("config.json")
	if err != nil {
		return nil, fmt.Errorf("weights %s: %w", path, err)
	}
	pre, err := readSide("preprocessor_config.json")
	if err != nil {
		return nil, fmt.Errorf("weights %s: %w", path, err)
	}
	m, err := vit.Load(vts, cfg, pre)
	var ce *vit.ConfigError
	switch {
	case errors.As(err, &ce):
		return nil, fmt.Errorf("%s (beside weights %s): %w", filepath.Join(dir, ce.File), path, ce.Err)
	case err != nil:
		return nil, fmt.Errorf("weights %s: %w", path, err)
	}
	return &ViTWeights{Model: m, Key: hex.EncodeToString(key.Sum(nil)), Path: path}, nil
}

// checkSafetensorsFile tells apart, before anything is decoded, the usual
// wrong files: a PyTorch pickle or zip checkpoint, a file that is not
// safetensors at all, and one cut short.
func checkSafetensorsFile(r io.Reader, size int64) error {
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

// vitSettings are the transformer feature settings of the run: with fewer
// workers than cores, each forward pass takes a share of the rest.
func (r *runner) vitSettings() vit.Settings {
	return vit.Settings{Size: r.cfg.ViTSize, Keys: r.cfg.ViTFeatures == "keys",
		Threads: max(1, runtime.GOMAXPROCS(0)/r.cfg.Workers)}
}
