package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/segdiscover/segdiscover/pipeline"
	"github.com/segdiscover/segdiscover/segnet"
)

// The stage commands run the same engine as `run`, stopping after their
// stage. Earlier stages come from OUT_DIR's cache when they are there, and
// are computed otherwise.

// The flags of each stage bind to the fields of one pipeline.Config, and
// their names are its JSON keys, so a --config file, OUT_DIR/run.json and
// the command line speak the same language. Defaults shown are those of
// pipeline.Config.Defaults.

func addControlFlags(f *pflag.FlagSet, c *pipeline.Config) {
	defaults := pipeline.Config{}.Defaults()
	f.IntVarP(&c.Workers, "workers", "w", 0, "images processed at once in the per-image stages, threads of the global ones (encoder, GMM, network training); results do not depend on it (default: the number of CPUs)")
	f.IntVar(&c.MaxPixels, "max-pixels", defaults.MaxPixels, "refuse images with more pixels than this, from their header; also the most pixels processed at once over all workers (bounds memory: about 28 bytes per pixel)")
}

func addSuperpixelFlags(f *pflag.FlagSet, c *pipeline.Config) {
	defaults := pipeline.Config{}.Defaults()
	f.IntVar(&c.Segments, "segments", defaults.Segments, "SLIC: superpixels requested per image")
	f.Float64Var(&c.Compactness, "compactness", defaults.Compactness, "SLIC: compactness m (higher: squarer superpixels)")
	f.IntVar(&c.Iterations, "iterations", defaults.Iterations, "SLIC: k-means iterations")
	f.BoolVar(&c.SLICO, "slico", false, "SLICO: adaptive compactness per superpixel")
}

func addFeatureFlags(f *pflag.FlagSet, c *pipeline.Config) {
	defaults := pipeline.Config{}.Defaults()
	f.StringVar(&c.Encoder, "encoder", defaults.Encoder, "feature encoder: handcrafted, swav (a CNN trained on the images by SwAV, averaged per superpixel), deepcluster (the segmentation CNN trained by DeepCluster rounds from the colour concepts, averaged per superpixel), sae-sigmoid (sparse autoencoder, KL penalty), sae-relu (L1 penalty), stacked (greedily trained stack of sparse autoencoders), vae (variational autoencoder), handcrafted+ one of the learned ones, or vit (a pretrained DINO / DINOv2 transformer: --weights)")
	f.IntVar(&c.Hidden, "hidden", defaults.Hidden, "learned encoder: hidden units (feature dimensions)")
	f.BoolVar(&c.Denoise, "denoise", false, "learned encoder: denoising autoencoder (masking noise on the input patches)")
	f.IntVar(&c.PatchSize, "patch-size", defaults.PatchSize, "learned encoder: side of the superpixel patches, in pixels")
	f.IntVar(&c.PatchSample, "patch-sample", defaults.PatchSample, "learned encoder: patches it trains on (a uniform sample over the dataset)")
	f.IntVar(&c.EncoderEpochs, "encoder-epochs", defaults.EncoderEpochs, "learned encoder: training epochs")
	f.StringVar(&c.Weights, "weights", "", "vit: the transformer checkpoint, a .safetensors file (Hugging Face ViTModel / Dinov2Model, timm or original DINO keys); config.json and preprocessor_config.json beside it are read when present")
	f.IntVar(&c.ViTSize, "vit-size", defaults.ViTSize, "vit: images are resized so that their short side is this many pixels (sides rounded to the patch size)")
	f.StringVar(&c.ViTFeatures, "vit-features", defaults.ViTFeatures, "vit: tokens (the last block's output tokens) or keys (its attention keys, STEGO's KK)")
	f.IntVar(&c.EncoderSteps, "encoder-steps", defaults.EncoderSteps, "swav: optimiser steps (32 superpixels, 2 global and 4 local views each)")
	f.IntVar(&c.EncoderImages, "encoder-images", defaults.EncoderImages, "swav, deepcluster: images the encoder trains on, held in memory (a deterministic uniform sample by name when there are more)")
	f.IntVar(&c.Prototypes, "prototypes", 0, "swav: prototypes; deepcluster: clusters of every round, at most 255 (0: 4 x concepts, at least 32)")
	f.IntVar(&c.Rounds, "rounds", defaults.Rounds, "deepcluster: rounds, each training the network for a few epochs on the clusters of the previous round's features (round 1: of the hand-crafted ones)")
	f.Float64Var(&c.HandWeight, "hand-weight", defaults.HandWeight, "handcrafted+swav, handcrafted+deepcluster: total variance of the standardised hand-crafted block relative to the learned block's")
	f.StringVar(&c.Blocks, "blocks", defaults.Blocks, "hand-crafted descriptor blocks, '+'-separated: lab_mean, lab_std, centroid_x, centroid_y, area, grad_stats, grad_hist, lbp")
}

