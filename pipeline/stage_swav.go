package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/disintegration/imaging"

	"github.com/segdiscover/segdiscover/pipeline/artifact"
	"github.com/segdiscover/segdiscover/segnet"
	"github.com/segdiscover/segdiscover/superpixel"
)

// The SwAV encoder (--encoder swav): a convolutional network trained from
// scratch on the input images by swapped prediction of Sinkhorn codes
// between views centred on superpixels (segnet.SwAV). Its dense features,
// averaged over each superpixel, are the learned feature block.

const (
	swavVersion = "encoder-swav/1"
	// swavArea is the working resolution, in pixels, images are resized to
	// for training and features: 160x120 for Stanford Background's 4:3.
	// Training crops keep about this pixel scale (segnet.SwAVSettings
	// MinScale/MaxScale), so that the features of the whole image are
	// computed at the scale the network learned.
	swavArea = 160 * 120
	// swavCheckpointEvery is the number of steps between checkpoints.
	swavCheckpointEvery = 10
)

// swavParams enter the encoder key (and, through it, the feature key).
type swavParams struct {
	Steps      int                  `json:"steps"`
	Prototypes int                  `json:"prototypes"`
	Area       int                  `json:"area"`
	Seed       uint64               `json:"seed"`
	Override   *segnet.SwAVSettings `json:"override,omitempty"`
}

// overClusters is the number of SwAV prototypes and of DeepCluster
// clusters: --prototypes, else 4 x K (concepts-max with auto), at least 32.
// Both methods over-cluster (SwAV: 3000 prototypes for ImageNet's 1000
// classes; DeepCluster: 10 000 clusters), so that the encoder learns
// distinctions finer than the concepts, which the final mixture groups.
func (c Config) overClusters() int {
	if c.Prototypes > 0 {
		return c.Prototypes
	}
	_, kmax, _ := c.conceptRange()
	return max(32, 4*kmax)
}

func (c Config) swavParams() swavParams {
	p := c.overClusters()
	return swavParams{Steps: c.EncoderSteps, Prototypes: p, Area: swavArea, Seed: c.Seed, Override: c.swav}
}

func (p swavParams) settings(workers int) segnet.SwAVSettings {
	s := segnet.SwAVSettings{Steps: p.Steps, Prototypes: p.Prototypes}
	if p.Override != nil {
		s = *p.Override
	}
	s.Workers = workers
	return s
}

func (r *runner) swavCheckpointPath() string {
	return r.cache.dir + "/encoder/checkpoint.safetensors"
}

