package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/segdiscover/segdiscover/pipeline"
)

// exportOptions are the flags of `segdiscover export`.
type exportOptions struct {
	Format      string
	Output      string
	ImagePrefix string
}

func (o *exportOptions) AddFlags(f *pflag.FlagSet) {
	f.StringVar(&o.Format, "format", "", "coco, cvat, labelstudio or png")
	f.StringVarP(&o.Output, "output", "o", "", "folder for the export (created if needed)")
	f.StringVar(&o.ImagePrefix, "image-prefix", "/data/local-files/?d=", "labelstudio: put before each image's path (relative to IN_DIR) in data.image")
}

func newExportCommand(gopts *globalOptions) *cobra.Command {
	var opts exportOptions
	cmd := &cobra.Command{
		Use:   "export OUT_DIR --format coco|cvat|labelstudio|png -o DIR",
		Short: "Export a run's concept masks for labelling tools: COCO, CVAT, Label Studio, PNG masks",
		Long: `export writes the concept masks of the run in OUT_DIR (the refined masks when
the network was trained, else the pseudo-labels), one region per (image,
concept), named as in OUT_DIR/concepts.json:

  coco         DIR/annotations.json: COCO, compressed RLE, area and bbox per
               region; category id = concept id + 1
  cvat         DIR/annotations.xml: CVAT for images 1.1, a <mask> per region
  labelstudio  DIR/tasks.json (pre-annotations, brush RLE) and
               DIR/labeling-config.xml (the matching labelling config)
  png          DIR/<id>-<name>/<rel>.png: one binary mask (0/255) per concept

README.md documents each mapping.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runExport(cmd.Context(), gopts, opts, args)
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

func runExport(ctx context.Context, gopts *globalOptions, opts exportOptions, args []string) error {
	if !slices.Contains(pipeline.ExportFormats, opts.Format) {
		return usagef("--format: want one of %s, have %q", strings.Join(pipeline.ExportFormats, ", "), opts.Format)
	}
	if err := requireOutput(opts.Output); err != nil {
		return err
	}
	sum, err := pipeline.Export(ctx, pipeline.ExportOptions{OutDir: args[0], Format: opts.Format, Dir: opts.Output,
		ImagePrefix: opts.ImagePrefix, Logger: gopts.logger()})
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if !gopts.Quiet {
		fmt.Fprintf(gopts.stdout, "exported %d images, %d regions (from %s) as %s to %s: %s\n",
			sum.Images, sum.Annotations, sum.Source, opts.Format, opts.Output, strings.Join(sum.Files, " "))
		if len(sum.Skipped) > 0 {
			fmt.Fprintf(gopts.stdout, "skipped %d inputs without a mask (first: %s)\n", len(sum.Skipped), sum.Skipped[0])
		}
	}
	return nil
}
