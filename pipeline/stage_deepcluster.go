package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"io"
	"strconv"
	"time"

	"github.com/disintegration/imaging"

	"github.com/segdiscover/segdiscover/cluster"
	"github.com/segdiscover/segdiscover/features"
	"github.com/segdiscover/segdiscover/features/deepcluster"
	"github.com/segdiscover/segdiscover/pipeline/artifact"
	"github.com/segdiscover/segdiscover/segnet"
	"github.com/segdiscover/segdiscover/superpixel"
)

// The DeepCluster encoder (--encoder deepcluster): the segmentation FCN's
// body trained by DeepCluster rounds (package deepcluster) that start from
// the clusters of the hand-crafted descriptor. Its dense features, averaged
// over each superpixel, are the learned feature block, as for swav.

const deepClusterVersion = "encoder-deepcluster/1"

// deepClusterParams enter the encoder key (and, through it, the feature
// key).
type deepClusterParams struct {
	Settings deepcluster.Settings `json:"settings"`
	Blocks   string               `json:"blocks"` // round 0's descriptor
	Seed     uint64               `json:"seed"`
}

func (c Config) deepClusterParams() deepClusterParams {
	var s deepcluster.Settings
	if c.deepcluster != nil {
		s = *c.deepcluster
	} else {
		s.Rounds = c.Rounds
		s.Clusters = min(c.overClusters(), 255)
	}
	s.Covariance, _ = cluster.ParseCovarianceType(c.Covariance)
	if s.HandWeights == nil {
		s.HandWeights = c.featureSettings().ColumnWeights()
	}
	return deepClusterParams{Settings: s, Blocks: c.Blocks, Seed: c.Seed}
}

func (r *runner) deepClusterCheckpointPath() string {
	return r.cache.dir + "/encoder/deepcluster-checkpoint.safetensors"
}

// deepClusterStage trains the DeepCluster encoder unless the one in OUT_DIR
// was trained on exactly these superpixels with these parameters. It
// checkpoints after every epoch and every re-clustering, so that a killed
// run resumes where it was, bit for bit, and leaves the encoder, as read
// back from disk, in r.convEnc.
func (r *runner) deepClusterStage(ctx context.Context, st *StageStats, items []*item) error {
	p := r.cfg.deepClusterParams()
	r.encoderKey = r.encoderKeyOf(items)
	if _, ok := r.cache.lookup(StageEncoder, encoderItem, r.encoderKey); ok {
		st.Cached = 1
		st.Note = "encoder reused"
		return r.readConvEncoder()
	}
	t0 := time.Now()
	set := p.Settings.Resolved(len(items))
	set.Workers = r.cfg.Workers
	data, err := r.deepClusterData(ctx, items, set.Area)
	if err != nil {
		return err
	}
	ckPath := r.deepClusterCheckpointPath()
	var tr *deepcluster.Trainer
	if ck, ok := r.readCheckpoint(ckPath, r.encoderKey); ok {
		if tr, err = deepcluster.Resume(ck, data, set, p.Seed); err != nil {
			r.log.Warn("encoder: checkpoint unusable, starting over", "err", err)
			tr = nil
		} else {
			done, _ := tr.Steps()
			st.Note = fmt.Sprintf("resumed in round %d after step %d; ", tr.Round()+1, done)
		}
	}
	if tr == nil {
		var cs deepcluster.ClusterStats
		if tr, cs, err = deepcluster.New(ctx, data, set, p.Seed); err != nil {
			return fmt.Errorf("encoder: %w", err)
		}
		r.logClusters(cs)
		if err := r.writeCheckpoint(ckPath, r.encoderKey, tr.Checkpoint()); err != nil {
			return err
		}
	}
	s := tr.Settings()
	r.log.Info("encoder: deepcluster on "+segnet.Backend(), "images", len(data), "rounds", s.Rounds, "epochs_per_round", s.Epochs,
		"clusters", s.Clusters, "round", tr.Round()+1)
	done, total := tr.Steps()
	bar := r.prog.stage("encoder", total)
	defer bar.done()
	for range done {
		bar.add(true)
	}
	tr.OnStep(func() { bar.add(false) })
	every := throttle{interval: r.logInterval()}
	for !tr.Done() {
		if tr.NeedsCluster() {
			cs, err := tr.Cluster(ctx)
			if err != nil {
				return fmt.Errorf("encoder: %w", err)
			}
			r.logClusters(cs)
		} else {
			es, err := tr.Epoch(ctx)
			if err != nil {
				return err
			}
			if every.ok(time.Now()) || tr.Done() || tr.NeedsCluster() {
				r.log.Info("encoder: epoch", "round", tr.Round()+1, "epoch", es.Epoch, "of", s.Epochs, "loss", roundSig(es.Loss, 4),
					"seconds", roundSig(es.Seconds, 3))
			}
		}
		if !tr.Done() {
			if err := r.writeCheckpoint(ckPath, r.encoderKey, tr.Checkpoint()); err != nil {
				return err
			}
		}
	}
	bar.done()
	st.Note += fmt.Sprintf("deepcluster: %d rounds of %d epochs, %d clusters, on %d images in %.1fs", s.Rounds, s.Epochs, s.Clusters, len(data), time.Since(t0).Seconds())
	enc := tr.Encoder()
	arch, err := enc.Net.Arch().MarshalText()
	if err != nil {
		return err
	}
	js, _ := json.Marshal(s)
	meta := map[string]string{
		"segdiscover.encoder":       "deepcluster",
		"segnet.arch":               string(arch),
		"deepcluster.settings":      string(js),
		"deepcluster.feature_layer": strconv.Itoa(enc.FeatureLayer),
		"deepcluster.area":          strconv.Itoa(enc.Area),
		"segdiscover.backend":       segnet.Backend(),
		metaKey:                     r.encoderKey,
		"segdiscover.feature_names": fmt.Sprintf("layers.%d output, averaged per superpixel", enc.FeatureLayer-1),
	}
	rec, err := r.cache.writeOutputSync(encoderFile, func(w io.Writer) error {
		return artifact.EncodeSafetensors(w, artifact.FromSegnet(enc.Net.StateDict()), meta)
	})
	if err != nil {
		return err
	}
	st.Computed = 1
	if err := r.cache.commit(&manifest{Key: r.encoderKey, Stage: StageEncoder, Item: encoderItem, Outputs: []outputRecord{rec}}); err != nil {
		return err
	}
	r.cache.st.Delete(r.cache.ctx, ckPath)
	return r.readConvEncoder()
}

