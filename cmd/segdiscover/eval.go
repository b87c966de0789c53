package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/segdiscover/segdiscover/pipeline"
	"github.com/segdiscover/segdiscover/pseudolabel"
)

// evalOptions are the flags of `segdiscover eval`.
type evalOptions struct {
	Pred, GT  string
	Ignore    int
	Classes   int
	ManyToOne bool
	JSON      string
	Workers   int
}

func (o *evalOptions) AddFlags(f *pflag.FlagSet) {
	f.StringVar(&o.Pred, "pred", "", "folder of predicted masks, <rel>.png (paletted or 8/16-bit gray ids; 255 = unassigned)")
	f.StringVar(&o.GT, "gt", "", "folder of ground-truth class maps, <rel>.png (class index per pixel)")
	f.IntVar(&o.Ignore, "ignore", pseudolabel.DefaultIgnore, "ground-truth value left out of the evaluation (-1: none)")
	f.IntVar(&o.Classes, "classes", 0, "number of ground-truth classes (default: the lines of classes.txt beside or in the --gt folder)")
	f.BoolVar(&o.ManyToOne, "many-to-one", false, "also report many-to-one scores when there are no more predicted ids than classes")
	f.StringVar(&o.JSON, "json", "", "write the full report (confusion matrix, per-class IoU, failures) to this JSON file")
	f.IntVar(&o.Workers, "workers", 0, "files read at once (default: the number of CPUs)")
}

func newEvalCommand(gopts *globalOptions) *cobra.Command {
	var opts evalOptions
	cmd := &cobra.Command{
		Use:   "eval --pred DIR --gt DIR",
		Short: "Score segmentation masks against ground truth (Hungarian mIoU, pixel accuracy)",
		Long: `eval scores predicted masks against ground-truth class maps with the
unsupervised segmentation protocol of PiCIE and STEGO: one confusion matrix over
the whole dataset (not per image), predicted ids matched to classes one-to-one
by the Hungarian algorithm maximising matched pixels, then IoU per class, mean
IoU over the classes present in the ground truth, and pixel accuracy; and the
boundary F-measure: precision and recall of the predicted id boundaries against
the ground-truth class boundaries within 2 pixels (void pixels left out). With more
predicted ids than classes it also reports the many-to-one score (each id to
its majority class). Predicted 255 means unassigned: never matched, always
wrong. The figures equal those of peers/eval_miou.py.

Files are paired by their path under each folder without extension. Ground
truth without a prediction, size mismatches and unreadable files are reported
(exit code 3) and left out; the rest is scored.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runEval(cmd.Context(), gopts, opts, args)
		},
	}
	opts.AddFlags(cmd.Flags())
	cmd.MarkFlagRequired("pred")
	cmd.MarkFlagRequired("gt")
	cmd.AddCommand(newEvalSuperpixelsCommand(gopts))
	return cmd
}

func runEval(ctx context.Context, gopts *globalOptions, opts evalOptions, args []string) error {
	if opts.Pred == "" || opts.GT == "" {
		return usagef("eval needs --pred and --gt")
	}
	if opts.Classes < 0 || opts.Workers < 0 {
		return usagef("--classes and --workers must not be negative")
	}
	o := pipeline.MaskEvalOptions{NumClasses: opts.Classes, Ignore: &opts.Ignore, Workers: opts.Workers, Logger: gopts.logger()}
	if opts.ManyToOne {
		t := true
		o.ManyToOne = &t
	}
	start := time.Now()
	rep, err := pipeline.EvaluateMasks(ctx, opts.Pred, opts.GT, o)
	if rep == nil {
		return fmt.Errorf("eval: %w", err)
	}
	if werr := writeJSONReport(opts.JSON, rep); werr != nil {
		return werr
	}
	if !gopts.Quiet {
		printMaskReport(gopts.stdout, rep, time.Since(start))
	}
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	return nil
}

func writeJSONReport(path string, v any) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	b = append(b, '\n')
	if err := pipeline.WriteFileAtomic(path, func(w io.Writer) error { _, err := w.Write(b); return err }); err != nil {
		return fmt.Errorf("report %s: %w", path, err)
	}
	return nil
}

func fmtScore(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.4f", v)
}

func printMaskReport(w io.Writer, rep *pipeline.MaskEvalReport, took time.Duration) {
	fmt.Fprintf(w, "images %d  predicted ids %d (%d used)  classes %d  valid pixels %d (%d unassigned)  %.2fs\n",
		rep.Images, rep.NumPredIDs, rep.NumClustersUsed, rep.NumClasses, rep.ValidPixels, rep.UnassignedPixels, took.Seconds())
	show := func(name string, m pseudolabel.Match) {
		fmt.Fprintf(w, "%-12s mIoU %s  pixel accuracy %s\n", name, fmtScore(m.MIoU), fmtScore(m.PixelAcc))
		var b strings.Builder
		for i, v := range m.IoU {
			n := fmt.Sprint(i)
			if i < len(rep.Classes) {
				n = rep.Classes[i]
			}
			fmt.Fprintf(&b, "  %s %s", n, fmtScore(v))
		}
		fmt.Fprintf(w, "%-12s IoU:%s\n", "", b.String())
	}
	show("hungarian", rep.Hungarian)
	if rep.ManyToOne != nil {
		show("many-to-one", *rep.ManyToOne)
	}
	bd := rep.Boundary
	fmt.Fprintf(w, "%-12s F %s  precision %s  recall %s  (tolerance %g px)\n", "boundary",
		fmtScore(bd.F), fmtScore(bd.Precision), fmtScore(bd.Recall), bd.Tolerance)
	if len(rep.Failures) > 0 {
		fmt.Fprintf(w, "left out: %d ground-truth files (first: %s: %s)\n", len(rep.Failures), rep.Failures[0].Path, rep.Failures[0].Error)
	}
	if len(rep.NoGroundTruth) > 0 {
		fmt.Fprintf(w, "not evaluated: %d predictions without ground truth (first: %s)\n", len(rep.NoGroundTruth), rep.NoGroundTruth[0])
	}
}
