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
)

// ErrLocked is returned (wrapped) when another run holds an output folder.
var ErrLocked = errors.New("output folder is in use by another segdiscover run")

// dirLock is an exclusive lock on an output folder: flock(2) on
// OUT_DIR/.lock. The kernel releases it when the holder exits, however it
// exits (SIGKILL, a crash, a lost machine's reboot), so a stale lock file
// never blocks a later run.
type dirLock struct{ f *os.File }

// lockDir takes the lock of folder out, failing at once with ErrLocked if
// another process holds it.
func lockDir(out string) (*dirLock, error) {
	path := filepath.Join(out, ".lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			holder := "another process"
			if b, rerr := os.ReadFile(path); rerr == nil {
				if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil {
					holder = fmt.Sprintf("process %d", pid)
				}
			}
			return nil, fmt.Errorf("%w: %s holds %s; wait for it to finish or stop it, or choose another -o folder", ErrLocked, holder, path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	// Record who holds it, for the message above; the lock itself is the flock.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &dirLock{f: f}, nil
}

// unlock releases the lock. The file stays: removing it would race with a
// run that has just opened it.
func (l *dirLock) unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
	return l.f.Close()
}
