package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Local is a Store on a local folder (or a mounted shared file system).
// Keys are file paths under the folder; writes go through a temporary file
// renamed into place (WriteFileAtomic).
type Local struct {
	root string
}

func openLocal(what, root string) (*Local, error) {
	if root == "" {
		return nil, fmt.Errorf("%s: empty path", what)
	}
	fi, err := os.Stat(root)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// Created by the first write, as an output folder should be.
	case err != nil:
		return nil, fmt.Errorf("%s %s: %w", what, root, err)
	case !fi.IsDir():
		return nil, fmt.Errorf("%s %s: is a file, not a folder", what, root)
	}
	return &Local{root: root}, nil
}

// LocalFolder is the store on folder root, unchecked (OpenLocal checks
// that root is a path to a folder or to nothing yet): for callers that
// checked it already, or whose first access reports the problem.
func LocalFolder(root string) *Local { return &Local{root: root} }

// Root is the folder the store is on.
func (l *Local) Root() string { return l.root }

func (l *Local) path(key string) string { return filepath.Join(l.root, filepath.FromSlash(key)) }

// Location implements Store: the file path of key.
func (l *Local) Location(key string) string {
	if key == "" {
		return l.root
	}
	return l.path(key)
}

// WriteAtomic implements Store with WriteFileAtomic.
func (l *Local) WriteAtomic(ctx context.Context, key string, write func(io.Writer) error) error {
	if err := CheckKey(l, key); err != nil {
		return err
	}
	return WriteFileAtomic(l.path(key), cancellable(ctx, write))
}

// WriteAtomicNoSync implements Store with WriteFileNoSync.
func (l *Local) WriteAtomicNoSync(ctx context.Context, key string, write func(io.Writer) error) error {
	if err := CheckKey(l, key); err != nil {
		return err
	}
	return WriteFileNoSync(l.path(key), cancellable(ctx, write))
}

// cancellable fails the write if ctx is done before or after write runs,
// so a cancelled write leaves nothing, as on object stores.
func cancellable(ctx context.Context, write func(io.Writer) error) func(io.Writer) error {
	return func(w io.Writer) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := write(w); err != nil {
			return err
		}
		return ctx.Err()
	}
}

// Sync implements Store: syncfs(2) of the folder's file system.
func (l *Local) Sync(ctx context.Context) error {
	if _, err := os.Stat(l.root); errors.Is(err, fs.ErrNotExist) {
		return nil // nothing written yet
	}
	if err := SyncFS(l.root); err != nil {
		return fmt.Errorf("sync %s: %w", l.root, err)
	}
	return nil
}

// NewReader implements Store.
func (l *Local) NewReader(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := CheckKey(l, key); err != nil {
		return nil, err
	}
	f, err := os.Open(l.path(key))
	if err != nil {
		return nil, err // *PathError names the file
	}
	if fi, err := f.Stat(); err != nil || fi.IsDir() {
		f.Close()
		if err == nil {
			err = &fs.PathError{Op: "open", Path: l.path(key), Err: fmt.Errorf("is a folder, not a file: %w", ErrNotExist)}
		}
		return nil, err
	}
	return f, nil
}

// Stat implements Store. A folder is no object: its key does not exist.
func (l *Local) Stat(ctx context.Context, key string) (Info, error) {
	if err := CheckKey(l, key); err != nil {
		return Info{}, err
	}
	fi, err := os.Stat(l.path(key))
	if err != nil {
		return Info{}, err
	}
	if !fi.Mode().IsRegular() {
		return Info{}, &fs.PathError{Op: "stat", Path: l.path(key), Err: fmt.Errorf("not a regular file: %w", ErrNotExist)}
	}
	return Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// List implements Store: a walk of the deepest folder the prefix names,
// folder by folder in name order, skipping the temporary files of writes
// under way or killed (IsTempName). Symbolic links are not followed.
func (l *Local) List(ctx context.Context, prefix string) iter.Seq2[Info, error] {
	return func(yield func(Info, error) bool) {
		dir, _ := path.Split(prefix)
		dir = strings.TrimSuffix(dir, "/")
		start := l.root
		if dir != "" {
			if !fs.ValidPath(dir) {
				yield(Info{}, fmt.Errorf("list %s: %w prefix %q", l.root, ErrInvalidKey, prefix))
				return
			}
			start = l.path(dir)
		}
		err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil // a folder that is not there holds no key
				}
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if !d.Type().IsRegular() || IsTempName(d.Name()) {
				return nil
			}
			rel, err := filepath.Rel(l.root, p)
			if err != nil {
				return err
			}
			key := filepath.ToSlash(rel)
			if !strings.HasPrefix(key, prefix) {
				return nil
			}
			fi, err := d.Info()
			if errors.Is(err, fs.ErrNotExist) {
				return nil // deleted since the folder was read
			} else if err != nil {
				return err
			}
			if !yield(Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil) {
				return fs.SkipAll
			}
			return nil
		})
		if err != nil {
			yield(Info{}, fmt.Errorf("list %s: %w", l.Location(prefix), err))
		}
	}
}

// Delete implements Store.
func (l *Local) Delete(ctx context.Context, key string) error {
	if err := CheckKey(l, key); err != nil {
		return err
	}
	if err := os.Remove(l.path(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Close implements Store; a folder holds nothing open.
func (l *Local) Close() error { return nil }

// WriteFileAtomic writes a file through write so that a reader, or a
// process that crashes or is killed at any moment, sees either the old
// file or the complete new one, never a part: the data goes to a temporary
// file in the same folder, is fsynced, renamed over path, and the folder is
// fsynced. Parent folders are created as needed. The file gets mode 0644.
func WriteFileAtomic(path string, write func(io.Writer) error) error {
	if err := writeTempRename(path, write, true); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// WriteFileNoSync is WriteFileAtomic without the fsyncs: atomic for
// readers and against a killed process, durable across a power loss only
// after a later syncfs (Local.Sync).
func WriteFileNoSync(path string, write func(io.Writer) error) error {
	if !deferSync {
		return WriteFileAtomic(path, write)
	}
	return writeTempRename(path, write, false)
}

// IsTempName reports whether a file name is that of the temporary file of
// a write under way, or of one killed mid-way (".<name>.tmp-<random>"): a
// process holding the folder's lock may remove such files.
func IsTempName(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, ".tmp-")
}

// writeTempRename writes path through a temporary file in the same folder
// (named ".<base>.tmp-*", see IsTempName), fsynced first if durable, then
// renamed over path.
func writeTempRename(path string, write func(io.Writer) error, durable bool) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// The temporary name must fit the 255-byte limit of a file name
	// whatever the length of path's.
	base := filepath.Base(path)
	if len(base) > 64 {
		base = base[:64]
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<16)
	if err := write(bw); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if durable {
		if err := f.Sync(); err != nil {
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}
