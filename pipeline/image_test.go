package pipeline

import (
	"bytes"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/segdiscover/segdiscover/pipeline/artifact/artifacttest"
)

// TestLoadImageFolder checks that in a folder of good and bad files every
// bad one fails with an error naming it and the reason, and every good one
// loads regardless.
func TestLoadImageFolder(t *testing.T) {
	dir := t.TempDir()
	jpg := artifacttest.Encode(t, func(b *bytes.Buffer) error { return jpeg.Encode(b, artifacttest.Card(), nil) })
	files := map[string][]byte{
		"good.jpg":          jpg,
		"sub/good.png":      artifacttest.Encode(t, func(b *bytes.Buffer) error { return png.Encode(b, artifacttest.Card()) }),
		"empty.jpg":         nil,
		"notes.jpg":         []byte("hello"),
		"cut.jpg":           jpg[:len(jpg)-40],
		"bomb.png":          artifacttest.PNGBomb(t, 50_000, 50_000),
		"rotated.jpg":       artifacttest.WithOrientation(jpg, 6),
		"sub/deeper/ok.gif": artifacttest.Encode(t, func(b *bytes.Buffer) error { return gif.Encode(b, artifacttest.Card(), nil) }),
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	list, err := ListImages(dir)
	if err != nil {
		t.Fatal(err)
	}
	wantBad := map[string]string{"empty": "empty file", "notes": "not a supported image", "cut": "corrupt", "bomb": "pixel limit"}
	if len(list) != len(files) {
		t.Fatalf("listed %d files, want %d", len(list), len(files))
	}
	for _, f := range list {
		img, err := LoadImage(f.Path, 0)
		reason, bad := wantBad[f.Rel]
		switch {
		case bad && err == nil:
			t.Errorf("%s: loaded, want error %q", f.Rel, reason)
		case bad && (!strings.Contains(err.Error(), f.Path) || !strings.Contains(err.Error(), reason)):
			t.Errorf("%s: error %q does not name the file and %q", f.Rel, err, reason)
		case !bad && (err != nil || img == nil):
			t.Errorf("%s: %v", f.Rel, err)
		}
	}
}
