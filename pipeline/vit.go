package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/segdiscover/segdiscover/features/vit"
	"github.com/segdiscover/segdiscover/pipeline/artifact"
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
	if err := artifact.CheckSafetensorsFile(f, fi.Size()); err != nil {
		return nil, fmt.Errorf("weights %s: %w", path, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("weights %s: %w", path, err)
	}
	h := sha256.New()
	ts, _, err := artifact.DecodeSafetensors(io.TeeReader(f, h), 0)
	if err != nil {
		return nil, fmt.Errorf("weights %s: %w", path, err)
	}
	vts := artifact.ToViT(ts)
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

// vitSettings are the transformer feature settings of the run: with fewer
// workers than cores, each forward pass takes a share of the rest.
func (r *runner) vitSettings() vit.Settings {
	return vit.Settings{Size: r.cfg.ViTSize, Keys: r.cfg.ViTFeatures == "keys",
		Threads: threadsPerWorker(r.cfg.Workers)}
}
