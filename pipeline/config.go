package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"strconv"
	"strings"

	"github.com/segdiscover/segdiscover/cluster"
	"github.com/segdiscover/segdiscover/features"
	"github.com/segdiscover/segdiscover/features/deepcluster"
	"github.com/segdiscover/segdiscover/features/vit"
	"github.com/segdiscover/segdiscover/pipeline/artifact"
	"github.com/segdiscover/segdiscover/segnet"
	"github.com/segdiscover/segdiscover/superpixel"
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
	StageReport       = "report"
)

// Stages lists the stages a run can perform, in order.
var Stages = []string{StageSuperpixels, StageEncoder, StageFeatures, StageCluster, StagePseudolabels, StageTrain, StageMasks, StageOverlays, StageReport}

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
// The defaults of the stages' own settings are the stage packages'
// constants (superpixel.DefaultSegments, features.DefaultHidden,
// cluster.DefaultK, segnet.DefaultEpochs, ...); Defaults fills them in, and
// the run-level ones (sample sizes, the auto-K range, the seed) are written
// there only.
// Its JSON keys are the command-line flag names, so a --config file and
// OUT_DIR/run.json use the same vocabulary as the flags. The zero value of a
// field means its documented default (see Defaults), so a config file may
// give only the keys it changes.
type Config struct {
	// Run control (not part of any cache key).
	Workers   int    `json:"workers,omitempty"`    // images at once in the per-image stages, threads in the global ones (workers.go); 0 = number of CPUs
	MaxPixels int    `json:"max-pixels,omitempty"` // refuse larger images; 0 = artifact.DefaultMaxPixels
	Until     string `json:"until,omitempty"`      // last stage to run; "" = all

	// Superpixels (SLIC).
	Segments    int     `json:"segments,omitempty"`    // requested superpixels per image; 0 = superpixel.DefaultSegments
	Compactness float64 `json:"compactness,omitempty"` // SLIC m; 0 = superpixel.DefaultCompactness
	Iterations  int     `json:"iterations,omitempty"`  // 0 = superpixel.DefaultIterations
	SLICO       bool    `json:"slico,omitempty"`       // adaptive compactness

	// Features.
	Encoder       string `json:"encoder,omitempty"`        // "handcrafted" (default), "swav", "deepcluster", "sae-sigmoid", "sae-relu", or "handcrafted+" one of them
	Blocks        string `json:"blocks,omitempty"`         // descriptor blocks, e.g. "lab_mean+lab_std+centroid_y"; "" = default
	PCA           int    `json:"pca,omitempty"`            // reduce standardised features to this many dimensions; 0 = none (DefaultViTPCA with vit), < 0 = none
	Hidden        int    `json:"hidden,omitempty"`         // learned encoder: hidden units (feature dimensions); 0 = features.DefaultHidden
	Denoise       bool   `json:"denoise,omitempty"`        // learned encoder: denoising (masking noise on the input)
	PatchSize     int    `json:"patch-size,omitempty"`     // learned encoder: patch side in pixels; 0 = features.DefaultPatchSize
	PatchSample   int    `json:"patch-sample,omitempty"`   // learned encoder: patches it trains on (uniform sample); 0 = 10000
	EncoderEpochs int    `json:"encoder-epochs,omitempty"` // learned encoder: training epochs; 0 = features.DefaultEpochs
	Weights       string `json:"weights,omitempty"`        // vit: the transformer checkpoint (.safetensors)
	ViTSize       int    `json:"vit-size,omitempty"`       // vit: short side of the network input in pixels; 0 = vit.DefaultSize
	ViTFeatures   string `json:"vit-features,omitempty"`   // vit: "tokens" (the last block's output, default) or "keys" (its attention keys)
	EncoderSteps  int    `json:"encoder-steps,omitempty"`  // swav: optimiser steps; 0 = segnet.DefaultSwAVSteps
	EncoderImages int    `json:"encoder-images,omitempty"` // swav, deepcluster: images the encoder trains on (a deterministic uniform sample, held in memory); 0 = DefaultEncoderImages
	Prototypes    int    `json:"prototypes,omitempty"`     // swav: prototypes, deepcluster: clusters (at most 255); 0 = 4 x concepts (concepts-max with auto), at least 32
	Rounds        int    `json:"rounds,omitempty"`         // deepcluster: clustering rounds; 0 = deepcluster.DefaultRounds
	// HandWeight: with handcrafted+<learned>, the total variance of the
	// standardised hand-crafted block relative to the learned block's; 0 = 1.
	HandWeight float64 `json:"hand-weight,omitempty"`

	// Deep autoencoders: Encoder may also be "stacked" or "vae" (alone or
	// after "handcrafted+").
	StackDepth int     `json:"stack-depth,omitempty"` // stacked encoder: autoencoder layers, 2 or 3; 0 = features.DefaultStackDepth
	Beta       float64 `json:"beta,omitempty"`        // vae encoder: weight of the KL term; 0 = features.DefaultBeta

	// Cluster (GMM).
	Concepts   ConceptCount `json:"concepts,omitzero"`      // K, or auto (BIC over ConceptMin..ConceptMax); zero = cluster.DefaultK
	ConceptMin int          `json:"concepts-min,omitempty"` // 0 = 2
	ConceptMax int          `json:"concepts-max,omitempty"` // 0 = 16
	Covariance string       `json:"covariance,omitempty"`   // "full" (default), "diag", "spherical", "tied"
	Balance    string       `json:"balance,omitempty"`      // "none" (default), "sinkhorn"
	Seed       uint64       `json:"seed,omitempty"`         // 0 = 1
	MaxSamples int          `json:"max-samples,omitempty"`  // fit the GMM on at most this many superpixels; 0 = 1000000
	NInit      int          `json:"n-init,omitempty"`       // EM restarts; 0 = 1
	Init       string       `json:"init,omitempty"`         // "kmeans" (default), "consensus" (most reproducible of 10 sample restarts), "entropy" (crispest of them) or "split" (binary splitting)
	// GMMData is what the mixture is fitted on: "sample" (the default,
	// spelt "" once Defaults ran so that run.json and the keys of earlier
	// runs stay as they were) fits on the MaxSamples sample; "all" then
	// refines that fit by EM over every superpixel, streaming the feature
	// files once per iteration (cluster.RefineContext).
	GMMData string `json:"gmm-data,omitempty"`

	// Pseudo-labels.
	MinConfidence float64 `json:"min-confidence,omitempty"` // posterior below which a pixel is unassigned; 0 = keep all

	// Overlays.
	OverlayBoundaries bool `json:"overlay-boundaries,omitempty"` // draw superpixel boundaries on the overlays

	// Segmentation network (segnet) training; zero values are segnet's
	// defaults, and stay zero in the train key.
	Epochs             int     `json:"epochs,omitempty"`               // 0 = segnet.DefaultEpochs, more on small sets (at least MinTrainSteps steps)
	Batch              int     `json:"batch,omitempty"`                // 0 = segnet.DefaultBatch
	LR                 float64 `json:"lr,omitempty"`                   // 0 = segnet.DefaultLR
	CropHeight         int     `json:"crop-height,omitempty"`          // 0 = segnet.DefaultCropHeight
	CropWidth          int     `json:"crop-width,omitempty"`           // 0 = segnet.DefaultCropWidth
	TrainMinConfidence float64 `json:"train-min-confidence,omitempty"` // ignore pseudo-label pixels less confident than this
	ConfWeight         bool    `json:"conf-weight,omitempty"`          // weight the loss by pseudo-label confidence

	// swav replaces the SwAV network and training settings (tests use a
	// tiny network); nil means segnet's defaults with EncoderSteps and
	// Prototypes. It enters the encoder key.
	swav *segnet.SwAVSettings
	// deepcluster likewise replaces the DeepCluster settings (Rounds and
	// the Prototypes rule are then ignored).
	deepcluster *deepcluster.Settings
	// Refined masks.
	Refine string `json:"refine,omitempty"` // "superpixels" (default: posteriors averaged per superpixel), "none" (per-pixel arg-max), "crf" (dense CRF on the posteriors) or "crf-superpixels" (its marginals averaged per superpixel)
	// TTA is the test-time augmentation of the masks: "none" (default),
	// "flip", "scales" or "flip,scales" (ParseTTA): the network's
	// posteriors averaged over those views before the refinement.
	TTA string `json:"tta,omitempty"`
}

