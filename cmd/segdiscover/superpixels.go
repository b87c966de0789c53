package main

import (
	"context"

	"github.com/segdiscover/segdiscover/pipeline"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

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