func addClusterFlags(f *pflag.FlagSet, c *pipeline.Config) {
	defaults := pipeline.Config{}.Defaults()
	c.Concepts = defaults.Concepts
	f.VarP(&c.Concepts, "concepts", "k", "number of concepts K (1..255), or auto: chosen by BIC over --concepts-min..--concepts-max")
	f.IntVar(&c.ConceptMin, "concepts-min", defaults.ConceptMin, "smallest K tried by --concepts auto")
	f.IntVar(&c.ConceptMax, "concepts-max", defaults.ConceptMax, "largest K tried by --concepts auto")
	f.StringVar(&c.Covariance, "covariance", defaults.Covariance, "GMM covariance: full, diag, spherical or tied")
	f.StringVar(&c.Balance, "balance", defaults.Balance, "assignment: none, or sinkhorn (balanced concepts)")
	f.Uint64Var(&c.Seed, "seed", defaults.Seed, "random seed of the GMM fit, the encoder and the network training")
	f.IntVar(&c.MaxSamples, "max-samples", defaults.MaxSamples, "fit the GMM on a uniform sample of at most this many superpixels (all are assigned)")
	f.IntVar(&c.NInit, "n-init", defaults.NInit, "GMM restarts; the best log-likelihood is kept")
	f.StringVar(&c.GMMData, "gmm-data", pipeline.GMMDataSample, "what the GMM is fitted on: sample (the --max-samples sample) or all (the sample fit refined by EM over every superpixel: one read of every feature file per EM iteration, memory flat)")
	f.StringVar(&c.Init, "init", defaults.Init, "GMM start: kmeans (one k-means++ run per restart), consensus (the most reproducible of 10 restarts on a sample: nearly seed-independent, see README), entropy (the crispest of those 10) or split (binary splitting along principal axes: no random choice)")
	f.IntVar(&c.PCA, "pca", 0, "reduce the standardised features to this many dimensions before clustering (0: no PCA, 32 with --encoder vit; -1: no PCA)")
}

func addPseudolabelFlags(f *pflag.FlagSet, c *pipeline.Config) {
	f.Float64Var(&c.MinConfidence, "min-confidence", 0, "pixels whose concept posterior is below this are left unassigned (255)")
	f.BoolVar(&c.OverlayBoundaries, "overlay-boundaries", false, "draw the superpixel boundaries (thin, white) on the overlays")
}

func addTrainFlags(f *pflag.FlagSet, c *pipeline.Config) {
	defaults := pipeline.Config{}.Defaults()
	// 0 means segnet's default (the cache keys hold the 0): the help says
	// which.
	f.IntVar(&c.Epochs, "epochs", 0, fmt.Sprintf("segmentation network: training epochs (0: %d, or enough for %d steps on small sets)", segnet.DefaultEpochs, pipeline.MinTrainSteps))
	f.IntVar(&c.Batch, "batch", 0, fmt.Sprintf("segmentation network: images per training step (0: %d)", segnet.DefaultBatch))
	f.Float64Var(&c.LR, "lr", 0, fmt.Sprintf("segmentation network: peak AdamW learning rate, cosine-decayed (0: %g)", segnet.DefaultLR))
	f.IntVar(&c.CropHeight, "crop-height", 0, fmt.Sprintf("segmentation network: training crop height in pixels (0: %d)", segnet.DefaultCropHeight))
	f.IntVar(&c.CropWidth, "crop-width", 0, fmt.Sprintf("segmentation network: training crop width in pixels (0: %d)", segnet.DefaultCropWidth))
	f.Float64Var(&c.TrainMinConfidence, "train-min-confidence", 0, "segmentation network: ignore pseudo-label pixels whose confidence is below this")
	f.BoolVar(&c.ConfWeight, "conf-weight", false, "segmentation network: weight each pixel's loss by its pseudo-label confidence")
	f.StringVar(&c.Refine, "refine", defaults.Refine, "refined masks: superpixels (the network's posteriors averaged over each SLIC superpixel: edges on the image's boundaries, full resolution), none (its per-pixel arg-max, at a quarter of the resolution, resized), crf (a dense CRF, Krähenbühl and Koltun 2011, on its posteriors and the image's colours) or crf-superpixels (the CRF's marginals averaged per superpixel)")
	f.StringVar(&c.TTA, "tta", defaults.TTA, fmt.Sprintf("refined masks: test-time augmentation, the network's posteriors averaged before --refine over: none (one view), flip (the image and its mirror), scales (the network input at %v of its size: training's zoom range) or flip,scales (both: 6 views, about 7.6x the network's work)", segnet.DefaultTTAScales))
}

