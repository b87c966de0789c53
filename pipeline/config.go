package pipeline

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/segdiscover/segdiscover/cluster"
	"github.com/segdiscover/segdiscover/features"
)

// Stage names, in run order. A run goes through them in this order and
// stops after Config.Until.
const (
	StageSuperpixels  = "superpixels"
	StageEncoder      = "encoder" // only with a learned --encoder
	StageFeatures     = "features"
	StageCluster      = "cluster"
	StagePseudolabels = "pseudolabels"
	StageTrain        = "train"
	StageMasks        = "masks"
	StageOverlays     = "overlays"
)

// Stages lists the stages a run can perform, in order.
var Stages = []string{StageSuperpixels, StageEncoder, StageFeatures, StageCluster, StagePseudolabels, StageTrain, StageMasks, StageOverlays}

// stageIndex returns the position of name in Stages, or -1.
func stageIndex(name string) int {
	for i, s := range Stages {
		if s == name {
			return i
		}
	}
	return -1
}

// Config is the effective configuration of a run: every stage's parameters.
// Its JSON keys are the command-line flag names, so a --config file and
// OUT_DIR/run.json use the same vocabulary as the flags. The zero value of a
// field means its documented default (see Defaults), so a config file may
// give only the keys it changes.
type Config struct {
	// Run control (not part of any cache key).
	Workers   int    `json:"workers,omitempty"`    // per-image workers; 0 = number of CPUs
	MaxPixels int    `json:"max-pixels,omitempty"` // refuse larger images; 0 = DefaultMaxPixels
	Until     string `json:"until,omitempty"`      // last stage to run; "" = all

	// Superpixels (SLIC).
	Segments    int     `json:"segments,omitempty"`    // requested superpixels per image; 0 = 300
	Compactness float64 `json:"compactness,omitempty"` // SLIC m; 0 = 5 (superpixel.SLIC's default)
	Iterations  int     `json:"iterations,omitempty"`  // 0 = 10
	SLICO       bool    `json:"slico,omitempty"`       // adaptive compactness

	// Features.
	Encoder       string `json:"encoder,omitempty"`        // "handcrafted" (default), "sae-sigmoid", "sae-relu", "handcrafted+sae-sigmoid", "handcrafted+sae-relu"
	Blocks        string `json:"blocks,omitempty"`         // descriptor blocks, e.g. "lab_mean+lab_std+centroid_y"; "" = default
	PCA           int    `json:"pca,omitempty"`            // reduce standardised features to this many dimensions; 0 = none
	Hidden        int    `json:"hidden,omitempty"`         // learned encoder: hidden units (feature dimensions); 0 = 64
	Denoise       bool   `json:"denoise,omitempty"`        // learned encoder: denoising (masking noise on the input)
	PatchSize     int    `json:"patch-size,omitempty"`     // learned encoder: patch side in pixels; 0 = 16
	PatchSample   int    `json:"patch-sample,omitempty"`   // learned encoder: patches it trains on (uniform sample); 0 = 10000
	EncoderEpochs int    `json:"encoder-epochs,omitempty"` // learned encoder: training epochs; 0 = 30

	// Cluster (GMM).
	Concepts   string `json:"concepts,omitempty"`     // K, or "auto" (BIC over ConceptMin..ConceptMax); "" = 8
	ConceptMin int    `json:"concepts-min,omitempty"` // 0 = 2
	ConceptMax int    `json:"concepts-max,omitempty"` // 0 = 16
	Covariance string `json:"covariance,omitempty"`   // "full" (default), "diag", "spherical", "tied"
	Balance    string `json:"balance,omitempty"`      // "none" (default), "sinkhorn"
	Seed       uint64 `json:"seed,omitempty"`         // 0 = 1
	MaxSamples int    `json:"max-samples,omitempty"`  // fit the GMM on at most this many superpixels; 0 = 1000000
	NInit      int    `json:"n-init,omitempty"`       // EM restarts; 0 = 1
	Init       string `json:"init,omitempty"`         // "kmeans" (default) or "consensus" (most reproducible of 10 sample restarts)

	// Pseudo-labels.
	MinConfidence float64 `json:"min-confidence,omitempty"` // posterior below which a pixel is unassigned; 0 = keep all

	// Segmentation network (segnet) training; zero values are segnet's defaults.
	Epochs             int     `json:"epochs,omitempty"`               // 0 = 5, more on small sets (at least 150 steps)
	Batch              int     `json:"batch,omitempty"`                // 0 = 8
	LR                 float64 `json:"lr,omitempty"`                   // 0 = 1e-3
	CropHeight         int     `json:"crop-height,omitempty"`          // 0 = 120
	CropWidth          int     `json:"crop-width,omitempty"`           // 0 = 160
	TrainMinConfidence float64 `json:"train-min-confidence,omitempty"` // ignore pseudo-label pixels less confident than this
	ConfWeight         bool    `json:"conf-weight,omitempty"`          // weight the loss by pseudo-label confidence

	// Refined masks.
	Refine string `json:"refine,omitempty"` // "none" (default: per-pixel arg-max) or "superpixels" (posteriors averaged per superpixel)
}

// Refinement of the network's masks (Config.Refine).
const (
	RefineSuperpixels = "superpixels"
	RefineNone        = "none"
)

