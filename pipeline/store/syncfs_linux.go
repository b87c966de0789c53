//go:build linux

package store

import (
	"os"

	"golang.org/x/sys/unix"
)

// deferSync: WriteFileNoSync may leave durability to a later SyncFS.
const deferSync = true

// SyncFS flushes the whole file system holding dir to disk (syncfs(2)): one
// call instead of an fsync per file for a batch of outputs written with
// WriteFileNoSync.
func SyncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}
