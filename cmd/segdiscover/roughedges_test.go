package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Bad values are refused with a message naming the flag (or config key,
// with its line) in the user's words, and a pointer to the command's help.
func TestBadValuesNamed(t *testing.T) {
	in, dir := t.TempDir(), t.TempDir()
	writeImages(t, in, 2)
	out := filepath.Join(dir, "out")
	cfg := func(body string) string {
		p := filepath.Join(dir, strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' {
				return r
			}
			return -1
		}, body)+".json")
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	tests := []struct {
		name string
		args []string
		want []string // in standard error
		not  []string
	}{
		{"segments-zero", []string{"run", in, "-o", out, "--segments", "0"}, []string{"--segments", "above 0", "segdiscover run --help"}, nil},
		{"segments-negative", []string{"run", in, "-o", out, "--segments", "-5"}, []string{"--segments", "negative"}, nil},
		{"epochs-negative", []string{"run", in, "-o", out, "--epochs", "-1"}, []string{"--epochs", "negative"}, nil},
		{"not-a-number", []string{"run", in, "-o", out, "--segments", "abc"}, []string{`--segments: "abc" is not a whole number`}, []string{"strconv", "ParseInt"}},
		{"concepts-bad", []string{"run", in, "-o", out, "--concepts", "many"}, []string{"--concepts"}, nil},
		{"float-flag", []string{"run", in, "-o", out, "--lr", "fast"}, []string{`--lr: "fast" is not a number`}, nil},
		{"config-type", []string{"run", in, "-o", out, "--config", cfg("{\n \"seed\": 2,\n \"segments\": \"many\"\n}")},
			[]string{"line 3", "segments", "whole number"}, []string{"Go struct field", "Config."}},
		{"config-syntax", []string{"run", in, "-o", out, "--config", cfg("{\n \"seed\": 2,\n \"segments\": 4,,\n}")},
			[]string{"line 3", "not valid JSON"}, nil},
		{"config-unknown", []string{"run", in, "-o", out, "--config", cfg("{\"seed\": 2,\n\"segmnts\": 4}")},
			[]string{"line 2", `unknown key "segmnts"`}, nil},
		{"config-negative", []string{"run", in, "-o", out, "--config", cfg(`{"segments": -3}`)}, []string{"--segments", "negative"}, nil},
		{"predict-workers", []string{"predict", "--model", dir, in, "-o", out, "--workers", "-2"}, []string{"--workers", "segdiscover predict --help"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), tc.args, &stdout, &stderr); code != exitUsage {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, exitUsage, stderr.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
			for _, w := range tc.not {
				if strings.Contains(stderr.String(), w) {
					t.Errorf("stderr has %q:\n%s", w, stderr.String())
				}
			}
		})
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a refused run created its output folder")
	}
}

// "concepts" in a config file may be a number.
func TestConfigConceptsNumber(t *testing.T) {
	in, dir := t.TempDir(), t.TempDir()
	writeImages(t, in, 3)
	p := filepath.Join(dir, "c.json")
	os.WriteFile(p, []byte(`{"concepts": 2, "segments": 20}`), 0o644)
	out := filepath.Join(dir, "out")
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"run", in, "-o", out, "--config", p, "--until", "cluster", "-q"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if k := readRunJSON(t, out).Config["concepts"]; k != "2" {
		t.Errorf("concepts %v", k)
	}
}

func TestVersionFlag(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"--version"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.HasPrefix(stdout.String(), "segdiscover ") || !strings.Contains(stdout.String(), "go1") {
		t.Errorf("--version printed %q", stdout.String())
	}
}

// An interrupted run says so in words, not "context canceled".
func TestInterruptedMessage(t *testing.T) {
	in, dir := t.TempDir(), t.TempDir()
	writeImages(t, in, 2)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"run", in, "-o", filepath.Join(dir, "out"), "-q"}, &stdout, &stderr)
	if code != exitInterrupted {
		t.Errorf("exit %d", code)
	}
	if strings.Contains(stderr.String(), "context canceled") || !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("stderr: %q", stderr.String())
	}
}

func TestReportAndExportCommands(t *testing.T) {
	in, dir := t.TempDir(), t.TempDir()
	writeImages(t, in, 4)
	out := filepath.Join(dir, "out")
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"run", in, "-o", out, "--until", "pseudolabels", "--concepts", "2", "--segments", "30"}, exitOK, "report"},
		{[]string{"report", out}, exitOK, "report.html"},
		{[]string{"export", out, "--format", "coco", "-o", filepath.Join(dir, "coco")}, exitOK, "exported 4 images"},
		{[]string{"export", out, "--format", "yolo", "-o", filepath.Join(dir, "x")}, exitUsage, "--format"},
		{[]string{"export", out, "--format", "png"}, exitUsage, "-o"},
	}
	for _, tc := range tests {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), tc.args, &stdout, &stderr)
		if code != tc.code || !strings.Contains(stdout.String()+stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, want %d; output lacks %q?\n%s%s", tc.args, code, tc.code, tc.want, stdout.String(), stderr.String())
		}
	}
	for _, p := range []string{"report.html", "concepts.json", "overlays", "model/legend.png"} {
		if _, err := os.Stat(filepath.Join(out, p)); err != nil {
			t.Error(err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "coco", "annotations.json")); err != nil {
		t.Error(err)
	}
}
