//go:build !linux

package store

// deferSync is false without syncfs(2), which only Linux has:
// WriteFileNoSync then fsyncs every file itself, and SyncFS has nothing
// left to do.
const deferSync = false

// SyncFS does nothing here: every write was fsynced already.
func SyncFS(dir string) error { return nil }
