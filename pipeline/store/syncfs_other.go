//go:build !unix

package store

// deferSync is false without syncfs(2): WriteFileNoSync then fsyncs every
// file itself, and syncFS has nothing left to do.
const deferSync = false

func syncFS(dir string) error { return nil }
