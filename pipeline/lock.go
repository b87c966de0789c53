//go:build unix

package pipeline

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/segdiscover/segdiscover/pipeline/store"
)

// ErrLocked is returned (wrapped) when another run holds an output folder.
var ErrLocked = errors.New("output folder is in use by another segdiscover run")

// dirLock is an exclusive lock on an output folder: flock(2) on
// OUT_DIR/.lock. The kernel releases it when the holder exits, however it
// exits (SIGKILL, a crash, a lost machine's reboot), so a stale lock file
// never blocks a later run.
type dirLock struct {
	f         *os.File
	exclusive bool
}

// lockDir takes the lock of folder out, failing at once with ErrLocked if
// another process holds it.
func lockDir(out string) (*dirLock, error) {
	return lockFile(filepath.Join(out, ".lock"), true)
}

// Locks of a sharded run. A single-process run holds OUT_DIR/.lock
// exclusively. The commands of a sharded run share it (so that no
// single-process run starts under them) and take, under OUT_DIR/.locks/,
// an exclusive lock per shard (shard-I-of-N: a shard's reruns do not
// overlap) and a lock per global stage (encoder, cluster, train): fit
// holds them exclusively while it writes the global models, the masks
// phase of a shard shares them while it reads them, so that a refit never
// replaces a model under a shard that is using it.
const locksDir = ".locks"

// globalLocks are the locks of the global stages, in the order taken.
var globalLocks = []string{StageEncoder, StageCluster, StageTrain}

// lockSet is a set of held locks, released together.
type lockSet []*dirLock

func (s *lockSet) take(path string, exclusive bool) error {
	l, err := lockFile(path, exclusive)
	if err != nil {
		return err
	}
	*s = append(*s, l)
	return nil
}

func (s *lockSet) unlock() {
	for i := len(*s) - 1; i >= 0; i-- {
		(*s)[i].unlock()
	}
	*s = nil
}

// lockIn takes the lock key (".lock", ".locks/shard-0-of-4") of the output
// store of c. Only a local folder has locks (flock(2), on a shared file
// system too where it supports them): in a bucket there is nothing to take,
// and the user guarantees what the locks would (README.md: one process per
// shard and per global stage, as a scheduler runs them).
func (s *lockSet) lockIn(c *cache, key string, exclusive bool) error {
	l, ok := c.st.(*store.Local)
	if !ok {
		return nil
	}
	return s.take(filepath.Join(l.Root(), filepath.FromSlash(key)), exclusive)
}

// lockGlobal takes the locks of the global stages of c's output store,
// exclusively or shared.
func (s *lockSet) lockGlobal(c *cache, exclusive bool) error {
	for _, name := range globalLocks {
		if err := s.lockIn(c, locksDir+"/"+name, exclusive); err != nil {
			return err
		}
	}
	return nil
}

// lockFile takes an exclusive or shared flock(2) on path (created if
// needed), failing at once with ErrLocked if another process holds it in a
// conflicting mode. An exclusive holder records its process id in the
// file, for the message of the next one that finds it locked.
func lockFile(path string, exclusive bool) (*dirLock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	if err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			// An exclusive holder wrote its pid; shared holders write
			// nothing, and a crashed holder's pid may linger: name the
			// process only if it is alive here.
			holder := "another segdiscover command (a run, or the shards or fit of a sharded run)"
			if b, rerr := os.ReadFile(path); rerr == nil {
				if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil && pid > 0 && unix.Kill(pid, 0) == nil {
					holder = fmt.Sprintf("process %d", pid)
				}
			}
			return nil, fmt.Errorf("%w: %s holds %s; wait for it to finish or stop it, or choose another -o folder", ErrLocked, holder, path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if exclusive {
		// Record who holds it, for the message above; the lock itself is
		// the flock.
		if err := f.Truncate(0); err == nil {
			f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
		}
	}
	return &dirLock{f: f, exclusive: exclusive}, nil
}

// unlock releases the lock. The file stays: removing it would race with a
// run that has just opened it.
func (l *dirLock) unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	if l.exclusive {
		l.f.Truncate(0) // no holder to name any more
	}
	unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
	return l.f.Close()
}
