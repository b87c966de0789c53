package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/segdiscover/segdiscover/pipeline"
)

// statusOptions are the flags of `segdiscover status`.
type statusOptions struct {
	ShardCount int
}

func (o *statusOptions) AddFlags(f *pflag.FlagSet) {
	f.IntVar(&o.ShardCount, "shard-count", 0, "the number of shards N of the run to report on (needed only when OUT_DIR holds records of several)")
}

func newStatusCommand(gopts *globalOptions) *cobra.Command {
	var opts statusOptions
	cmd := &cobra.Command{
		Use:   "status OUT_DIR",
		Short: "Say what is done in OUT_DIR, per stage and, for a sharded run, per shard",
		Long: `status says what is done in OUT_DIR without computing anything or reading an
image: for a sharded run, per shard the images its images phase recorded and
its current masks, and for the global stages whether their models are the
current ones for every image (keys recomputed from the shards' records); for a
single-process run, what its run.json says.

Exit codes: 0 complete, 4 not complete (what is missing is printed), 1 the
folder cannot be read, 2 usage error.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runStatus(cmd.Context(), gopts, opts, args) },
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

func runStatus(_ context.Context, gopts *globalOptions, opts statusOptions, args []string) error {
	rep, err := pipeline.Status(args[0], opts.ShardCount)
	if err != nil {
		return err
	}
	if !gopts.Quiet {
		rep.Write(gopts.stdout)
	}
	if !rep.Complete {
		return fmt.Errorf("%w: %s", pipeline.ErrIncomplete, strings.Join(rep.Missing, "; "))
	}
	return nil
}
