package main

import (
	"context"
	"fmt"
	"time"

	"github.com/segdiscover/segdiscover/pipeline"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// evalSuperpixelsOptions are the flags of `segdiscover eval superpixels`.
type evalSuperpixelsOptions struct {
	Pred, GT string
	Tol      int
	JSON     string
	Workers  int
}

func (o *evalSuperpixelsOptions) AddFlags(f *pflag.FlagSet) {
	f.StringVar(&o.Pred, "pred", "", "folder of superpixel label maps, <id>.png (8- or 16-bit ids)")
	f.StringVar(&o.GT, "gt", "", "folder of human segmentations, <id>_<annotator>.png (BSDS500 style)")
	f.IntVar(&o.Tol, "tol", 2, "boundary recall tolerance in pixels (square window)")
	f.StringVar(&o.JSON, "json", "", "write the summary and per-image scores to this JSON file")
	f.IntVar(&o.Workers, "workers", 0, "images scored at once (default: the number of CPUs)")
}

func newEvalSuperpixelsCommand(gopts *globalOptions) *cobra.Command {
	var opts evalSuperpixelsOptions
	cmd := &cobra.Command{
		Use:   "superpixels --pred DIR --gt DIR",
		Short: "Score superpixels against human segmentations (boundary recall, UE, ASA)",
		Long: `eval superpixels scores superpixel label maps against BSDS500-style human
segmentations: boundary recall at a tolerance (square window), the
undersegmentation error of Neubert and Protzel, the achievable segmentation
accuracy and the segment count. Each metric is averaged over an image's
annotators, then over images; the figures equal those of peers/spmetrics.py.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runEvalSuperpixels(cmd.Context(), gopts, opts, args)
		},
	}
	opts.AddFlags(cmd.Flags())
	cmd.MarkFlagRequired("pred")
	cmd.MarkFlagRequired("gt")
	return cmd
}

func runEvalSuperpixels(ctx context.Context, gopts *globalOptions, opts evalSuperpixelsOptions, args []string) error {
	if opts.Pred == "" || opts.GT == "" {
		return usagef("eval superpixels needs --pred and --gt")
	}
	if opts.Tol < 0 || opts.Workers < 0 {
		return usagef("--tol and --workers must not be negative")
	}
	tol := opts.Tol
	if tol == 0 {
		tol = -1 // exact position; 0 would mean the default
	}
	start := time.Now()
	rep, err := pipeline.EvaluateSuperpixels(ctx, opts.Pred, opts.GT,
		pipeline.SuperpixelEvalOptions{Tolerance: tol, Workers: opts.Workers, Logger: gopts.logger()})
	if rep == nil {
		return fmt.Errorf("eval superpixels: %w", err)
	}
	if werr := writeJSONReport(opts.JSON, rep); werr != nil {
		return werr
	}
	if !gopts.Quiet {
		s := rep.Summary
		fmt.Fprintf(gopts.stdout, "images %d  boundary recall@%dpx %s  undersegmentation error %s  ASA %s  segments %.1f  %.2fs\n",
			s.Images, rep.Tolerance, fmtScore(s.BR), fmtScore(s.UE), fmtScore(s.ASA), s.Segments, time.Since(start).Seconds())
		if len(rep.Failures) > 0 {
			fmt.Fprintf(gopts.stdout, "left out: %d (first: %s: %s)\n", len(rep.Failures), rep.Failures[0].Path, rep.Failures[0].Error)
		}
	}
	if err != nil {
		return fmt.Errorf("eval superpixels: %w", err)
	}
	return nil
}