// The values of Config.GMMData (--gmm-data).
const (
	GMMDataSample = "sample"
	GMMDataAll    = "all"
)

// maxConcepts is the most concepts a run can have: mask ids are 8-bit and
// 255 is unassigned.
const maxConcepts = 255

// ConceptCount is the number of concepts of a run (--concepts): a fixed K,
// or Auto, chosen by BIC over Config.ConceptMin..ConceptMax. The zero value
// means the default, cluster.DefaultK. The command line, a --config file and
// run.json spell it as a number ("8", or 8 in JSON) or "auto"; it is parsed
// in ParseConceptCount only.
type ConceptCount struct {
	K    int // 1..255, when not Auto
	Auto bool
}

// ParseConceptCount parses a number of concepts: "auto", or a whole number
// in 1..255; "" is the zero value (the default).
func ParseConceptCount(s string) (ConceptCount, error) {
	switch s {
	case "":
		return ConceptCount{}, nil
	case "auto":
		return ConceptCount{Auto: true}, nil
	}
	k, err := strconv.Atoi(s)
	if err != nil || k < 1 || k > maxConcepts {
		return ConceptCount{}, errConceptCount(s)
	}
	return ConceptCount{K: k}, nil
}

func errConceptCount(s string) error {
	return fmt.Errorf("want a number in 1..%d or \"auto\", have %q", maxConcepts, s)
}

