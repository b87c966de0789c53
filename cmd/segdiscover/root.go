package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/segdiscover/segdiscover/pipeline"
)

// Exit codes; documented in main.go's package comment and README.md.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitPartial     = 3
	exitIncomplete  = 4 // fit, status: shards or stages not done
	exitInterrupted = 130
)

// globalOptions are the flags shared by every command, and where output goes.
type globalOptions struct {
	Quiet     bool
	LogFormat string // "text" or "json"
	Verbose   bool

	stdout, stderr io.Writer
}

func (o *globalOptions) AddFlags(f *pflag.FlagSet) {
	f.BoolVarP(&o.Quiet, "quiet", "q", false, "print nothing but errors: no progress, no summary")
	f.StringVar(&o.LogFormat, "log-format", "text", "log line format: text or json")
	f.BoolVarP(&o.Verbose, "verbose", "v", false, "log debug details")
}

// logger returns the logger commands write to: standard error, in the
// chosen format, errors only when quiet.
func (o *globalOptions) logger() *slog.Logger {
	level := slog.LevelInfo
	switch {
	case o.Quiet:
		level = slog.LevelError
	case o.Verbose:
		level = slog.LevelDebug
	}
	hopts := &slog.HandlerOptions{Level: level}
	if o.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(o.stderr, hopts))
	}
	return slog.New(slog.NewTextHandler(o.stderr, hopts))
}

// usageError marks errors in how the command was called (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// exactArgs is cobra.ExactArgs whose error maps to the usage exit code.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}

func newRootCommand(stdout, stderr io.Writer) *cobra.Command {
	gopts := &globalOptions{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "segdiscover",
		Short: "Unsupervised semantic segmentation of a folder of images",
		Long: `segdiscover turns a folder of unlabelled images into semantic segmentation
masks with no labels at all: SLIC superpixels, a feature vector per superpixel,
a Gaussian mixture over every superpixel of the dataset (the "concepts"),
pseudo-label masks, and a small segmentation network trained on them.

Exit codes: 0 success, 1 failure, 2 usage error, 3 some inputs failed
(see OUT_DIR/errors.json), 4 a sharded run is not complete (fit, status),
130 interrupted.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if gopts.LogFormat != "text" && gopts.LogFormat != "json" {
				return usagef("--log-format must be text or json, not %q", gopts.LogFormat)
			}
			return checkFlagValues(cmd.Flags())
		},
	}
	root.Version = versionString()
	root.SetVersionTemplate("segdiscover {{.Version}}\n")
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{flagError(c, err)} })
	gopts.AddFlags(root.PersistentFlags())
	root.AddCommand(
		newVersionCommand(gopts),
		newEvalCommand(gopts),
		newRunCommand(gopts),
		newSuperpixelsCommand(gopts),
		newFeaturesCommand(gopts),
		newClusterCommand(gopts),
		newPseudolabelCommand(gopts),
		newTrainCommand(gopts),
		newPredictCommand(gopts),
		newAdaptCommand(gopts),
		newReportCommand(gopts),
		newExportCommand(gopts),
		newFitCommand(gopts),
		newStatusCommand(gopts),
	)
	return root
}

// run executes the command line args and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCommand(stdout, stderr)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	code := exitCode(ctx, err)
	switch {
	case err == nil:
	case code == exitInterrupted:
		// The summary said what was kept; "context canceled" says nothing.
		fmt.Fprintln(stderr, "segdiscover: interrupted; completed work is kept, run the same command again to resume")
	default:
		fmt.Fprintf(stderr, "segdiscover: %v\n", err)
		if code == exitUsage {
			path := "segdiscover"
			if cmd != nil {
				path = cmd.CommandPath()
			}
			fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", path)
		}
	}
	return code
}

// flagError rewrites pflag's parse errors in the user's words:
// `invalid argument "x" for "-k, --concepts" flag: strconv.ParseInt: ...`
// becomes `--concepts: "x" is not a whole number`.
func flagError(c *cobra.Command, err error) error {
	m := regexp.MustCompile(`^invalid argument "(.*)" for "(.*)" flag: `).FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	name := m[2]
	if i := strings.LastIndex(name, "--"); i >= 0 {
		name = name[i+2:]
	}
	want := "a valid value"
	if f := c.Flags().Lookup(name); f != nil {
		switch f.Value.Type() {
		case "int", "int64":
			want = "a whole number"
		case "uint64":
			want = "a whole number, 0 or more"
		case "float64":
			want = "a number"
		case "bool":
			want = "true or false"
		case "string":
			// Only a typed value (--concepts) refuses a string: its
			// error says what it wants.
			return fmt.Errorf("--%s: %s", name, strings.TrimPrefix(err.Error(), m[0]))
		}
	}
	return fmt.Errorf("--%s: %q is not %s", name, m[1], want)
}

func exitCode(ctx context.Context, err error) int {
	var partial *pipeline.PartialError
	var usage usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, context.Canceled) || ctx.Err() != nil:
		return exitInterrupted
	case errors.As(err, &usage):
		return exitUsage
	case errors.As(err, &partial):
		return exitPartial
	case errors.Is(err, pipeline.ErrIncomplete):
		return exitIncomplete
	default:
		// cobra reports unknown commands and flags without a typed error.
		if isCobraUsage(err) {
			return exitUsage
		}
		return exitFailure
	}
}

// isCobraUsage recognises the errors cobra returns, untyped, for an unknown
// command or a missing required flag.
func isCobraUsage(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "unknown command") || strings.HasPrefix(msg, "required flag")
}
