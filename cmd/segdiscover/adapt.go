package main

import (
	"context"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/segdiscover/segdiscover/cluster"
	"github.com/segdiscover/segdiscover/pipeline"
	"github.com/segdiscover/segdiscover/pipeline/artifact"
)

// adaptOptions are the flags of `segdiscover adapt`.
type adaptOptions struct {
	Model       string
	Output      string
	Workers     int
	MaxPixels   int
	Keep        float64
	NoAgreement bool
	Relevance   float64
}

func (o *adaptOptions) AddFlags(f *pflag.FlagSet) {
	f.StringVar(&o.Model, "model", "", "OUT_DIR of a finished run with a trained network: its concepts are carried over (nothing is written there)")
	f.StringVarP(&o.Output, "output", "o", "", "output folder for the adapted run (created if needed; not the model folder)")
	f.IntVarP(&o.Workers, "workers", "w", 0, "images processed at once (default: the number of CPUs)")
	f.IntVar(&o.MaxPixels, "max-pixels", artifact.DefaultMaxPixels, "refuse images with more pixels than this, from their header; also the most pixels processed at once over all workers")
	f.Float64Var(&o.Keep, "keep", pipeline.DefaultAdaptKeep, "share of each concept's pseudo-labelled pixels, the most confident, that fine-tune the network (class-balanced, as CBST)")
	f.BoolVar(&o.NoAgreement, "no-agreement", false, "do not also require the model's network to agree with a pseudo-label")
	f.Float64Var(&o.Relevance, "relevance", cluster.DefaultRelevance, "MAP relevance factor: a concept moves to the new images with weight n/(n+relevance), n its superpixels there; negative: plain EM from the model")
}

func newAdaptCommand(gopts *globalOptions) *cobra.Command {
	var opts adaptOptions
	cmd := &cobra.Command{
		Use:   "adapt --model OUT_DIR IN_DIR -o OUT2",
		Short: "Carry a run's concepts to new images (another camera, season, site): same ids, names and colours",
		Long: `adapt takes the images of IN_DIR through the run in --model's stages with its
settings, re-estimates its concepts on them starting from its mixture (MAP EM:
concept k stays concept k), fine-tunes its network on their rectified
pseudo-labels, and writes masks, overlays and the report to OUT2, a run folder
like the model's, with the model's concept ids, names and colours. The summary
and OUT2/run.json ("adapt") hold a drift account: per concept, its pixel share
in the model's images and the new ones, how far it moved, concepts that
vanished, and whether the new images need a concept the model lacks. Reruns
recompute only what changed; nothing is written into the model's folder.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAdapt(cmd.Context(), gopts, opts, args)
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

func runAdapt(ctx context.Context, gopts *globalOptions, opts adaptOptions, args []string) error {
	if opts.Model == "" {
		return usagef("missing --model OUT_DIR (a finished run with a trained network)")
	}
	if err := requireOutput(opts.Output); err != nil {
		return err
	}
	if opts.Workers < 0 {
		return usagef("--workers must not be negative")
	}
	if !(opts.Keep > 0 && opts.Keep <= 1) {
		return usagef("--keep %g: want a share in (0, 1]", opts.Keep)
	}
	rel := opts.Relevance
	if rel == 0 {
		rel = -1 // 0 is the flag's "none"; the settings' zero means the default
	}
	mode := progressMode(gopts)
	sum, err := pipeline.Adapt(ctx, pipeline.AdaptOptions{ModelDir: opts.Model, InDir: args[0], OutDir: opts.Output,
		Workers: opts.Workers, MaxPixels: opts.MaxPixels,
		Settings: pipeline.AdaptSettings{Keep: opts.Keep, NoAgreement: opts.NoAgreement, Relevance: rel},
		Logger:   runLogger(gopts, mode), Progress: mode, ProgressOut: gopts.stderr})
	if sum != nil && !gopts.Quiet {
		sum.WriteSummary(gopts.stdout)
	}
	return err
}
