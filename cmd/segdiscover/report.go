package main

import (
	"context"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/segdiscover/segdiscover/pipeline"
)

// reportOptions are the flags of `segdiscover report`.
type reportOptions struct {
	flags  *pflag.FlagSet // the command's, to tell which flags were given
	Config pipeline.Config
}

func (o *reportOptions) AddFlags(f *pflag.FlagSet) { addControlFlags(f, &o.Config) }

func newReportCommand(gopts *globalOptions) *cobra.Command {
	var opts reportOptions
	cmd := &cobra.Command{
		Use:   "report OUT_DIR",
		Short: "Write the HTML report of a run: OUT_DIR/report.html (pictures in OUT_DIR/report/)",
		Long: `report writes OUT_DIR/report.html, one self-contained page (no network
needed; its pictures are files under OUT_DIR/report/) that shows, per concept,
its colour and name (from OUT_DIR/concepts.json: edit the names there and run
report again), its pixel share, image count and mean confidence, its most
confident superpixels and the images it dominates; and for the run, a sample
of overlays, the BIC curve when K was chosen automatically, the stages, the
configuration and the failed inputs. A run writes it as its last stage;
report rewrites it, continuing the run recorded in OUT_DIR/run.json (with its
--until): anything missing is computed.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReport(cmd.Context(), gopts, opts, args)
		},
	}
	opts.AddFlags(cmd.Flags())
	opts.flags = cmd.Flags()
	return cmd
}

func runReport(ctx context.Context, gopts *globalOptions, opts reportOptions, args []string) error {
	in, base, err := pipeline.ReadRunConfig(args[0])
	if err != nil {
		return err
	}
	if opts.Config, err = overlay(opts.flags, base, addControlFlags); err != nil {
		return usageError{err}
	}
	if u := opts.Config.Until; u != "" && u != pipeline.StageOverlays && u != pipeline.StageReport {
		// The report follows the masks the run made: keep its --until,
		// unless that stopped before the concepts.
		switch u {
		case pipeline.StageSuperpixels, pipeline.StageEncoder, pipeline.StageFeatures, pipeline.StageCluster:
			return usagef("the run in %s stopped after %s: it has no pseudo-labels to report on (run `segdiscover pseudolabel %s`)", args[0], u, args[0])
		}
	}
	return runPipeline(ctx, gopts, in, args[0], opts.Config)
}
