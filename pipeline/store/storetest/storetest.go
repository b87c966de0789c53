// Package storetest checks a store.Store implementation against the
// behaviour the interface and package store's comment promise (whole
// writes, failed and cancelled writes leaving nothing, listing by plain
// prefix, key rules, concurrent writers), as testing/fstest does for
// fs.FS. Each implementation's tests call Run with a constructor of fresh,
// empty stores.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/segdiscover/segdiscover/pipeline/store"
)

// Run checks the behaviour every store.Store promises against stores made
// by open, a fresh empty one per subtest; Run closes them.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, s store.Store)
	}{
		{"WriteRead", func(t *testing.T, s store.Store) {
			for key, body := range map[string]string{
				"a.txt":                         "hello",
				"deep/er/still/b.bin":           "\x00\x01\xff",
				"empty":                         "",
				".cache/v1/masks/x.json":        `{"key":"k"}`,
				"dir with space/ünïcode ok.png": "u",
			} {
				Put(t, s, key, body)
				if got := get(t, s, key); got != body {
					t.Errorf("%s: read %q, want %q", key, got, body)
				}
				info, err := s.Stat(ctx, key)
				if err != nil || info.Key != key || info.Size != int64(len(body)) {
					t.Errorf("Stat(%s) = %+v, %v; want size %d", key, info, err, len(body))
				}
				if ok, err := store.Exists(ctx, s, key); !ok || err != nil {
					t.Errorf("store.Exists(%s) = %v, %v", key, ok, err)
				}
			}
		}},
		{"Overwrite", func(t *testing.T, s store.Store) {
			Put(t, s, "k", "first, longer content")
			Put(t, s, "k", "second")
			if got := get(t, s, "k"); got != "second" {
				t.Fatalf("read %q after overwrite, want %q", got, "second")
			}
			if keys := Keys(t, s, ""); !slices.Equal(keys, []string{"k"}) {
				t.Fatalf("keys %q after overwrite, want [k]", keys)
			}
		}},
		{"Missing", func(t *testing.T, s store.Store) {
			Put(t, s, "there/x", "x")
			for _, key := range []string{"absent", "there/absent", "there"} {
				_, err := s.NewReader(ctx, key)
				checkNotExist(t, s, "NewReader", key, err)
				_, err = s.Stat(ctx, key)
				checkNotExist(t, s, "Stat", key, err)
				_, err = store.ReadAll(ctx, s, key)
				checkNotExist(t, s, "ReadAll", key, err)
				if ok, err := store.Exists(ctx, s, key); ok || err != nil {
					t.Errorf("store.Exists(%s) = %v, %v; want false, nil", key, ok, err)
				}
			}
		}},
		{"FailedWriteLeavesNothing", func(t *testing.T, s store.Store) {
			boom := errors.New("boom")
			Put(t, s, "old", "old content")
			// Larger than an S3 upload part (5 MiB), so the upload has
			// begun when the write fails.
			big := randomBytes(6 << 20)
			for _, key := range []string{"old", "new"} {
				err := s.WriteAtomic(ctx, key, func(w io.Writer) error {
					if _, err := w.Write(big); err != nil {
						return err
					}
					return boom
				})
				if !errors.Is(err, boom) {
					t.Fatalf("WriteAtomic(%s) failing = %v, want boom", key, err)
				}
				if !strings.Contains(err.Error(), key) {
					t.Errorf("error %q does not name the key %q", err, key)
				}
			}
			if got := get(t, s, "old"); got != "old content" {
				t.Errorf("old content now %.20q…, want it intact", got)
			}
			if keys := Keys(t, s, ""); !slices.Equal(keys, []string{"old"}) {
				t.Errorf("keys %q after failed writes, want [old]", keys)
			}
		}},
		{"CancelledWriteLeavesNothing", func(t *testing.T, s store.Store) {
			cctx, cancel := context.WithCancel(ctx)
			err := s.WriteAtomic(cctx, "c", func(w io.Writer) error {
				_, err := io.WriteString(w, "data")
				cancel()
				return err
			})
			if err == nil {
				t.Fatal("a write whose context was cancelled succeeded")
			}
			if ok, _ := store.Exists(ctx, s, "c"); ok {
				t.Fatal("a cancelled write left an object")
			}
		}},
		{"Large", func(t *testing.T, s store.Store) {
			big := randomBytes(6<<20 + 12345)
			if err := s.WriteAtomic(ctx, "big.bin", func(w io.Writer) error { _, err := w.Write(big); return err }); err != nil {
				t.Fatal(err)
			}
			if got := get(t, s, "big.bin"); got != string(big) {
				t.Fatalf("large object read back differs (%d bytes, want %d)", len(got), len(big))
			}
		}},
		{"List", func(t *testing.T, s store.Store) {
			all := []string{"a/b.png", "a/b/c", "a/b/d/e", "a/bc", "a0", "x"}
			for _, k := range all {
				Put(t, s, k, k)
			}
			for _, tc := range []struct {
				prefix string
				want   []string
			}{
				{"", all},
				{"a/b", []string{"a/b.png", "a/b/c", "a/b/d/e", "a/bc"}},
				{"a/b/", []string{"a/b/c", "a/b/d/e"}},
				{"a", []string{"a/b.png", "a/b/c", "a/b/d/e", "a/bc", "a0"}},
				{"a/b/d/e", []string{"a/b/d/e"}},
				{"nothing/", nil},
				{"nothing", nil},
			} {
				if got := Keys(t, s, tc.prefix); !slices.Equal(got, tc.want) {
					t.Errorf("List(%q) = %q, want %q", tc.prefix, got, tc.want)
				}
			}
			// Sizes come with the listing.
			for info, err := range s.List(ctx, "a/b/d") {
				if err != nil || info.Size != int64(len("a/b/d/e")) {
					t.Errorf("listed %+v, %v; want size %d", info, err, len("a/b/d/e"))
				}
			}
			// Stopping early is allowed.
			n := 0
			for range s.List(ctx, "") {
				n++
				break
			}
			if n != 1 {
				t.Errorf("break after one listed key: saw %d", n)
			}
		}},
		{"Delete", func(t *testing.T, s store.Store) {
			Put(t, s, "d/1", "1")
			Put(t, s, "d/2", "2")
			if err := s.Delete(ctx, "d/1"); err != nil {
				t.Fatal(err)
			}
			if err := s.Delete(ctx, "d/1"); err != nil {
				t.Errorf("deleting a deleted key: %v, want nil", err)
			}
			if err := s.Delete(ctx, "never"); err != nil {
				t.Errorf("deleting a missing key: %v, want nil", err)
			}
			_, err := s.Stat(ctx, "d/1")
			checkNotExist(t, s, "Stat after Delete", "d/1", err)
			if keys := Keys(t, s, ""); !slices.Equal(keys, []string{"d/2"}) {
				t.Errorf("keys %q after delete, want [d/2]", keys)
			}
		}},
		{"InvalidKeys", func(t *testing.T, s store.Store) {
			for _, key := range []string{"", ".", "/abs", "../up", "a/../b", "a//b", "a/./b", "trailing/"} {
				werr := s.WriteAtomic(ctx, key, func(w io.Writer) error { return nil })
				_, rerr := s.NewReader(ctx, key)
				_, serr := s.Stat(ctx, key)
				derr := s.Delete(ctx, key)
				for op, err := range map[string]error{"WriteAtomic": werr, "NewReader": rerr, "Stat": serr, "Delete": derr} {
					if !errors.Is(err, store.ErrInvalidKey) || !strings.Contains(err.Error(), fmt.Sprintf("%q", key)) {
						t.Errorf("%s(%q) = %v, want store.ErrInvalidKey naming the key", op, key, err)
					}
				}
			}
			if keys := Keys(t, s, ""); len(keys) != 0 {
				t.Errorf("invalid keys wrote %q", keys)
			}
		}},
		{"NoSyncThenSync", func(t *testing.T, s store.Store) {
			for i := range 5 {
				key := fmt.Sprintf("batch/%d", i)
				if err := s.WriteAtomicNoSync(ctx, key, func(w io.Writer) error { _, err := io.WriteString(w, key); return err }); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			if got := Keys(t, s, "batch/"); len(got) != 5 {
				t.Fatalf("listed %q, want 5 keys", got)
			}
			if got := get(t, s, "batch/3"); got != "batch/3" {
				t.Fatalf("read %q", got)
			}
		}},
		{"ConcurrentWriters", func(t *testing.T, s store.Store) {
			// Distinct keys from many goroutines (the engine's workers), and
			// several writers of one key: that one ends holding one whole
			// version, whichever won.
			var wg sync.WaitGroup
			errs := make(chan error, 32)
			for i := range 16 {
				wg.Go(func() {
					body := strings.Repeat(fmt.Sprint(i%10), 1000+i)
					errs <- s.WriteAtomic(ctx, fmt.Sprintf("w/%02d", i), func(w io.Writer) error { _, err := io.WriteString(w, body); return err })
					errs <- s.WriteAtomic(ctx, "same", func(w io.Writer) error { _, err := io.WriteString(w, body); return err })
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			if got := Keys(t, s, "w/"); len(got) != 16 {
				t.Errorf("listed %d keys, want 16", len(got))
			}
			got := get(t, s, "same")
			if len(got) < 1000 || strings.Trim(got, got[:1]) != "" {
				t.Errorf("concurrently written key holds a mix: %.40q… (%d bytes)", got, len(got))
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.run(t, s)
		})
	}
}

// Put writes body at key, failing the test on error.
func Put(t *testing.T, s store.Store, key, body string) {
	t.Helper()
	if err := s.WriteAtomic(context.Background(), key, func(w io.Writer) error { _, err := io.WriteString(w, body); return err }); err != nil {
		t.Fatalf("WriteAtomic(%s): %v", key, err)
	}
}

func get(t *testing.T, s store.Store, key string) string {
	t.Helper()
	b, err := store.ReadAll(context.Background(), s, key)
	if err != nil {
		t.Fatalf("store.ReadAll(%s): %v", key, err)
	}
	return string(b)
}

// Keys returns the keys under prefix, sorted (List promises no order).
func Keys(t *testing.T, s store.Store, prefix string) []string {
	t.Helper()
	var keys []string
	for info, err := range s.List(context.Background(), prefix) {
		if err != nil {
			t.Fatalf("List(%q): %v", prefix, err)
		}
		keys = append(keys, info.Key)
	}
	slices.Sort(keys)
	return keys
}

func checkNotExist(t *testing.T, s store.Store, op, key string, err error) {
	t.Helper()
	if !errors.Is(err, store.ErrNotExist) {
		t.Errorf("%s(%s) = %v, want ErrNotExist", op, key, err)
		return
	}
	if !strings.Contains(err.Error(), s.Location(key)) {
		t.Errorf("%s(%s) error %q does not name %s", op, key, err, s.Location(key))
	}
}

func randomBytes(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}