func (r *runner) logClusters(cs deepcluster.ClusterStats) {
	what := "encoder features"
	if cs.Round == 0 {
		what = "hand-crafted features"
	}
	r.log.Info("encoder: clustered "+what, "labels_of_round", cs.Round+1, "superpixels", cs.Rows, "clusters_used", cs.Used,
		"iterations", cs.Iterations, "converged", cs.Converged, "seconds", roundSig(cs.Seconds, 3))
}

// deepClusterData loads every image at the working resolution with its
// superpixel map resized to it (nearest neighbour at pixel centres) and
// its hand-crafted descriptor (at full resolution), in item order.
func (r *runner) deepClusterData(ctx context.Context, items []*item, area int) ([]deepcluster.Image, error) {
	data := make([]deepcluster.Image, len(items))
	fs := r.cfg.featureSettings()
	err := r.forEachLabelled(ctx, items, "encoder images", "encoder:", func(i int, _ *item, img *image.NRGBA, l *superpixel.Labels) error {
		h, w := segnet.WorkingSize(l.Height, l.Width, area)
		small, sl := img, l
		if h != l.Height || w != l.Width {
			small = imaging.Resize(img, w, h, imaging.Linear)
			sl = &superpixel.Labels{Width: w, Height: h, N: l.N, Pix: make([]int32, w*h)}
			for y := range h {
				sy := min(l.Height-1, (2*y+1)*l.Height/(2*h))
				for x := range w {
					sl.Pix[y*w+x] = l.Pix[sy*l.Width+min(l.Width-1, (2*x+1)*l.Width/(2*w))]
				}
			}
		}
		data[i] = deepcluster.Image{Image: small, Labels: sl, Hand: features.Describe(img, l, fs)}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return data, nil
}

// readConvEncoder reads model/encoder.safetensors (swav or deepcluster)
// into r.convEnc.
func (r *runner) readConvEncoder() error {
	e, _, err := r.loadConvEncoder()
	if err != nil {
		return err
	}
	r.convEnc = e
	return nil
}
