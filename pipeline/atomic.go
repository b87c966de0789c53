package pipeline

import (
	"io"

	"github.com/segdiscover/segdiscover/pipeline/store"
)

// WriteFileAtomic writes a file through write so that a reader, or a run
// that crashes or is killed at any moment, sees either the old file or the
// complete new one, never a part: temporary file in the same folder,
// fsynced, renamed over path, folder fsynced (store.WriteFileAtomic, whose
// local folder store writes the same way). Parent folders are created as
// needed. The file gets mode 0644.
func WriteFileAtomic(path string, write func(io.Writer) error) error {
	return store.WriteFileAtomic(path, write)
}