// IsZero reports whether n is the zero value (the default).
func (n ConceptCount) IsZero() bool { return n == ConceptCount{} }

// String returns n as ParseConceptCount reads it.
func (n ConceptCount) String() string {
	switch {
	case n.Auto:
		return "auto"
	case n.K == 0:
		return ""
	}
	return strconv.Itoa(n.K)
}

// Set parses s into n (flag.Value).
func (n *ConceptCount) Set(s string) error {
	v, err := ParseConceptCount(s)
	if err != nil {
		return err
	}
	*n = v
	return nil
}

// Type is "string" for pflag: the help shows the default quoted, as for
// the string flag --concepts was.
func (n *ConceptCount) Type() string { return "string" }

// MarshalJSON writes n as a JSON string, "8" or "auto".
func (n ConceptCount) MarshalJSON() ([]byte, error) { return json.Marshal(n.String()) }

// UnmarshalJSON reads a JSON string ("8", "auto") or number (8).
func (n *ConceptCount) UnmarshalJSON(b []byte) error {
	var s string
	if len(b) > 0 && b[0] != '"' {
		var k json.Number
		if err := json.Unmarshal(b, &k); err != nil {
			return fmt.Errorf("concepts: %w", err)
		}
		s = k.String()
	} else if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("concepts: %w", err)
	}
	v, err := ParseConceptCount(s)
	if err != nil {
		return fmt.Errorf("concepts: %w", err)
	}
	*n = v
	return nil
}

// DefaultEncoderImages is how many images at most the SwAV and DeepCluster
// encoders train on (Config.EncoderImages). Their training set is held in
// memory, each image at its working size with its superpixel centres or
// label map: about 79 KB (swav) and 150 KB (deepcluster) per image of 160
// x 120, so at most some 0.8 and 1.5 GB. It is above the image count of
// every dataset of the development suite (715 and 2688), whose encoders
// are therefore those of all their images.
const DefaultEncoderImages = 10000

// Refinement of the network's masks (Config.Refine).
const (
	RefineSuperpixels = "superpixels"
	RefineCRF         = "crf"
	RefineCRFSuper    = "crf-superpixels"
	RefineNone        = "none"

	// DefaultRefine is the refinement when none is set. Averaging the
	// posteriors per superpixel beat the per-pixel arg-max on both
	// datasets of the suite at every seed tried (3 each; mIoU +0.05 to
	// +0.22 points, boundary F +0.05 to +0.07) at about the same cost;
	// the CRF variants cost 8-10x the stage and lose mIoU on SIFT Flow
	// (README, "Refined masks").
	DefaultRefine = RefineSuperpixels
)

// TTA settings of the masks (Config.TTA).
const (
	TTANone = "none"
	// DefaultTTA is the test-time augmentation when none is set: a single
	// view, the cheapest (README, "Refined masks", for the measurements).
	DefaultTTA = TTANone
)

// ParseTTA reads a TTA setting: "none", or a comma-separated set of
// "flip" (add each view's mirror image) and "scales" (the network input
// at segnet.DefaultTTAScales of its size: the ends and middle of
// training's zoom range).
func ParseTTA(s string) (segnet.TTA, error) {
	var t segnet.TTA
	if s == TTANone || s == "" {
		return t, nil
	}
	for _, f := range strings.Split(s, ",") {
		switch strings.TrimSpace(f) {
		case "flip":
			t.Flip = true
		case "scales":
			t.Scales = segnet.DefaultTTAScales
		default:
			return segnet.TTA{}, fmt.Errorf("tta: unknown %q in %q (want none, or flip, scales or flip,scales)", f, s)
		}
	}
	return t, nil
}

