package main

import (
	"context"

	"github.com/segdiscover/segdiscover/pipeline"
	"github.com/segdiscover/segdiscover/pipeline/artifact"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

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
