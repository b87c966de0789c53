package main

import (
	"context"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/segdiscover/segdiscover/pipeline"
)

// fitOptions are the flags of `segdiscover fit`; the input folder and the
// settings come from the shards' records.
type fitOptions struct {
	ShardCount int
	Workers    int
}

func (o *fitOptions) AddFlags(f *pflag.FlagSet) {
	f.IntVar(&o.ShardCount, "shard-count", 0, "the number of shards N of the run to continue (needed only when OUT_DIR holds records of several)")
	f.IntVarP(&o.Workers, "workers", "w", 0, "threads of the global stages and images at once in the per-image work they do; results do not depend on it (default: the number of CPUs)")
}

func newFitCommand(gopts *globalOptions) *cobra.Command {
	var opts fitOptions
	cmd := &cobra.Command{
		Use:   "fit OUT_DIR",
		Short: "Run the global stages of a sharded run (encoder, concepts, pseudo-labels, network), once every shard is done",
		Long: `fit runs, once, the stages of a sharded run that need every image: the
learned encoder and the features it makes (with a learned --encoder), the
Gaussian mixture (the concepts), the pseudo-labels and the segmentation
network. It first checks that every shard of the run in OUT_DIR has finished
its images phase (` + "`segdiscover run IN_DIR -o OUT_DIR --shard I/N`" + `) and
that their records cover every image of IN_DIR; if not, it names the missing
shards and images, writes nothing and exits with 4. The input folder and the
settings are those the shards recorded (they must all agree). The results
are those of a single-process run with the same settings: same GMM sample,
same keys, same models.

Then run the shards again for their masks and overlays, and
` + "`segdiscover report OUT_DIR`" + ` for the report (README.md, "Cluster runs").

Exit codes: 0 done, 1 failure, 2 usage error, 3 some inputs failed, 4 some
shards are not done (nothing written), 130 interrupted.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runFit(cmd.Context(), gopts, opts, args) },
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

func runFit(ctx context.Context, gopts *globalOptions, opts fitOptions, args []string) error {
	mode := progressMode(gopts)
	sum, err := pipeline.Fit(ctx, pipeline.FitOptions{OutDir: args[0], Count: opts.ShardCount, Workers: opts.Workers,
		Logger: runLogger(gopts, mode), Progress: mode, ProgressOut: gopts.stderr})
	if sum != nil && !gopts.Quiet {
		sum.WriteSummary(gopts.stdout)
	}
	return err
}
