package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"io"
	"os"
	"path"
	"time"

	"gonum.org/v1/gonum/mat"

	"github.com/segdiscover/segdiscover/features"
	"github.com/segdiscover/segdiscover/pipeline/artifact"
	"github.com/segdiscover/segdiscover/superpixel"
)

// superpixelParams are the parameters that enter the superpixel key.
type superpixelParams struct {
	Segments    int     `json:"segments"`
	Compactness float64 `json:"compactness"`
	Iterations  int     `json:"iterations"`
	SLICO       bool    `json:"slico"`
}

// featureParams are the parameters that enter the feature key.
type featureParams struct {
	Encoder     string `json:"encoder"`
	Blocks      string `json:"blocks"`
	ViTSize     int    `json:"vit_size,omitempty"`
	ViTFeatures string `json:"vit_features,omitempty"`
}

func (c Config) superpixelParams() superpixelParams {
	return superpixelParams{Segments: c.Segments, Compactness: c.Compactness, Iterations: c.Iterations, SLICO: c.SLICO}
}

func (c Config) featureParams() featureParams {
	p := featureParams{Encoder: c.Encoder, Blocks: c.Blocks}
	if c.Encoder == "vit" {
		p.ViTSize, p.ViTFeatures = c.ViTSize, c.ViTFeatures
	}
	return p
}

// featureSettings returns the descriptor settings of c (validated).
func (c Config) featureSettings() *features.Settings {
	b, err := features.ParseBlock(c.Blocks)
	if err != nil {
		panic(err) // Validate checked it
	}
	return &features.Settings{Blocks: b}
}

// Output paths relative to OUT_DIR, slash-separated.
func superpixelPath(rel string) string { return path.Join("superpixels", rel+".png") }
func featurePath(rel string) string    { return path.Join("features", rel+".f32") }

// perImage runs the per-image stages before the global ones (superpixels,
// then features) over every image in one streaming pass: each image is read
// once, and at most Workers images are held in memory at a time.
func (r *runner) perImage(ctx context.Context) error {
	// Learned features need the encoder, trained after this pass.
	spec, _ := parseEncoder(r.cfg.Encoder)
	doFeat := r.cfg.runs(StageFeatures) && !spec.learned
	var sp, ft counter
	spBar := r.prog.stage(StageSuperpixels, len(r.items))
	var ftBar stageProgress = nopProgress{}
	if doFeat {
		ftBar = r.prog.stage(StageFeatures, len(r.items))
	}
	spParams, ftParams := r.cfg.superpixelParams(), r.cfg.featureParams()
	fs := r.cfg.featureSettings()
	t0 := time.Now()
	r.forEach(ctx, func(it *item) {
		err := r.imageStages(it, spParams, ftParams, fs, doFeat, &sp, &ft, spBar, ftBar)
		if err != nil {
			it.failed = true
			r.fail(err)
		}
	})
	spBar.done()
	ftBar.done()
	if err := r.cache.flush(); err != nil {
		return err
	}
	wall := time.Since(t0)
	spShare := 1.0
	if b := sp.busy.Load() + ft.busy.Load(); doFeat && b > 0 {
		spShare = float64(sp.busy.Load()) / float64(b)
	}
	sp.into(r.sum.stageStats(StageSuperpixels), time.Duration(float64(wall)*spShare))
	if doFeat {
		ft.into(r.sum.stageStats(StageFeatures), time.Duration(float64(wall)*(1-spShare)))
	}
	r.sum.stageStats(StageSuperpixels).Items = len(r.items)
	if doFeat {
		r.sum.stageStats(StageFeatures).Items = len(r.items)
		if r.vit != nil {
			r.sum.stageStats(StageFeatures).Note = r.vit.Model.Arch.String()
		}
	}
	return nil
}

