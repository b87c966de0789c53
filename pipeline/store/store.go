package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"strings"
	"time"
)

// Store holds objects named by keys: slash-separated relative paths such as
// "masks/a/b.png" or ".cache/v1/masks/a/b.json". It is the part of a file
// system the engine uses: whole-object writes, reads, stat, recursive
// listing of a prefix, and deletion. A Store is safe for concurrent use.
type Store interface {
	// WriteAtomic stores key with the bytes write writes, replacing any
	// earlier object, durably when it returns nil. Readers see the old
	// object or the complete new one, never a part. If write (or the
	// store) fails, or ctx is cancelled, nothing is stored and an earlier
	// object at key is left as it was.
	WriteAtomic(ctx context.Context, key string, write func(io.Writer) error) error
	// WriteAtomicNoSync is WriteAtomic whose durability may wait for the
	// next Sync: on a local folder the file is renamed into place without
	// its own fsync (an fsync per small file costs more than computing it),
	// on an object store it is WriteAtomic.
	WriteAtomicNoSync(ctx context.Context, key string, write func(io.Writer) error) error
	// Sync makes every earlier WriteAtomicNoSync durable (syncfs(2) of the
	// folder's file system; nothing on an object store, where every object
	// is durable once written).
	Sync(ctx context.Context) error
	// NewReader opens the object at key. The error for a missing key
	// satisfies errors.Is(err, ErrNotExist).
	NewReader(ctx context.Context, key string) (io.ReadCloser, error)
	// Stat returns the object's size and modification time; the error for
	// a missing key satisfies errors.Is(err, ErrNotExist).
	Stat(ctx context.Context, key string) (Info, error)
	// List yields every object whose key starts with prefix (a plain string
	// prefix: "a/b" matches "a/b/c", "a/b.png" and "a/bc"), at any depth,
	// in no promised order. The first error ends the sequence.
	List(ctx context.Context, prefix string) iter.Seq2[Info, error]
	// Delete removes the object at key; a missing key is no error.
	Delete(ctx context.Context, key string) error
	// Location names key as the user gave the store: a file path for a
	// local folder, a URL for an object store. Every error names it.
	Location(key string) string
	// Close releases the store's connections.
	Close() error
}

// Info describes one object.
type Info struct {
	Key     string
	Size    int64
	ModTime time.Time
}

// ErrNotExist is what errors for a missing key wrap (it is fs.ErrNotExist,
// so os.IsNotExist-style checks keep working for local stores).
var ErrNotExist = fs.ErrNotExist

// ErrInvalidKey is what errors for a malformed key wrap.
var ErrInvalidKey = errors.New("invalid key")

// OpenLocal opens the local folder root (absolute or relative; a shared
// NFS/Lustre mount works) as a Store. The folder need not exist yet: the
// first write creates it. A root that looks like a URL is refused, since
// taken as a path "s3://b" would become a folder "s3:" in the working
// directory; package bucket opens URLs. what names the store in errors
// ("output folder", "input folder").
func OpenLocal(what, root string) (*Local, error) {
	if scheme, ok := URLScheme(root); ok {
		return nil, fmt.Errorf("%s %q is a URL (%s://), not a local folder", what, root, scheme)
	}
	return openLocal(what, root)
}

// URLScheme returns the scheme of location if it looks like a URL
// ("scheme://..." with a scheme of a letter followed by letters, digits,
// '+', '-' or '.', as RFC 3986 has it), so that "./a://b" or "my dir://x"
// are paths.
func URLScheme(location string) (string, bool) {
	scheme, _, ok := strings.Cut(location, "://")
	if !ok || scheme == "" {
		return "", false
	}
	for i, c := range scheme {
		letter := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !letter && (i == 0 || !('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return "", false
		}
	}
	return strings.ToLower(scheme), true
}

// CheckKey rejects keys that are not clean relative slash paths: empty,
// absolute, with "." or ".." elements, empty elements ("a//b") or a
// trailing slash. Object stores would accept some of these, a folder would
// read them differently; refusing them keeps both alike.
// Every Store implementation calls it first.
func CheckKey(s Store, key string) error {
	if key == "" || key == "." || !fs.ValidPath(key) {
		return fmt.Errorf("%s: %w %q: want a relative slash-separated path without empty, \".\" or \"..\" parts", s.Location(""), ErrInvalidKey, key)
	}
	return nil
}

// ReadAll returns the whole object at key.
func ReadAll(ctx context.Context, s Store, key string) ([]byte, error) {
	r, err := s.NewReader(ctx, key)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(r)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", s.Location(key), err)
	}
	return data, nil
}

// Exists reports whether key holds an object.
func Exists(ctx context.Context, s Store, key string) (bool, error) {
	_, err := s.Stat(ctx, key)
	if errors.Is(err, ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// RemoveTree deletes the object at key and every object under key + "/",
// as os.RemoveAll does for a file or a folder. On a local folder it is
// os.RemoveAll itself (empty folders go too); elsewhere it lists and
// deletes, object by object: not atomic, and a listing that lags writes
// may miss one, which the caller's manifests then no longer vouch for.
func RemoveTree(ctx context.Context, s Store, key string) error {
	if err := CheckKey(s, key); err != nil {
		return err
	}
	if l, ok := s.(*Local); ok {
		return os.RemoveAll(l.path(key))
	}
	// Listed, not deleted blindly: on a file:// bucket key may be a
	// folder, which a Delete refuses.
	var keys []string
	for info, err := range s.List(ctx, key) {
		if err != nil {
			return err
		}
		if info.Key == key || strings.HasPrefix(info.Key, key+"/") {
			keys = append(keys, info.Key)
		}
	}
	for _, k := range keys {
		if err := s.Delete(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

// Move renames the object at from to to: os.Rename on a local folder
// (atomic), a copy then a delete elsewhere (the copy is whole; a crash
// between the two leaves both).
func Move(ctx context.Context, s Store, from, to string) error {
	if err := CheckKey(s, from); err != nil {
		return err
	}
	if err := CheckKey(s, to); err != nil {
		return err
	}
	if l, ok := s.(*Local); ok {
		return os.Rename(l.path(from), l.path(to))
	}
	data, err := ReadAll(ctx, s, from)
	if err != nil {
		return err
	}
	if err := s.WriteAtomic(ctx, to, func(w io.Writer) error { _, err := w.Write(data); return err }); err != nil {
		return err
	}
	return s.Delete(ctx, from)
}