// Defaults returns c with every zero field replaced by its default value.
func (c Config) Defaults() Config {
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.MaxPixels <= 0 {
		c.MaxPixels = DefaultMaxPixels
	}
	if c.Segments <= 0 {
		c.Segments = 300
	}
	if c.Compactness <= 0 {
		c.Compactness = 5
	}
	if c.Iterations <= 0 {
		c.Iterations = 10
	}
	if c.Encoder == "" {
		c.Encoder = "handcrafted"
	}
	if c.Hidden <= 0 {
		c.Hidden = 64
	}
	if c.PatchSize <= 0 {
		c.PatchSize = features.DefaultPatchSize
	}
	if c.PatchSample <= 0 {
		c.PatchSample = 10000
	}
	if c.EncoderEpochs <= 0 {
		c.EncoderEpochs = 30
	}
	if c.Blocks == "" {
		c.Blocks = features.DefaultBlocks.String()
	}
	if c.Concepts == "" {
		c.Concepts = "8"
	}
	if c.ConceptMin <= 0 {
		c.ConceptMin = 2
	}
	if c.ConceptMax <= 0 {
		c.ConceptMax = 16
	}
	if c.Covariance == "" {
		c.Covariance = cluster.Full.String()
	}
	if c.Balance == "" {
		c.Balance = "none"
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.MaxSamples <= 0 {
		c.MaxSamples = 1_000_000
	}
	if c.NInit <= 0 {
		c.NInit = 1
	}
	if c.Init == "" {
		c.Init = cluster.InitKMeans.String()
	}
	if c.Refine == "" {
		// Superpixel refinement is measured better on one seed of each
		// dataset only; a default changes when every seed agrees.
		c.Refine = RefineNone
	}
	return c
}

// Validate reports the first invalid setting of c (after Defaults).
func (c Config) Validate() error {
	if c.Until != "" && stageIndex(c.Until) < 0 {
		return fmt.Errorf("until: unknown stage %q (want one of %s)", c.Until, strings.Join(Stages, ", "))
	}
	if c.Segments > MaxLabelID {
		return fmt.Errorf("segments: %d is above the %d ids a label file holds", c.Segments, MaxLabelID)
	}
	if _, err := parseEncoder(c.Encoder); err != nil {
		return fmt.Errorf("encoder: %w", err)
	}
	if _, err := features.ParseBlock(c.Blocks); err != nil {
		return fmt.Errorf("blocks: %w", err)
	}
	if c.PCA < 0 {
		return fmt.Errorf("pca: must not be negative")
	}
	if _, _, err := c.conceptRange(); err != nil {
		return err
	}
	if _, err := cluster.ParseCovarianceType(c.Covariance); err != nil {
		return fmt.Errorf("covariance: %w", err)
	}
	if _, err := cluster.ParseInitMethod(c.Init); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	if _, err := cluster.ParseBalance(c.Balance); err != nil {
		return fmt.Errorf("balance: %w", err)
	}
	if c.Epochs < 0 || c.Batch < 0 || c.LR < 0 || c.CropHeight < 0 || c.CropWidth < 0 {
		return fmt.Errorf("epochs, batch, lr, crop-height, crop-width: must not be negative")
	}
	if c.TrainMinConfidence < 0 || c.TrainMinConfidence > 1 {
		return fmt.Errorf("train-min-confidence: %g is not in [0, 1]", c.TrainMinConfidence)
	}
	if c.Refine != RefineSuperpixels && c.Refine != RefineNone {
		return fmt.Errorf("refine: unknown %q (want %s or %s)", c.Refine, RefineSuperpixels, RefineNone)
	}
	if c.MinConfidence < 0 || c.MinConfidence > 1 {
		return fmt.Errorf("min-confidence: %g is not in [0, 1]", c.MinConfidence)
	}
	return nil
}

// conceptRange returns the range of K to try: one value, or the BIC range
// for "auto".
func (c Config) conceptRange() (kmin, kmax int, err error) {
	if c.Concepts == "auto" {
		if c.ConceptMin < 1 || c.ConceptMax < c.ConceptMin || c.ConceptMax > 255 {
			return 0, 0, fmt.Errorf("concepts-min/max: want 1 <= min <= max <= 255, have %d..%d", c.ConceptMin, c.ConceptMax)
		}
		return c.ConceptMin, c.ConceptMax, nil
	}
	k, err := strconv.Atoi(c.Concepts)
	if err != nil || k < 1 || k > 255 {
		return 0, 0, fmt.Errorf("concepts: want a number in 1..255 or \"auto\", have %q", c.Concepts)
	}
	return k, k, nil
}

// runs reports whether stage is part of a run that stops after c.Until.
func (c Config) runs(stage string) bool {
	if stage == StageEncoder {
		if e, err := parseEncoder(c.Encoder); err != nil || !e.learned {
			return false
		}
	}
	return c.Until == "" || stageIndex(stage) <= stageIndex(c.Until)
}

// ReadConfig reads a JSON config file whose keys are the flag names. Unknown
// keys are an error, so a misspelt key is not silently ignored.
func ReadConfig(path string) (Config, error) {
	var c Config
	data, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	if err := decodeConfig(data, &c); err != nil {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// decodeConfig decodes JSON data over c, rejecting unknown keys. It accepts
// both a bare config object and a run.json (whose config is under "config").
func decodeConfig(data []byte, c *Config) error {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(data, &probe); err != nil {
		return err
	}
	if raw, ok := probe["config"]; ok && probe["format"] != nil {
		data = raw
		probe = nil
		if err := json.Unmarshal(data, &probe); err != nil {
			return err
		}
	}
	// "concepts" is a number or "auto"; accept the number unquoted.
	if raw, ok := probe["concepts"]; ok && len(raw) > 0 && raw[0] != '"' {
		var k json.Number
		if err := json.Unmarshal(raw, &k); err != nil {
			return fmt.Errorf("concepts: %w", err)
		}
		probe["concepts"], _ = json.Marshal(k.String())
		data, _ = json.Marshal(probe)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(c)
}