// swavStage trains the SwAV encoder unless the one in OUT_DIR was trained
// on exactly these superpixels with these parameters, checkpointing every
// swavCheckpointEvery steps so that a killed run resumes where it was, bit
// for bit. It leaves the encoder, as read back from disk, in r.swav.
func (r *runner) swavStage(ctx context.Context, st *StageStats, items []*item) error {
	sp := r.cfg.swavParams()
	r.encoderKey = r.encoderKeyOf(items)
	if _, ok := r.cache.lookup(StageEncoder, encoderItem, r.encoderKey); ok {
		st.Cached = 1
		st.Note = "encoder reused"
		return r.readSwav()
	}
	data, err := r.swavData(ctx, items, sp.Area)
	if err != nil {
		return err
	}
	var tr *segnet.SwAV
	if ck, ok := r.readCheckpoint(r.swavCheckpointPath(), r.encoderKey); ok {
		if tr, err = segnet.ResumeSwAV(ck, data, r.cfg.Workers); err != nil {
			r.log.Warn("encoder: checkpoint unusable, starting over", "err", err)
			tr = nil
		} else {
			st.Note = fmt.Sprintf("resumed after step %d; ", tr.StepsDone())
		}
	}
	if tr == nil {
		if tr, err = segnet.NewSwAV(data, sp.settings(r.cfg.Workers), sp.Seed); err != nil {
			return fmt.Errorf("encoder: %w", err)
		}
	}
	s := tr.Settings()
	r.log.Info("encoder: swav on "+segnet.Backend(), "images", len(data), "steps", s.Steps, "steps_done", tr.StepsDone(),
		"batch", s.Batch, "prototypes", s.Prototypes)
	bar := r.prog.stage("encoder", s.Steps)
	for range tr.StepsDone() {
		bar.add(true)
	}
	t0 := time.Now()
	for !tr.Done() {
		stats, err := tr.Step(ctx)
		if err != nil {
			bar.done()
			return err
		}
		bar.add(false)
		if stats.Step%swavCheckpointEvery == 0 && !tr.Done() {
			if err := r.writeCheckpoint(r.swavCheckpointPath(), r.encoderKey, tr.Checkpoint()); err != nil {
				bar.done()
				return err
			}
			r.log.Debug("encoder: step", "step", stats.Step, "loss", stats.Loss, "code_entropy", stats.Entropy)
		}
	}
	bar.done()
	st.Note += fmt.Sprintf("swav trained to step %d on %d images in %.1fs", s.Steps, len(data), time.Since(t0).Seconds())
	net := tr.Net()
	arch, err := net.Arch().MarshalText()
	if err != nil {
		return err
	}
	set, _ := json.Marshal(s)
	meta := map[string]string{
		"segdiscover.encoder":       "swav",
		"segnet.arch":               string(arch),
		"swav.settings":             string(set),
		"swav.feature_layer":        strconv.Itoa(s.FeatureLayer),
		"swav.area":                 strconv.Itoa(sp.Area),
		"segdiscover.backend":       segnet.Backend(),
		metaKey:                     r.encoderKey,
		"segdiscover.feature_names": fmt.Sprintf("layers.%d output, averaged per superpixel", s.FeatureLayer-1),
	}
	ts := append(net.StateDict(), segnet.Tensor{Name: "prototypes.weight", Shape: []int{s.Prototypes, s.ProjDim}, Data: tr.Prototypes()})
	rec, err := r.cache.writeOutputSync(encoderFile, func(w io.Writer) error {
		return artifact.EncodeSafetensors(w, artifact.FromSegnet(ts), meta)
	})
	if err != nil {
		return err
	}
	st.Computed = 1
	if err := r.cache.commit(&manifest{Key: r.encoderKey, Stage: StageEncoder, Item: encoderItem, Outputs: []outputRecord{rec}}); err != nil {
		return err
	}
	r.cache.st.Delete(r.cache.ctx, r.swavCheckpointPath())
	return r.readSwav()
}