// Defaults returns c with every zero field replaced by its default value.
func (c Config) Defaults() Config {
	c.Workers = resolveWorkers(c.Workers)
	if c.MaxPixels <= 0 {
		c.MaxPixels = artifact.DefaultMaxPixels
	}
	if c.Segments <= 0 {
		c.Segments = superpixel.DefaultSegments
	}
	if c.Compactness <= 0 {
		c.Compactness = superpixel.DefaultCompactness
	}
	if c.Iterations <= 0 {
		c.Iterations = superpixel.DefaultIterations
	}
	if c.Encoder == "" {
		c.Encoder = "handcrafted"
	}
	if c.Hidden <= 0 {
		c.Hidden = features.DefaultHidden
	}
	if c.PatchSize <= 0 {
		c.PatchSize = features.DefaultPatchSize
	}
	if c.PatchSample <= 0 {
		c.PatchSample = 10000
	}
	if c.EncoderImages <= 0 {
		c.EncoderImages = DefaultEncoderImages
	}
	if c.EncoderEpochs <= 0 {
		c.EncoderEpochs = features.DefaultEpochs
	}
	if c.ViTSize <= 0 {
		c.ViTSize = vit.DefaultSize
	}
	if c.ViTFeatures == "" {
		c.ViTFeatures = "tokens"
	}
	if c.PCA == 0 && c.Encoder == "vit" {
		c.PCA = DefaultViTPCA
	}
	if c.EncoderSteps <= 0 {
		c.EncoderSteps = segnet.DefaultSwAVSteps
	}
	if c.Rounds <= 0 {
		c.Rounds = deepcluster.DefaultRounds
	}
	if c.HandWeight <= 0 {
		c.HandWeight = 1
	}
	if c.StackDepth <= 0 {
		c.StackDepth = features.DefaultStackDepth
	}
	if c.Beta == 0 {
		c.Beta = features.DefaultBeta
	}
	if c.Blocks == "" {
		c.Blocks = features.DefaultBlocks.String()
	}
	if c.Concepts.IsZero() {
		c.Concepts = ConceptCount{K: cluster.DefaultK}
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
	if c.GMMData == GMMDataSample {
		c.GMMData = ""
	}
	if c.Refine == "" {
		c.Refine = DefaultRefine
	}
	if c.TTA == "" {
		c.TTA = DefaultTTA
	}
	return c
}

// CheckValues reports the first numeric setting of c (before Defaults)
// with a value no setting takes: a negative one. (0 means the default.)
func (c Config) CheckValues() error {
	for _, v := range []struct {
		name string
		v    float64
	}{
		{"workers", float64(c.Workers)}, {"max-pixels", float64(c.MaxPixels)}, {"segments", float64(c.Segments)},
		{"compactness", c.Compactness}, {"iterations", float64(c.Iterations)}, {"pca", float64(c.PCA)},
		{"hidden", float64(c.Hidden)}, {"patch-size", float64(c.PatchSize)}, {"patch-sample", float64(c.PatchSample)},
		{"encoder-epochs", float64(c.EncoderEpochs)}, {"encoder-images", float64(c.EncoderImages)}, {"rounds", float64(c.Rounds)}, {"concepts-min", float64(c.ConceptMin)},
		{"concepts-max", float64(c.ConceptMax)}, {"max-samples", float64(c.MaxSamples)}, {"n-init", float64(c.NInit)},
		{"min-confidence", c.MinConfidence}, {"epochs", float64(c.Epochs)}, {"batch", float64(c.Batch)},
		{"lr", c.LR}, {"crop-height", float64(c.CropHeight)}, {"crop-width", float64(c.CropWidth)},
		{"train-min-confidence", c.TrainMinConfidence},
	} {
		if v.v < 0 {
			return fmt.Errorf("%s: must not be negative, have %g", v.name, v.v)
		}
	}
	return nil
}

// Validate reports the first invalid setting of c (after Defaults).
func (c Config) Validate() error {
	if c.Until != "" && stageIndex(c.Until) < 0 {
		return fmt.Errorf("until: unknown stage %q (want one of %s)", c.Until, strings.Join(Stages, ", "))
	}
	if c.Segments > artifact.MaxLabelID {
		return fmt.Errorf("segments: %d is above the %d ids a label file holds", c.Segments, artifact.MaxLabelID)
	}
	if e, err := parseEncoder(c.Encoder); err != nil {
		return fmt.Errorf("encoder: %w", err)
	} else if e.deep == features.KindVAE && c.Denoise {
		return fmt.Errorf("denoise: the vae encoder has no denoising variant; drop --denoise")
	}
	if c.StackDepth < 2 || c.StackDepth > 3 {
		return fmt.Errorf("stack-depth: %d layers, want 2 or 3", c.StackDepth)
	}
	if c.Beta < 0 || math.IsNaN(c.Beta) || math.IsInf(c.Beta, 0) {
		return fmt.Errorf("beta: %g, want a positive weight", c.Beta)
	}
	if e, _ := parseEncoder(c.Encoder); e.vit && c.Weights == "" {
		return fmt.Errorf("encoder vit: needs --weights FILE, a DINO or DINOv2 checkpoint (.safetensors; see README)")
	}
	if c.ViTFeatures != "tokens" && c.ViTFeatures != "keys" {
		return fmt.Errorf("vit-features: want tokens or keys, have %q", c.ViTFeatures)
	}
	if _, err := features.ParseBlock(c.Blocks); err != nil {
		return fmt.Errorf("blocks: %w", err)
	}
	if c.Prototypes < 0 || c.Prototypes > 4096 {
		return fmt.Errorf("prototypes: %d is not in 0..4096", c.Prototypes)
	}
	if e, _ := parseEncoder(c.Encoder); e.deepcluster && (c.Prototypes > 255 || c.Prototypes == 1) {
		return fmt.Errorf("prototypes: deepcluster trains on %d clusters, want 2..255 (the network's classes)", c.Prototypes)
	}
	if c.Rounds > 100 {
		return fmt.Errorf("rounds: %d, at most 100", c.Rounds)
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
	if c.GMMData != "" && c.GMMData != GMMDataSample && c.GMMData != GMMDataAll {
		return fmt.Errorf("gmm-data: want %s or %s, have %q", GMMDataSample, GMMDataAll, c.GMMData)
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
	if c.Refine != RefineSuperpixels && c.Refine != RefineCRF && c.Refine != RefineCRFSuper && c.Refine != RefineNone {
		return fmt.Errorf("refine: unknown %q (want %s, %s, %s or %s)", c.Refine, RefineNone, RefineSuperpixels, RefineCRF, RefineCRFSuper)
	}
	if _, err := ParseTTA(c.TTA); err != nil {
		return err
	}
	if c.MinConfidence < 0 || c.MinConfidence > 1 {
		return fmt.Errorf("min-confidence: %g is not in [0, 1]", c.MinConfidence)
	}
	return nil
}

// conceptRange returns the range of K to try: one value, or the BIC range
// for "auto".
func (c Config) conceptRange() (kmin, kmax int, err error) {
	if c.Concepts.Auto {
		if c.ConceptMin < 1 || c.ConceptMax < c.ConceptMin || c.ConceptMax > 255 {
			return 0, 0, fmt.Errorf("concepts-min/max: want 1 <= min <= max <= 255, have %d..%d", c.ConceptMin, c.ConceptMax)
		}
		return c.ConceptMin, c.ConceptMax, nil
	}
	if c.Concepts.K < 1 || c.Concepts.K > maxConcepts {
		return 0, 0, fmt.Errorf("concepts: %w", errConceptCount(c.Concepts.String()))
	}
	return c.Concepts.K, c.Concepts.K, nil
}

// runs reports whether stage is part of a run that stops after c.Until.
func (c Config) runs(stage string) bool {
	if stage == StageEncoder {
		if e, err := parseEncoder(c.Encoder); err != nil || !e.learned {
			return false
		}
	}
	if stage == StageOverlays || stage == StageReport {
		// For people, after whatever masks the run made.
		return c.runs(StagePseudolabels)
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
		return c, fmt.Errorf("config %s: %w", path, explainJSON(data, err))
	}
	return c, nil
}

// explainJSON says where in data a decoding error is, by line, and what is
// wrong in the words of the config file (its keys are the flag names).
func explainJSON(data []byte, err error) error {
	lineAt := func(off int64) int { return 1 + bytes.Count(data[:min(max(off, 0), int64(len(data)))], []byte("\n")) }
	keyLine := func(k string) string {
		if i := bytes.Index(data, []byte(`"`+k+`"`)); i >= 0 {
			return fmt.Sprintf("line %d: ", lineAt(int64(i)))
		}
		return ""
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("line %d: not valid JSON: %v", lineAt(syn.Offset), syn)
	case errors.As(err, &typ):
		want := "text (in quotes)"
		switch typ.Type.Kind() {
		case reflect.Int, reflect.Int64, reflect.Uint64:
			want = "a whole number"
		case reflect.Float64:
			want = "a number"
		case reflect.Bool:
			want = "true or false"
		}
		return fmt.Errorf("%s%s: want %s, have %s", keyLine(typ.Field), typ.Field, want, typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		k := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return fmt.Errorf("%sunknown key %q (the keys are the flag names: see segdiscover run --help)", keyLine(k), k)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("line %d: the JSON ends early", lineAt(int64(len(data))))
	}
	return err
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
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(c)
}
