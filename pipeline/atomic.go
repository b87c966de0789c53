package pipeline

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// WriteFileAtomic writes a file through write so that a reader, or a run
// that crashes or is killed at any moment, sees either the old file or the
// complete new one, never a part: the data goes to a temporary file in the
// same folder, is fsynced, renamed over path, and the folder is fsynced.
// Parent folders are created as needed. The file gets mode 0644.
func WriteFileAtomic(path string, write func(io.Writer) error) error {
	if err := writeTempRename(path, write, true); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// writeTempRename writes path through a temporary file in the same folder
// (named ".<base>.tmp-*", which removeTempFiles cleans up after a crash),
// fsynced first if durable, then renamed over path.
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
