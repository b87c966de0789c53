package main

import (
	"context"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/segdiscover/segdiscover/pipeline"
)

// runOptions are the flags of `segdiscover run`.
type runOptions struct {
	Output     string
	ConfigFile string
	Config     pipeline.Config
	flags      *pflag.FlagSet // the command's, to tell which flags were given
}

// bindRunFlags binds every stage flag and --until.
func bindRunFlags(f *pflag.FlagSet, c *pipeline.Config) {
	addControlFlags(f, c)
	addSuperpixelFlags(f, c)
	addFeatureFlags(f, c)
	addClusterFlags(f, c)
	addPseudolabelFlags(f, c)
	addTrainFlags(f, c)
	f.StringVar(&c.Until, "until", "", "stop after this stage: "+strings.Join(pipeline.Stages, ", "))
}

func (o *runOptions) AddFlags(f *pflag.FlagSet) {
	f.StringVarP(&o.Output, "output", "o", "", "output folder (created if needed)")
	f.StringVar(&o.ConfigFile, "config", "", "JSON file of settings, keyed by flag name (e.g. {\"concepts\": \"8\", \"segments\": 400}); flags given on the command line win")
	bindRunFlags(f, &o.Config)
}

func newRunCommand(gopts *globalOptions) *cobra.Command {
	var opts runOptions
	cmd := &cobra.Command{
		Use:   "run IN_DIR -o OUT_DIR",
		Short: "Run every stage over a folder: superpixels, features, concepts, pseudo-labels, network, masks, overlays",
		Long: `run takes every image under IN_DIR through the whole pipeline: SLIC
superpixels, a feature vector per superpixel, a Gaussian mixture over all
superpixels of the dataset (the concepts), and pseudo-label masks with
confidence maps, a segmentation network trained on them, its refined masks,
and overlays for people. Outputs go to OUT_DIR (see README.md for the
layout), with a cache that makes a rerun recompute only what changed: a
changed parameter recomputes its stage and the stages after it, new images go
through the per-image stages and the mixture is refitted. A run stopped by
Ctrl-C, SIGTERM or even SIGKILL resumes where it stopped when run again.

Unreadable images are listed, with the reason, in the summary and in
OUT_DIR/errors.json; the exit code is then 3. OUT_DIR/run.json records the
effective configuration.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRun(cmd.Context(), gopts, opts, args)
		},
	}
	opts.AddFlags(cmd.Flags())
	opts.flags = cmd.Flags()
	return cmd
}

func runRun(ctx context.Context, gopts *globalOptions, opts runOptions, args []string) error {
	if opts.ConfigFile != "" {
		base, err := pipeline.ReadConfig(opts.ConfigFile)
		if err != nil {
			return usageError{err}
		}
		if opts.Config, err = overlay(opts.flags, base, bindRunFlags); err != nil {
			return usageError{err}
		}
	}
	if err := requireOutput(opts.Output); err != nil {
		return err
	}
	return runPipeline(ctx, gopts, args[0], opts.Output, opts.Config)
}
