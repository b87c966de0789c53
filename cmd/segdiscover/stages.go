package main

import (
	"context"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/segdiscover/segdiscover/pipeline"
	"github.com/segdiscover/segdiscover/pipeline/artifact"
)

// The stage commands run the same engine as `run`, stopping after their
// stage. Earlier stages come from OUT_DIR's cache when they are there, and
// are computed otherwise.

// superpixelsOptions are the flags of `segdiscover superpixels`.
type superpixelsOptions struct {
	Output string
	Config pipeline.Config
}

func (o *superpixelsOptions) AddFlags(f *pflag.FlagSet) {
	f.StringVarP(&o.Output, "output", "o", "", "output folder (created if needed)")
	addControlFlags(f, &o.Config)
	addSuperpixelFlags(f, &o.Config)
}

func newSuperpixelsCommand(gopts *globalOptions) *cobra.Command {
	var opts superpixelsOptions
	cmd := &cobra.Command{
		Use:   "superpixels IN_DIR -o OUT_DIR",
		Short: "Compute SLIC superpixels: OUT_DIR/superpixels/<rel>.png (16-bit ids)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSuperpixels(cmd.Context(), gopts, opts, args)
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

func runSuperpixels(ctx context.Context, gopts *globalOptions, opts superpixelsOptions, args []string) error {
	if err := requireOutput(opts.Output); err != nil {
		return err
	}
	opts.Config.Until = pipeline.StageSuperpixels
	return runPipeline(ctx, gopts, args[0], opts.Output, opts.Config)
}

// featuresOptions are the flags of `segdiscover features`.
type featuresOptions struct {
	Output string
	Config pipeline.Config
}

func (o *featuresOptions) AddFlags(f *pflag.FlagSet) {
	f.StringVarP(&o.Output, "output", "o", "", "output folder (created if needed)")
	bindFeatures(f, &o.Config)
}

func bindFeatures(f *pflag.FlagSet, c *pipeline.Config) {
	addControlFlags(f, c)
	addSuperpixelFlags(f, c)
	addFeatureFlags(f, c)
}

func newFeaturesCommand(gopts *globalOptions) *cobra.Command {
	var opts featuresOptions
	cmd := &cobra.Command{
		Use:   "features IN_DIR -o OUT_DIR",
		Short: "Compute a feature vector per superpixel: OUT_DIR/features/<rel>.f32 (superpixels computed if absent)",
		Long: `features computes a feature vector per superpixel of every image of IN_DIR:
OUT_DIR/features/<rel>.f32, and with a learned encoder its weights in
OUT_DIR/model/encoder.safetensors. It reuses the superpixels in OUT_DIR: when
OUT_DIR holds an earlier run, its settings (run.json) are the starting point
and the flags given here apply on top; superpixels missing or made with other
settings are computed.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Output != "" {
				if _, base, err := pipeline.ReadRunConfig(opts.Output); err == nil {
					cfg, err := overlay(cmd.Flags(), base, bindFeatures)
					if err != nil {
						return usageError{err}
					}
					opts.Config = cfg
				}
			}
			return runFeatures(cmd.Context(), gopts, opts, args)
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

func runFeatures(ctx context.Context, gopts *globalOptions, opts featuresOptions, args []string) error {
	if err := requireOutput(opts.Output); err != nil {
		return err
	}
	opts.Config.Until = pipeline.StageFeatures
	return runPipeline(ctx, gopts, args[0], opts.Output, opts.Config)
}

// clusterOptions are the flags of `segdiscover cluster`; the other settings
// come from OUT_DIR/run.json.
type clusterOptions struct {
	Config pipeline.Config
}

func (o *clusterOptions) AddFlags(f *pflag.FlagSet) {
	addControlFlags(f, &o.Config)
	addClusterFlags(f, &o.Config)
}

func bindCluster(f *pflag.FlagSet, c *pipeline.Config) {
	addControlFlags(f, c)
	addClusterFlags(f, c)
}

func newClusterCommand(gopts *globalOptions) *cobra.Command {
	var opts clusterOptions
	cmd := &cobra.Command{
		Use:   "cluster OUT_DIR",
		Short: "Fit the concepts (a Gaussian mixture) over the features of a run: OUT_DIR/model/",
		Long: `cluster fits the feature normaliser and the Gaussian mixture over the
features of every image of the run in OUT_DIR, writing OUT_DIR/model/. The
input folder and the settings of earlier stages come from OUT_DIR/run.json;
flags given here override the cluster settings.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, cfg, err := continueRun(cmd.Flags(), args[0], bindCluster)
			if err != nil {
				return err
			}
			opts.Config = cfg
			return runCluster(cmd.Context(), gopts, opts, in, args)
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

func runCluster(ctx context.Context, gopts *globalOptions, opts clusterOptions, in string, args []string) error {
	opts.Config.Until = pipeline.StageCluster
	return runPipeline(ctx, gopts, in, args[0], opts.Config)
}

// pseudolabelOptions are the flags of `segdiscover pseudolabel`.
type pseudolabelOptions struct {
	Config pipeline.Config
}

func (o *pseudolabelOptions) AddFlags(f *pflag.FlagSet) {
	addControlFlags(f, &o.Config)
	addPseudolabelFlags(f, &o.Config)
}

func bindPseudolabel(f *pflag.FlagSet, c *pipeline.Config) {
	addControlFlags(f, c)
	addPseudolabelFlags(f, c)
}

func newPseudolabelCommand(gopts *globalOptions) *cobra.Command {
	var opts pseudolabelOptions
	cmd := &cobra.Command{
		Use:   "pseudolabel OUT_DIR",
		Short: "Write concept masks, confidence maps and overlays of a run: OUT_DIR/pseudolabels/, overlays/",
		Long: `pseudolabel maps the concepts of the run in OUT_DIR back to pixels:
OUT_DIR/pseudolabels/<rel>.png (8-bit paletted concept ids, 255 unassigned),
<rel>.conf.png (posterior x 255) and OUT_DIR/overlays/<rel>.jpg. Settings of
earlier stages come from OUT_DIR/run.json.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, cfg, err := continueRun(cmd.Flags(), args[0], bindPseudolabel)
			if err != nil {
				return err
			}
			opts.Config = cfg
			return runPseudolabel(cmd.Context(), gopts, opts, in, args)
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

func runPseudolabel(ctx context.Context, gopts *globalOptions, opts pseudolabelOptions, in string, args []string) error {
	opts.Config.Until = pipeline.StagePseudolabels
	return runPipeline(ctx, gopts, in, args[0], opts.Config)
}

// trainOptions are the flags of `segdiscover train`.
type trainOptions struct {
	Config pipeline.Config
}

func (o *trainOptions) AddFlags(f *pflag.FlagSet) { bindTrain(f, &o.Config) }

func bindTrain(f *pflag.FlagSet, c *pipeline.Config) {
	addControlFlags(f, c)
	addTrainFlags(f, c)
}

func newTrainCommand(gopts *globalOptions) *cobra.Command {
	var opts trainOptions
	cmd := &cobra.Command{
		Use:   "train OUT_DIR",
		Short: "Train the segmentation network on a run's pseudo-labels and write its refined masks: OUT_DIR/model/segnet.safetensors, OUT_DIR/masks/",
		Long: `train trains the segmentation network on the pseudo-labels of the run in
OUT_DIR (checkpointing every epoch: a stopped training resumes), saves it as
OUT_DIR/model/segnet.safetensors (loadable with safetensors.torch.load_file;
the architecture is in its metadata), and predicts the refined masks of the
run's images, OUT_DIR/masks/<rel>.png and <rel>.conf.png. Settings of earlier
stages come from OUT_DIR/run.json.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, cfg, err := continueRun(cmd.Flags(), args[0], bindTrain)
			if err != nil {
				return err
			}
			opts.Config = cfg
			return runTrain(cmd.Context(), gopts, opts, in, args)
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

func runTrain(ctx context.Context, gopts *globalOptions, opts trainOptions, in string, args []string) error {
	opts.Config.Until = pipeline.StageMasks
	return runPipeline(ctx, gopts, in, args[0], opts.Config)
}

// predictOptions are the flags of `segdiscover predict`.
type predictOptions struct {
	Model      string
	Output     string
	Workers    int
	MaxPixels  int
	NoOverlays bool
}

func (o *predictOptions) AddFlags(f *pflag.FlagSet) {
	f.StringVar(&o.Model, "model", "", "OUT_DIR of a run whose network was trained (it holds model/segnet.safetensors)")
	f.StringVarP(&o.Output, "output", "o", "", "output folder for masks/ and overlays/ (created if needed)")
	f.IntVarP(&o.Workers, "workers", "w", 0, "images processed at once (default: the number of CPUs)")
	f.IntVar(&o.MaxPixels, "max-pixels", artifact.DefaultMaxPixels, "refuse images with more pixels than this, from their header; also the most pixels processed at once over all workers (bounds memory: about 28 bytes per pixel)")
	f.BoolVar(&o.NoOverlays, "no-overlays", false, "do not write overlays/<rel>.jpg")
}

func newPredictCommand(gopts *globalOptions) *cobra.Command {
	var opts predictOptions
	cmd := &cobra.Command{
		Use:   "predict --model OUT_DIR IN_DIR -o OUT2",
		Short: "Apply a trained run's concepts to new images: OUT2/masks/<rel>.png, OUT2/overlays/",
		Long: `predict segments the images of IN_DIR with the network trained by the run in
--model, writing OUT2/masks/<rel>.png (8-bit paletted concept ids, the same
concepts as the run), <rel>.conf.png and OUT2/overlays/<rel>.jpg. Reruns
recompute only new or changed images.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPredict(cmd.Context(), gopts, opts, args)
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

func runPredict(ctx context.Context, gopts *globalOptions, opts predictOptions, args []string) error {
	if opts.Model == "" {
		return usagef("missing --model OUT_DIR (a run with a trained network)")
	}
	if err := requireOutput(opts.Output); err != nil {
		return err
	}
	if opts.Workers < 0 {
		return usagef("--workers must not be negative")
	}
	mode := progressMode(gopts)
	sum, err := pipeline.Predict(ctx, pipeline.PredictOptions{ModelDir: opts.Model, InDir: args[0], OutDir: opts.Output,
		Workers: opts.Workers, MaxPixels: opts.MaxPixels, Overlays: !opts.NoOverlays,
		Logger: runLogger(gopts, mode), Progress: mode, ProgressOut: gopts.stderr})
	if sum != nil && !gopts.Quiet {
		sum.WriteSummary(gopts.stdout)
	}
	return err
}
