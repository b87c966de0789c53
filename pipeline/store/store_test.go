package store_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/segdiscover/segdiscover/pipeline/store"
	"github.com/segdiscover/segdiscover/pipeline/store/storetest"
)

func TestLocal(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := store.OpenLocal("output folder", filepath.Join(t.TempDir(), "out"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestOpenLocalErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		location string
		want     []string // in the error
	}{
		{file, []string{"output folder", file, "is a file, not a folder"}},
		{"", []string{"empty path"}},
		// A URL taken as a path would become a folder "s3:" or "file:".
		{"s3://bucket/out", []string{`"s3://bucket/out"`, "is a URL"}},
		{"file:///x", []string{`"file:///x"`, "is a URL"}},
	} {
		t.Run(tc.location, func(t *testing.T) {
			wd := t.TempDir()
			t.Chdir(wd)
			s, err := store.OpenLocal("output folder", tc.location)
			if err == nil {
				s.Close()
				t.Fatalf("OpenLocal(%q) succeeded", tc.location)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("OpenLocal(%q) = %q, want it to say %q", tc.location, err, w)
				}
			}
			if ents, _ := os.ReadDir(wd); len(ents) != 0 {
				t.Errorf("a refused OpenLocal created %s", ents[0].Name())
			}
		})
	}
}

func TestURLScheme(t *testing.T) {
	for _, tc := range []struct {
		location, scheme string
	}{
		{"file:///x", "file"},
		{"s3://bucket/out", "s3"},
		{"S3://bucket", "s3"},
		{"gs://b", "gs"},
		{"azblob://c/p", "azblob"},
		{"mem://", "mem"},
		{"svn+ssh://x", "svn+ssh"},
		{"out", ""},
		{"/abs/out", ""},
		{"./a://b", ""},    // a path whose folder is named "a:"
		{"my dir://x", ""}, // a space is no scheme character
		{"1x://y", ""},     // a scheme starts with a letter
		{"://x", ""},
	} {
		t.Run(tc.location, func(t *testing.T) {
			got, ok := store.URLScheme(tc.location)
			if got != tc.scheme || ok != (tc.scheme != "") {
				t.Fatalf("URLScheme(%q) = %q, %v; want %q", tc.location, got, ok, tc.scheme)
			}
		})
	}
}

// TestLocalTempFiles: the local store's temporary files never show as keys,
// and a failed write leaves none behind.
func TestLocalTempFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := store.OpenLocal("output folder", dir)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Put(t, s, "a/x.png", "x")
	// A write killed mid-way leaves a file like this one.
	killed := ".x.png.tmp-123"
	if !store.IsTempName(killed) {
		t.Fatalf("IsTempName(%q) = false", killed)
	}
	if err := os.WriteFile(filepath.Join(dir, "a", killed), []byte("part"), 0o644); err != nil {
		t.Fatal(err)
	}
	if keys := storetest.Keys(t, s, ""); len(keys) != 1 || keys[0] != "a/x.png" {
		t.Fatalf("keys %q, want only a/x.png", keys)
	}
	boom := errors.New("boom")
	if err := s.WriteAtomic(ctx, "a/y.png", func(w io.Writer) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "a"))
	if len(ents) != 2 {
		t.Errorf("folder holds %d entries after a failed write, want x.png and the old temporary file", len(ents))
	}
	if fi, err := os.Stat(filepath.Join(dir, "a", "x.png")); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, %v; want 0644", fi.Mode().Perm(), err)
	}
}
