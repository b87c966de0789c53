package main

import (
	"context"

	"github.com/segdiscover/segdiscover/pipeline"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// clusterOptions are the flags of `segdiscover cluster`; the other settings
// come from OUT_DIR/run.json.
type clusterOptions struct {
	Config pipeline.Config
	flags  *pflag.FlagSet // the command's, to tell which flags were given
}

func (o *clusterOptions) AddFlags(f *pflag.FlagSet) { bindCluster(f, &o.Config) }

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
			return runCluster(cmd.Context(), gopts, opts, args)
		},
	}
	opts.AddFlags(cmd.Flags())
	opts.flags = cmd.Flags()
	return cmd
}

func runCluster(ctx context.Context, gopts *globalOptions, opts clusterOptions, args []string) error {
	in, cfg, err := continueRun(opts.flags, args[0], bindCluster)
	if err != nil {
		return err
	}
	cfg.Until = pipeline.StageCluster
	return runPipeline(ctx, gopts, in, args[0], cfg)
}
