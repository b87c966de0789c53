package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/segdiscover/segdiscover/pipeline"
	"github.com/segdiscover/segdiscover/pipeline/artifact"
)

func TestExitCodes(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want int
		msg  string // expected in standard error
	}{
		{"version", []string{"version"}, exitOK, ""},
		{"unknown-command", []string{"frobnicate"}, exitUsage, "unknown command"},
		{"unknown-flag", []string{"--frobnicate"}, exitUsage, "unknown flag"},
		{"extra-arg", []string{"version", "x"}, exitUsage, "accepts 0 arg"},
		{"bad-log-format", []string{"--log-format", "xml", "version"}, exitUsage, "--log-format"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			got := run(context.Background(), tc.args, &stdout, &stderr)
			if got != tc.want {
				t.Errorf("exit code %d, want %d; stderr:\n%s", got, tc.want, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.msg) {
				t.Errorf("stderr %q does not mention %q", stderr.String(), tc.msg)
			}
		})
	}
}

func TestExitCodeMapping(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	partial := &pipeline.PartialError{Failures: []*pipeline.FileError{{Path: "a.jpg", Stage: "decode", Err: artifact.ErrCorrupt}}, Total: 3}
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want int
	}{
		{"nil", context.Background(), nil, exitOK},
		{"failure", context.Background(), errors.New("disk full"), exitFailure},
		{"partial", context.Background(), fmt.Errorf("run: %w", partial), exitPartial},
		{"usage", context.Background(), usagef("bad"), exitUsage},
		{"interrupted", cancelled, fmt.Errorf("stage: %w", context.Canceled), exitInterrupted},
		{"interrupted-other-error", cancelled, errors.New("write failed"), exitInterrupted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := exitCode(tc.ctx, tc.err); got != tc.want {
				t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.want)
			}
		})
	}
}
