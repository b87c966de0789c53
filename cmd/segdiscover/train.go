package main

import (
	"context"

	"github.com/segdiscover/segdiscover/pipeline"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// trainOptions are the flags of `segdiscover train`.
type trainOptions struct {
	Config pipeline.Config
	flags  *pflag.FlagSet // the command's, to tell which flags were given
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
			return runTrain(cmd.Context(), gopts, opts, args)
		},
	}
	opts.AddFlags(cmd.Flags())
	opts.flags = cmd.Flags()
	return cmd
}

func runTrain(ctx context.Context, gopts *globalOptions, opts trainOptions, args []string) error {
	in, cfg, err := continueRun(opts.flags, args[0], bindTrain)
	if err != nil {
		return err
	}
	cfg.Until = pipeline.StageMasks
	return runPipeline(ctx, gopts, in, args[0], cfg)
}