// imageStages brings one image's superpixels (and features, if doFeat) up
// to date. The error is confined to this image.
func (r *runner) imageStages(it *item, spp superpixelParams, ftp featureParams, fs *features.Settings,
	doFeat bool, sp, ft *counter, spBar, ftBar stageProgress) *FileError {
	// A failed image still advances the bars of the stages it skips.
	spAdded, ftAdded := false, !doFeat
	defer func() {
		if !spAdded {
			spBar.add(false)
		}
		if !ftAdded {
			ftBar.add(false)
		}
	}()
	fail := func(stage string, err error) *FileError {
		if stage == StageSuperpixels {
			sp.failed.Add(1)
		} else {
			ft.failed.Add(1)
		}
		return &FileError{Path: it.file.Path, Stage: stage, Err: err}
	}
	t0 := time.Now()
	data, err := it.file.read()
	if err != nil {
		return fail(StageSuperpixels, err)
	}
	it.spKey = key(superpixelsVersion, spp, hashBytes(data))
	spMan, spHit := r.cache.lookup(StageSuperpixels, it.file.Rel, it.spKey)
	ftHit := true
	if doFeat {
		if r.vit != nil {
			it.featKey = key(featuresVersion, ftp, it.spKey, r.vit.Key)
		} else {
			it.featKey = key(featuresVersion, ftp, it.spKey)
		}
		_, ftHit = r.cache.lookup(StageFeatures, it.file.Rel, it.featKey)
	}

	var img *image.NRGBA
	if !spHit || !ftHit {
		img, err = artifact.DecodeImage(bytes.NewReader(data), r.cfg.MaxPixels)
		if err != nil {
			return fail(StageSuperpixels, err)
		}
	}
	data = nil

	var labels *superpixel.Labels
	if spHit {
		it.segments = extraInt(spMan.Extra, "segments")
		sp.cached.Add(1)
	} else {
		labels = segment(img, r.cfg)
		rec, err := r.cache.writeOutput(superpixelPath(it.file.Rel), func(w io.Writer) error { return artifact.EncodeLabels(w, labels) })
		if err != nil {
			return fail(StageSuperpixels, err)
		}
		it.segments = labels.N
		m := &manifest{Key: it.spKey, Stage: StageSuperpixels, Item: it.file.Rel, Outputs: []outputRecord{rec},
			Extra: map[string]any{"segments": labels.N, "width": labels.Width, "height": labels.Height}}
		if err := r.cache.commitLater(m); err != nil {
			return fail(StageSuperpixels, err)
		}
		sp.computed.Add(1)
	}
	t1 := time.Now()
	sp.busy.Add(int64(t1.Sub(t0)))
	spBar.add(spHit)
	spAdded = true
	if !doFeat {
		return nil
	}

	if ftHit {
		ft.cached.Add(1)
	} else {
		if labels == nil {
			labels, err = r.readLabelsOf(it.file.Rel, img)
			if err != nil {
				return fail(StageFeatures, err)
			}
		}
		var x *mat.Dense
		if r.vit != nil {
			x = r.vit.Model.SuperpixelFeatures(img, labels, r.vitSettings())
		} else {
			x = features.Describe(img, labels, fs)
		}
		if err := r.writeFeatures(it, x); err != nil {
			return fail(StageFeatures, err)
		}
		ft.computed.Add(1)
	}
	ft.busy.Add(int64(time.Since(t1)))
	ftBar.add(ftHit)
	ftAdded = true
	return nil
}

func (r *runner) writeFeatures(it *item, x *mat.Dense) error {
	rec, err := r.cache.writeOutput(featurePath(it.file.Rel), func(w io.Writer) error { return artifact.EncodeFeatures(w, x) })
	if err != nil {
		return err
	}
	rows, cols := x.Dims()
	return r.cache.commitLater(&manifest{Key: it.featKey, Stage: StageFeatures, Item: it.file.Rel, Outputs: []outputRecord{rec},
		Extra: map[string]any{"rows": rows, "cols": cols}})
}

// readLabelsOf reads the superpixel label map of rel and checks that it
// has the size of img, its image: the stages index one with the other.
func (r *runner) readLabelsOf(rel string, img *image.NRGBA) (*superpixel.Labels, error) {
	l, err := r.readLabels(rel)
	if err != nil {
		return nil, err
	}
	if l.Width != img.Rect.Dx() || l.Height != img.Rect.Dy() {
		return nil, fmt.Errorf("%s is %dx%d, the image %dx%d", superpixelPath(rel), l.Width, l.Height, img.Rect.Dx(), img.Rect.Dy())
	}
	return l, nil
}

// readLabels reads the superpixel label map of rel from OUT_DIR.
func (r *runner) readLabels(rel string) (*superpixel.Labels, error) {
	f, err := r.cache.open(superpixelPath(rel))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	l, err := artifact.DecodeLabels(f, r.cfg.MaxPixels)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", superpixelPath(rel), err)
	}
	return l, nil
}

// readFeatures reads the feature matrix of rel from OUT_DIR.
func (r *runner) readFeatures(rel string) (*mat.Dense, error) {
	f, err := r.cache.open(featurePath(rel))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	x, err := artifact.DecodeFeatures(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", featurePath(rel), err)
	}
	return x, nil
}

// outPath names the output rel as the user sees it (a file path, a URL).
func (r *runner) outPath(rel string) string { return r.cache.st.Location(rel) }

// readInput reads an input file whole (it is hashed for the cache key and
// then decoded from memory), refusing files larger than any image we would
// accept.
func readInput(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() > artifact.MaxImageFileBytes {
		return nil, fmt.Errorf("file is %d bytes, above the %d-byte limit for an image", fi.Size(), artifact.MaxImageFileBytes)
	}
	if fi.Size() == 0 {
		return nil, artifact.ErrEmpty
	}
	data := make([]byte, fi.Size())
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, err
	}
	return data, nil
}

// extraInt reads an integer stored in a manifest's Extra (JSON numbers
// decode as float64).
func extraInt(m map[string]any, k string) int {
	switch v := m[k].(type) {
	case float64:
		return int(v)
	case int:
		return v
	}
	return 0
}
