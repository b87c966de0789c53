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
// working directory; now an output or input URL of a scheme we do not
// take, one without a bucket, or of a folder that is not there, fails the
// run before anything is written.
func TestRunRefusesURL(t *testing.T) {
	images, err := filepath.Abs(filepath.Join("..", "testdata", "images"))
	if err != nil {
		t.Fatal(err)
	}
	wd := t.TempDir()
	t.Chdir(wd)
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{InDir: images, OutDir: "foo://x/out"}, "unsupported URL scheme"},
		{Options{InDir: images, OutDir: "s3:///out"}, "no bucket name"},
		{Options{InDir: "foo://bucket/images", OutDir: "out"}, "unsupported URL scheme"},
		{Options{InDir: "file:///no/such/folder", OutDir: "out"}, "no such file"},
	} {
		_, err := Run(context.Background(), tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("Run(in %q, out %q) = %v, want an error with %q", tc.o.InDir, tc.o.OutDir, err, tc.want)
		}
		for _, u := range []string{tc.o.InDir, tc.o.OutDir} {
			if strings.Contains(u, "://") && !strings.Contains(err.Error(), u) {
				t.Errorf("error %q does not name %q", err, u)
			}
		}
	}
	if ents, _ := os.ReadDir(wd); len(ents) != 0 {
		t.Fatalf("the refused runs wrote %d entries into the working directory (first %s)", len(ents), ents[0].Name())
	}
}
