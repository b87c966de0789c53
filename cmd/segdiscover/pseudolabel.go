package main

import (
	"context"

	"github.com/segdiscover/segdiscover/pipeline"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// pseudolabelOptions are the flags of `segdiscover pseudolabel`.
type pseudolabelOptions struct {
	Config pipeline.Config
	flags  *pflag.FlagSet // the command's, to tell which flags were given
}

func (o *pseudolabelOptions) AddFlags(f *pflag.FlagSet) { bindPseudolabel(f, &o.Config) }

func bindPseudolabel(f *pflag.FlagSet, c *pipeline.Config) {
	addControlFlags(f, c)
	addPseudolabelFlags(f, c)
}

func newPseudolabelCommand(gopts *globalOptions) *cobra.Command {
	var opts pseudolabelOptions
	cmd := &cobra.Command{
		Use:   "pseudolabel OUT_DIR",
		Short: "Write concept masks, confidence maps and overlays of a run: OUT_DIR/pseudolabels/, overlays/",
		Long: `pseudolabel maps the concepts of the run in OUT_DIR back to pixels:
OUT_DIR/pseudolabels/<rel>.png (8-bit paletted concept ids, 255 unassigned),
<rel>.conf.png (posterior x 255) and OUT_DIR/overlays/<rel>.jpg. Settings of
earlier stages come from OUT_DIR/run.json.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPseudolabel(cmd.Context(), gopts, opts, args)
		},
	}
	opts.AddFlags(cmd.Flags())
	opts.flags = cmd.Flags()
	return cmd
}

func runPseudolabel(ctx context.Context, gopts *globalOptions, opts pseudolabelOptions, args []string) error {
	in, cfg, err := continueRun(opts.flags, args[0], bindPseudolabel)
	if err != nil {
		return err
	}
	cfg.Until = pipeline.StagePseudolabels
	return runPipeline(ctx, gopts, in, args[0], cfg)
}
