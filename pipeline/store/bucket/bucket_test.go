package bucket

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segdiscover/segdiscover/pipeline/store"
	"github.com/segdiscover/segdiscover/pipeline/store/storetest"
)

func TestFileblob(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		dir := t.TempDir()
		// fileblob renames from os.TempDir: keep it on the folder's file system.
		t.Setenv("TMPDIR", t.TempDir())
		s, err := Open(context.Background(), "output folder", "file://"+filepath.ToSlash(dir))
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := s.(*Bucket); !ok {
			t.Fatalf("a file:// URL opened as %T, want *Bucket", s)
		}
		t.Cleanup(func() {
			// metadata=skip: no ".attrs" sidecars beside the objects.
			filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
				if err == nil && strings.HasSuffix(p, ".attrs") {
					t.Errorf("fileblob left a sidecar %s", p)
				}
				return nil
			})
		})
		return s
	})
}

func TestMemblob(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := Open(context.Background(), "output folder", "mem://")
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestMemblobPrefix: the URL's path is a key prefix, invisible in keys and
// visible in Location.
func TestMemblobPrefix(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := Open(context.Background(), "output folder", "mem://bucket/runs/one")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := s.Location("masks/a.png"), "mem://bucket/runs/one/masks/a.png"; got != want {
			t.Fatalf("Location = %q, want %q", got, want)
		}
		return s
	})
}

// TestS3 runs the conformance suite against a real S3-compatible server:
// SEGDISCOVER_S3_URL names a bucket (deploy/s3/seaweedfs.sh start prints
// it, with the credentials, and deploy/s3/test.sh runs this test). Each
// subtest works under a prefix of its own.
func TestS3(t *testing.T) {
	base := os.Getenv("SEGDISCOVER_S3_URL")
	if base == "" {
		t.Skip("SEGDISCOVER_S3_URL not set; deploy/s3/test.sh runs this test against a local SeaweedFS")
	}
	ctx := context.Background()
	run := fmt.Sprintf("test-%d", time.Now().UnixNano())
	n := 0
	storetest.Run(t, func(t *testing.T) store.Store {
		n++
		s, err := Open(ctx, "output folder", withPath(t, base, fmt.Sprintf("%s/%d", run, n)))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})

	// The bad inputs: each fails Open with an error naming the bucket's URL
	// (without its query) and the cause.
	named, _ := url.Parse(base)
	named.RawQuery = ""
	for _, tc := range []struct {
		name     string
		location string
		setup    func(t *testing.T)
		want     []string
	}{
		{"MissingBucket", withHost(t, base, "no-such-bucket-"+run), func(*testing.T) {},
			[]string{"s3://no-such-bucket-" + run, "does not exist"}},
		{"WrongSecret", base, func(t *testing.T) { t.Setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret") },
			[]string{named.String(), "access denied", "AWS_ACCESS_KEY_ID"}},
		{"NoCredentials", base, noCredentials,
			[]string{named.String(), "credentials", "AWS_ACCESS_KEY_ID"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.setup(t)
			s, err := Open(ctx, "output folder", tc.location)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%s) succeeded", tc.location)
			}
			t.Logf("Open: %v", err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Open(%s) = %q, want it to say %q", tc.location, err, w)
				}
			}
		})
	}
}

// withHost returns the bucket URL u with bucket (host) h.
func withHost(t *testing.T, u, h string) string {
	t.Helper()
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	pu.Host = h
	return pu.String()
}

// noCredentials empties the AWS credential chain for one test, down to the
// instance-metadata lookup, which would otherwise leave this machine.
func noCredentials(t *testing.T) {
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
}

// withPath returns the bucket URL u with path p (a key prefix).
func withPath(t *testing.T, u, p string) string {
	t.Helper()
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	pu.Path = "/" + p
	return pu.String()
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "absent")
	for _, tc := range []struct {
		location string
		want     []string // in the error
	}{
		{"ftp://host/x", []string{`"ftp://host/x"`, `unsupported URL scheme "ftp"`, "s3://"}},
		{"HTTP://host/x", []string{`unsupported URL scheme "http"`}},
		{"s3:///prefix", []string{"no bucket name", "s3://BUCKET"}},
		{"mem://b/p?prefix=q/", []string{"either as the URL's path or as prefix="}},
		{"file://relative/dir", []string{"file:///folder"}},
		{"file://" + missing, []string{"output folder", missing}},
		{file, []string{file, "is a file, not a folder"}},
		{"", []string{"empty path"}},
	} {
		t.Run(tc.location, func(t *testing.T) {
			s, err := Open(ctx, "output folder", tc.location)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded", tc.location)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Open(%q) = %q, want it to say %q", tc.location, err, w)
				}
			}
		})
	}
}

// TestOpenPath: a path is a local folder, opened as package store does.
func TestOpenPath(t *testing.T) {
	s, err := Open(context.Background(), "output folder", filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, ok := s.(*store.Local); !ok {
		t.Fatalf("a path opened as %T, want *store.Local", s)
	}
}
