package pipeline

import (
	"io"

	"github.com/segdiscover/segdiscover/pipeline/store"
)

// WriteFileAtomic writes a file through write so that a reader, or a run
// that crashes or is killed at any moment, sees either the old file or the
// complete new one, never a part (temporary file in the same folder,
// fsynced, renamed over path, folder fsynced; see store.WriteFileAtomic,
// where the logic lives since the store package's local folder uses it).
// Parent folders are created as needed. The file gets mode 0644.
func WriteFileAtomic(path string, write func(io.Writer) error) error {
	return store.WriteFileAtomic(path, write)
}

// writeTempRename writes path through a temporary file in the same folder
// (".<base>.tmp-*", which removeTempFiles cleans up after a crash), fsynced
// and made durable if durable, else only renamed into place.
func writeTempRename(path string, write func(io.Writer) error, durable bool) error {
	if durable {
		return store.WriteFileAtomic(path, write)
	}
	return store.WriteFileNoSync(path, write)
}
