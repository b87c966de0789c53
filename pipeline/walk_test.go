package pipeline

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestListImages(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "in")
	for _, p := range []string{"b.jpg", "a.PNG", "z/c.webp", "z/y/d.tiff", "notes.txt", ".hidden/e.jpg", "m/f.JPEG", "m/f.png"} {
		touch(t, filepath.Join(root, p))
	}
	touch(t, filepath.Join(base, "outside", "g.jpg"))
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Symlink(filepath.Join(base, "outside", "g.jpg"), filepath.Join(root, "out.jpg")))
	must(os.Symlink(filepath.Join(base, "outside"), filepath.Join(root, "outdir")))
	must(os.Symlink(filepath.Join(root, "z"), filepath.Join(root, "z", "y", "loop")))
	must(os.Symlink(filepath.Join(root, "b.jpg"), filepath.Join(root, "link.jpg")))
	must(os.Symlink(filepath.Join(root, "z", "y"), filepath.Join(root, "ylink")))

	list, err := ListImages(root)
	if err != nil {
		t.Fatal(err)
	}
	type entry struct {
		Rel string
		Err error
	}
	var got []entry
	for _, f := range list {
		if f.Path != filepath.Join(root, filepath.FromSlash(f.Rel)+filepath.Ext(f.Path)) && f.Err == nil {
			t.Errorf("%s: path %s does not match", f.Rel, f.Path)
		}
		e := entry{Rel: f.Rel}
		switch {
		case errors.Is(f.Err, ErrSymlinkOutside):
			e.Err = ErrSymlinkOutside
		case errors.Is(f.Err, ErrSymlinkLoop):
			e.Err = ErrSymlinkLoop
		case errors.Is(f.Err, ErrNameCollision):
			e.Err = ErrNameCollision
		case f.Err != nil:
			t.Errorf("%s: unexpected error %v", f.Rel, f.Err)
		}
		got = append(got, e)
	}
	want := []entry{
		{"a", nil},
		{"b", nil},
		{"link", nil},
		{"m/f", nil},
		{"m/f", ErrNameCollision},
		{"out", ErrSymlinkOutside},
		{"outdir", ErrSymlinkOutside},
		{"ylink/d", nil},
		{"ylink/loop", ErrSymlinkLoop},
		{"z/c", nil},
		{"z/y/d", nil},
		{"z/y/loop", ErrSymlinkLoop},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%v\nwant\n%v", got, want)
	}

	again, err := ListImages(root)
	if err != nil || !reflect.DeepEqual(again, list) {
		t.Errorf("second listing differs: %v", err)
	}
}

func TestListImagesNotADir(t *testing.T) {
	dir := t.TempDir()
	touch(t, filepath.Join(dir, "a.jpg"))
	if _, err := ListImages(filepath.Join(dir, "a.jpg")); err == nil {
		t.Error("file accepted as input folder")
	}
	if _, err := ListImages(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing folder accepted")
	}
}