// swavData loads every image at the working resolution with the centres
// of its superpixels, in item order.
func (r *runner) swavData(ctx context.Context, items []*item, area int) ([]segnet.SwAVImage, error) {
	data := make([]segnet.SwAVImage, len(items))
	err := r.forEachLabelled(ctx, items, "encoder images", "encoder:", func(i int, _ *item, img *image.NRGBA, l *superpixel.Labels) error {
		h, w := segnet.WorkingSize(l.Height, l.Width, area)
		small := img
		if h != l.Height || w != l.Width {
			small = imaging.Resize(img, w, h, imaging.Linear)
		}
		sx, sy := make([]float64, l.N), make([]float64, l.N)
		cnt := make([]float64, l.N)
		for y := range l.Height {
			for x, id := range l.Pix[y*l.Width : (y+1)*l.Width] {
				sx[id] += float64(x)
				sy[id] += float64(y)
				cnt[id]++
			}
		}
		fx, fy := float64(w)/float64(l.Width), float64(h)/float64(l.Height)
		cs := make([][2]float32, 0, l.N)
		for id := range l.N {
			if cnt[id] > 0 {
				// Pixel centres: (x+0.5)*scale-0.5 in the small image.
				cs = append(cs, [2]float32{float32((sx[id]/cnt[id]+0.5)*fx - 0.5), float32((sy[id]/cnt[id]+0.5)*fy - 0.5)})
			}
		}
		data[i] = segnet.SwAVImage{Image: small, Centers: cs}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return data, nil
}

// readSwav reads model/encoder.safetensors as a SwAV encoder into r.convEnc.
func (r *runner) readSwav() error {
	e, kind, err := r.loadConvEncoder()
	if err != nil {
		return err
	}
	if kind != "swav" {
		return fmt.Errorf("%s: not a SwAV encoder (segdiscover.encoder %q)", r.outPath(encoderFile), kind)
	}
	r.convEnc = e
	return nil
}

// loadConvEncoder reads model/encoder.safetensors from the output store
// (LoadConvEncoder on its bytes).
func (r *runner) loadConvEncoder() (*segnet.Encoder, string, error) {
	data, err := r.cache.read(encoderFile)
	if err != nil {
		return nil, "", err
	}
	return decodeConvEncoder(r.outPath(encoderFile), data)
}

// LoadSwAVEncoder reads a SwAV encoder file (OUT_DIR/model/encoder.safetensors
// written with --encoder swav).
func LoadSwAVEncoder(path string) (*segnet.Encoder, error) {
	e, kind, err := LoadConvEncoder(path)
	if err != nil {
		return nil, err
	}
	if kind != "swav" {
		return nil, fmt.Errorf("%s: not a SwAV encoder (segdiscover.encoder %q)", path, kind)
	}
	return e, nil
}

// LoadConvEncoder reads a convolutional encoder file
// (OUT_DIR/model/encoder.safetensors written with --encoder swav or
// deepcluster) and returns it with its kind, "swav" or "deepcluster".
func LoadConvEncoder(path string) (*segnet.Encoder, string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", err
	}
	return decodeConvEncoder(path, data)
}

// decodeConvEncoder decodes the bytes of an encoder file; path names it in
// errors.
func decodeConvEncoder(path string, data []byte) (*segnet.Encoder, string, error) {
	ts, meta, err := artifact.DecodeSafetensors(bytes.NewReader(data), 0)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	e, kind, err := convFromTensors(ts, meta)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	return e, kind, nil
}

// convFromTensors builds a SwAV or DeepCluster encoder from the tensors
// and metadata of its file and returns it with its kind. The feature layer
// and working resolution are in the metadata "<kind>.feature_layer" and
// "<kind>.area".
func convFromTensors(ts []artifact.Tensor, meta map[string]string) (*segnet.Encoder, string, error) {
	kind := meta["segdiscover.encoder"]
	if kind != "swav" && kind != "deepcluster" {
		return nil, "", fmt.Errorf("not a convolutional encoder (segdiscover.encoder %q)", kind)
	}
	var arch segnet.Arch
	if err := arch.UnmarshalText([]byte(meta["segnet.arch"])); err != nil {
		return nil, "", err
	}
	fl, err1 := strconv.Atoi(meta[kind+".feature_layer"])
	area, err2 := strconv.Atoi(meta[kind+".area"])
	if err1 != nil || err2 != nil || fl < 1 || fl > len(arch.Layers) || area < 1 {
		return nil, "", fmt.Errorf("metadata %s.feature_layer %q, %s.area %q invalid", kind, meta[kind+".feature_layer"], kind, meta[kind+".area"])
	}
	st, err := artifact.ToSegnet(ts)
	if err != nil {
		return nil, "", err
	}
	var net []segnet.Tensor
	for _, t := range st {
		if !strings.HasPrefix(t.Name, "prototypes.") {
			net = append(net, t)
		}
	}
	n, err := segnet.FromState(arch, net)
	if err != nil {
		return nil, "", err
	}
	n.Workers = 1
	return &segnet.Encoder{Net: n, FeatureLayer: fl, Area: area}, kind, nil
}
