package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/segdiscover/segdiscover/pipeline"
)

func TestShardFitStatusExitCodes(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	writeImages(t, in, 6)
	fast := []string{"--segments", "20", "--concepts", "3", "--epochs", "1", "--crop-height", "32", "--crop-width", "32", "--workers", "2"}
	var stdout, stderr bytes.Buffer
	call := func(args ...string) int {
		stdout.Reset()
		stderr.Reset()
		return run(context.Background(), args, &stdout, &stderr)
	}
	if code := call(append([]string{"run", in, "-o", out, "--shard", "0/2"}, fast...)...); code != exitOK {
		t.Fatalf("run --shard 0/2: exit %d; stderr:\n%s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "segdiscover fit "+out) {
		t.Errorf("shard summary does not say fit comes next:\n%s", stdout.String())
	}
	if code := call("fit", out); code != exitIncomplete || !strings.Contains(stderr.String(), "shards 1 of 2") {
		t.Errorf("fit with shard 1 missing: exit %d, want %d naming shard 1; stderr:\n%s", code, exitIncomplete, stderr.String())
	}
	if code := call("status", out); code != exitIncomplete || !strings.Contains(stdout.String(), "no record") {
		t.Errorf("status: exit %d, want %d; stdout:\n%s", code, exitIncomplete, stdout.String())
	}
	// Shard 1 from a Slurm array task's environment (ids 1..2).
	t.Setenv("SLURM_ARRAY_TASK_ID", "2")
	t.Setenv("SLURM_ARRAY_TASK_MIN", "1")
	t.Setenv("SLURM_ARRAY_TASK_MAX", "2")
	t.Setenv("SLURM_ARRAY_TASK_COUNT", "2")
	if code := call(append([]string{"run", in, "-o", out, "--shard", "env", "-q"}, fast...)...); code != exitOK {
		t.Fatalf("run --shard env: exit %d; stderr:\n%s", code, stderr.String())
	}
	if code := call("fit", out, "-q"); code != exitOK {
		t.Fatalf("fit: exit %d; stderr:\n%s", code, stderr.String())
	}
	for _, s := range []string{"0/2", "1/2"} {
		if code := call(append([]string{"run", in, "-o", out, "--shard", s, "-q"}, fast...)...); code != exitOK {
			t.Fatalf("masks phase %s: exit %d; stderr:\n%s", s, code, stderr.String())
		}
	}
	if code := call("status", out); code != exitOK || !strings.Contains(stdout.String(), "complete") {
		t.Errorf("status after every phase: exit %d; stdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	if code := call("report", out, "-q"); code != exitOK {
		t.Errorf("report: exit %d; stderr:\n%s", code, stderr.String())
	}
}

func TestResolveShard(t *testing.T) {
	env := map[string]string{"JOB_COMPLETION_INDEX": "2"}
	getenv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	for _, c := range []struct {
		spec  string
		count int
		want  pipeline.Shard
		usage bool
	}{
		{"", 0, pipeline.Shard{}, false},
		{"1/3", 0, pipeline.Shard{Index: 1, Count: 3}, false},
		{"1/3", 3, pipeline.Shard{Index: 1, Count: 3}, false},
		{"1/3", 4, pipeline.Shard{}, true},
		{"", 4, pipeline.Shard{Index: 2, Count: 4}, false}, // --shard-count alone: from the environment
		{"env", 3, pipeline.Shard{Index: 2, Count: 3}, false},
		{"env", 0, pipeline.Shard{}, true},
		{"env", 2, pipeline.Shard{}, true}, // index 2 of 2
		{"3", 0, pipeline.Shard{}, true},
	} {
		got, err := resolveShard(c.spec, c.count, getenv)
		var u usageError
		if c.usage {
			if !errors.As(err, &u) {
				t.Errorf("resolveShard(%q, %d) = %v, %v; want a usage error", c.spec, c.count, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("resolveShard(%q, %d) = %v, %v; want %v", c.spec, c.count, got, err, c.want)
		}
	}
}
