package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckLocalPath(t *testing.T) {
	for _, tc := range []struct {
		path string
		url  bool
	}{
		{"file:///x", true},
		{"s3://bucket/out", true},
		{"gs://b", true},
		{"azblob://c/p", true},
		{"mem://", true},
		{"out", false},
		{"/abs/out", false},
		{"./a://b", false},    // a path whose folder is named "a:"
		{"my dir://x", false}, // a space is no scheme character
		{"1x://y", false},     // a scheme starts with a letter
		{"://x", false},
	} {
		t.Run(tc.path, func(t *testing.T) {
			err := checkLocalPath("output folder", tc.path)
			if (err != nil) != tc.url {
				t.Fatalf("checkLocalPath(%q) = %v, want URL %v", tc.path, err, tc.url)
			}
			if err != nil && !strings.Contains(err.Error(), tc.path) {
				t.Errorf("error %q does not name %q", err, tc.path)
			}
		})
	}
}

// TestRunRefusesURL: `-o file:///x` used to create a folder "file:" in the
// working directory; now the run fails before writing anything.
func TestRunRefusesURL(t *testing.T) {
	wd := t.TempDir()
	t.Chdir(wd)
	for _, o := range []Options{
		{InDir: filepath.Join("..", "testdata", "images"), OutDir: "file:///x"},
		{InDir: "s3://bucket/images", OutDir: "out"},
	} {
		if _, err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "is a URL") {
			t.Fatalf("Run(in %q, out %q) = %v, want a URL error", o.InDir, o.OutDir, err)
		}
	}
	if ents, _ := os.ReadDir(wd); len(ents) != 0 {
		t.Fatalf("the refused runs wrote %d entries into the working directory (first %s)", len(ents), ents[0].Name())
	}
}
