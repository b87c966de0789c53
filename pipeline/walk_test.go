package pipeline

import (
	"errors"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
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
	// A folder outside that links back to itself: a cycle outside root.
	must(os.Symlink(filepath.Join(base, "outside"), filepath.Join(base, "outside", "again")))

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
		if p := filepath.Join(root, filepath.FromSlash(f.Rel)); f.Err == nil && f.Path != p && f.Path != p+filepath.Ext(f.Path) {
			t.Errorf("%s: path %s does not match", f.Rel, f.Path)
		}
		e := entry{Rel: f.Rel}
		switch {
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
		{"m/f.JPEG", nil},
		{"m/f.png", nil},
		{"out", nil},
		{"outdir/again", ErrSymlinkLoop},
		{"outdir/g", nil},
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

func TestListImagesNaming(t *testing.T) {
	root := t.TempDir()
	long := strings.Repeat("é", 123) + "xyz" // 253 bytes with the extension
	for _, p := range []string{"a.jpg", "a.png", "a.jpg.png", "b.png", long + ".png", long + "w.png"} {
		touch(t, filepath.Join(root, p))
	}
	list, err := ListImages(root)
	if err != nil {
		t.Fatal(err)
	}
	rels := map[string]error{}
	for _, f := range list {
		if f.Err == nil {
			rels[f.Rel] = f.Err
		}
		if len(path.Base(f.Rel)) > maxStem {
			t.Errorf("%s: name of %d bytes", f.Rel, len(f.Rel))
		}
		if !utf8.ValidString(f.Rel) {
			t.Errorf("%q is not UTF-8", f.Rel)
		}
	}
	if len(list) != 6 {
		t.Fatalf("%d entries: %v", len(list), list)
	}
	for _, r := range []string{"a.jpg", "a.png", "b"} {
		if e, ok := rels[r]; !ok || e != nil {
			t.Errorf("%s: present %v, error %v", r, ok, e)
		}
	}
	// a.jpg.png (stem "a.jpg") collides with a.jpg's name: reported.
	var coll int
	for _, f := range list {
		if errors.Is(f.Err, ErrNameCollision) {
			coll++
			if f.Path != filepath.Join(root, "a.jpg.png") {
				t.Errorf("collision on %s", f.Path)
			}
		}
	}
	if coll != 1 {
		t.Errorf("%d collisions, want 1", coll)
	}
	if len(rels) != 5 { // a.jpg a.png b and the two long names
		t.Errorf("long names not kept apart: %v", rels)
	}
}
