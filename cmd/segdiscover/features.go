package main

import (
	"context"

	"github.com/segdiscover/segdiscover/pipeline"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// featuresOptions are the flags of `segdiscover features`.
type featuresOptions struct {
	Output string
	Config pipeline.Config
	flags  *pflag.FlagSet // the command's, to tell which flags were given
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
			return runFeatures(cmd.Context(), gopts, opts, args)
		},
	}
	opts.AddFlags(cmd.Flags())
	opts.flags = cmd.Flags()
	return cmd
}

func runFeatures(ctx context.Context, gopts *globalOptions, opts featuresOptions, args []string) error {
	if err := requireOutput(opts.Output); err != nil {
		return err
	}
	if _, base, err := pipeline.ReadRunConfig(opts.Output); err == nil {
		cfg, err := overlay(opts.flags, base, bindFeatures)
		if err != nil {
			return usageError{err}
		}
		opts.Config = cfg
	}
	opts.Config.Until = pipeline.StageFeatures
	return runPipeline(ctx, gopts, args[0], opts.Output, opts.Config)
}