// overlay returns base with the flags set on the command line applied on
// top of it: the flags of f that were changed are replayed onto a fresh
// flag set bound (by bind) to a copy of base.
func overlay(f *pflag.FlagSet, base pipeline.Config, bind ...func(*pflag.FlagSet, *pipeline.Config)) (pipeline.Config, error) {
	fresh := pflag.NewFlagSet("overlay", pflag.ContinueOnError)
	var c pipeline.Config
	for _, b := range bind {
		b(fresh, &c) // defining a flag stores its default in c: overwrite after
	}
	c = base
	var err error
	f.Visit(func(fl *pflag.Flag) {
		if fresh.Lookup(fl.Name) == nil || err != nil {
			return
		}
		err = fresh.Set(fl.Name, fl.Value.String())
	})
	return c, err
}

// checkFlagValues rejects numeric flags given a value they cannot take:
// negative for any, 0 for the positive ones.
func checkFlagValues(f *pflag.FlagSet) error {
	// The numeric flags for which 0 is not a value (in a config file, 0 or
	// an absent key means the default; on the command line it is a
	// mistake).
	positiveFlags := []string{"segments", "compactness", "iterations", "hidden", "patch-size", "patch-sample",
		"encoder-epochs", "encoder-images", "concepts-min", "concepts-max", "max-samples", "n-init", "max-pixels"}
	var err error
	f.Visit(func(fl *pflag.Flag) {
		if err != nil {
			return
		}
		switch fl.Value.Type() {
		case "int", "int64", "float64":
		default:
			return
		}
		v, perr := strconv.ParseFloat(fl.Value.String(), 64)
		if perr != nil || fl.Name == "ignore" { // eval --ignore -1: none
			return
		}
		switch {
		case v < 0:
			err = usagef("--%s: must not be negative, have %s", fl.Name, fl.Value.String())
		case v == 0 && slices.Contains(positiveFlags, fl.Name):
			err = usagef("--%s: must be above 0 (leave it out for the default, %s)", fl.Name, fl.DefValue)
		}
	})
	return err
}

// settingError names the setting an error of pipeline.Config.Validate is
// about as the flag the user typed ("segments: ..." -> "--segments: ...").
func settingError(err error) error {
	msg := err.Error()
	if i := strings.Index(msg, ":"); i > 0 && !strings.ContainsAny(msg[:i], " \"") {
		return usagef("--%s", msg)
	}
	return usageError{err}
}

// runPipeline runs the pipeline engine and prints its summary.
func runPipeline(ctx context.Context, gopts *globalOptions, in, out string, cfg pipeline.Config) error {
	return runShard(ctx, gopts, in, out, cfg, pipeline.Shard{})
}

// runShard is runPipeline for one shard (unsharded: the zero Shard).
func runShard(ctx context.Context, gopts *globalOptions, in, out string, cfg pipeline.Config, shard pipeline.Shard) error {
	if err := cfg.CheckValues(); err != nil {
		return settingError(err)
	}
	if err := cfg.Defaults().Validate(); err != nil {
		return settingError(err)
	}
	mode := progressMode(gopts)
	o := pipeline.Options{InDir: in, OutDir: out, Config: cfg, Shard: shard, Logger: runLogger(gopts, mode), Progress: mode, ProgressOut: gopts.stderr}
	sum, err := pipeline.Run(ctx, o)
	if sum != nil && !gopts.Quiet {
		sum.WriteSummary(gopts.stdout)
	}
	return err
}

// runLogger is gopts.logger, except that under progress bars only errors
// are logged (unless --verbose): log lines would tear the bars, and the
// summary repeats what they would say.
func runLogger(gopts *globalOptions, mode pipeline.ProgressMode) *slog.Logger {
	if mode == pipeline.ProgressBars && !gopts.Verbose {
		g := *gopts
		g.Quiet = true
		return g.logger()
	}
	return gopts.logger()
}

// progressMode picks bars on a terminal, log lines elsewhere, nothing when
// quiet.
func progressMode(gopts *globalOptions) pipeline.ProgressMode {
	if gopts.Quiet {
		return pipeline.ProgressNone
	}
	if f, ok := gopts.stderr.(*os.File); ok && gopts.LogFormat == "text" && term.IsTerminal(int(f.Fd())) {
		return pipeline.ProgressBars
	}
	return pipeline.ProgressLog
}

func requireOutput(out string) error {
	if out == "" {
		return usagef("missing -o OUT_DIR")
	}
	return nil
}

// continueRun returns the input folder and configuration of the run in
// out, with the flags set on the command line applied on top.
func continueRun(f *pflag.FlagSet, out string, bind ...func(*pflag.FlagSet, *pipeline.Config)) (string, pipeline.Config, error) {
	in, base, err := pipeline.ReadRunConfig(out)
	if err != nil {
		return "", base, err
	}
	base.Until = ""
	cfg, err := overlay(f, base, bind...)
	if err != nil {
		return "", cfg, usageError{fmt.Errorf("flags: %w", err)}
	}
	return in, cfg, nil
}
