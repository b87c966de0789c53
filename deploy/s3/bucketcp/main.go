// Command bucketcp lists or downloads the objects under a bucket URL, for
// deploy/s3/test.sh, which compares a run written to a bucket with one
// written to a local folder (diff -r). It opens URLs as segdiscover does
// (package pipeline/store/bucket), so it needs no S3 client.
//
//	bucketcp ls URL        one line per object: modification time (Unix
//	                       seconds, with fraction), size, key
//	bucketcp get URL DIR   every object to DIR/<key> (DIR must not exist)
//	bucketcp put DIR URL   every file under DIR to URL/<path>
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/segdiscover/segdiscover/pipeline/store"
	"github.com/segdiscover/segdiscover/pipeline/store/bucket"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bucketcp:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	switch {
	case len(args) == 2 && args[0] == "ls":
		return ls(ctx, args[1], stdout)
	case len(args) == 3 && args[0] == "get":
		return get(ctx, args[1], args[2])
	case len(args) == 3 && args[0] == "put":
		return put(ctx, args[1], args[2])
	}
	return errors.New("usage: bucketcp ls URL | bucketcp get URL DIR | bucketcp put DIR URL")
}

func ls(ctx context.Context, url string, stdout io.Writer) error {
	st, err := bucket.Open(ctx, "bucket", url)
	if err != nil {
		return err
	}
	defer st.Close()
	for info, err := range st.List(ctx, "") {
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%.3f %d %s\n", float64(info.ModTime.UnixNano())/1e9, info.Size, info.Key)
	}
	return nil
}

func get(ctx context.Context, url, dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return fmt.Errorf("%s exists; give a new folder", dir)
	}
	st, err := bucket.Open(ctx, "bucket", url)
	if err != nil {
		return err
	}
	defer st.Close()
	for info, err := range st.List(ctx, "") {
		if err != nil {
			return err
		}
		data, err := store.ReadAll(ctx, st, info.Key)
		if err != nil {
			return err
		}
		p := filepath.Join(dir, filepath.FromSlash(info.Key))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func put(ctx context.Context, dir, url string) error {
	st, err := bucket.Open(ctx, "bucket", url)
	if err != nil {
		return err
	}
	defer st.Close()
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return st.WriteAtomic(ctx, filepath.ToSlash(rel), func(w io.Writer) error { _, err := w.Write(data); return err })
	})
}
