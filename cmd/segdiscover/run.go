package main

import (
	"context"
	"os"
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
	Shard      string // "I/N", or "env"
	ShardCount int
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
	f.StringVar(&o.Shard, "shard", "", "run only shard I/N of the per-image work (I from 0 to N-1; images assigned by a hash of their name), or env: the shard of a Slurm array task (SLURM_ARRAY_TASK_ID) or of a Kubernetes Indexed Job (JOB_COMPLETION_INDEX, with --shard-count); see README.md, \"Cluster runs\"")
	f.IntVar(&o.ShardCount, "shard-count", 0, "with --shard env (implied): the number of shards N, required for a Kubernetes Indexed Job (its completions), checked against a Slurm array's size")
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
	shard, err := resolveShard(opts.Shard, opts.ShardCount, os.LookupEnv)
	if err != nil {
		return err
	}
	if shard.Sharded() {
		return runShard(ctx, gopts, args[0], opts.Output, opts.Config, shard)
	}
	return runPipeline(ctx, gopts, args[0], opts.Output, opts.Config)
}

// resolveShard returns the shard --shard and --shard-count select: none,
// I/N as given, or the array task's from the environment (getenv).
func resolveShard(spec string, count int, getenv func(string) (string, bool)) (pipeline.Shard, error) {
	if spec == "" && count == 0 {
		return pipeline.Shard{}, nil
	}
	if spec == "" || spec == "env" {
		s, _, err := pipeline.ShardFromEnv(getenv, count)
		if err != nil {
			return s, usagef("--shard env: %v", err)
		}
		return s, nil
	}
	s, err := pipeline.ParseShard(spec)
	if err != nil {
		return s, usagef("--shard: %v", err)
	}
	if count != 0 && count != s.Count {
		return s, usagef("--shard %s and --shard-count %d disagree", spec, count)
	}
	return s, nil
}
