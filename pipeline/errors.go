package pipeline

import (
	"fmt"
)

// FileError is a failure confined to one input file: the run reports it and
// goes on with the other files.
type FileError struct {
	Path  string // the input file, as listed
	Stage string // the stage that failed on it, e.g. "superpixels"
	Err   error
}

func (e *FileError) Error() string { return fmt.Sprintf("%s: %s: %v", e.Path, e.Stage, e.Err) }
func (e *FileError) Unwrap() error { return e.Err }

// PartialError is returned by a run that finished but could not process
// every input; Failures lists what failed and why. The command maps it to
// its own exit code so scripts can tell "some files failed" from "the run
// failed".
type PartialError struct {
	Failures []*FileError
	Total    int // inputs the run considered
}

func (e *PartialError) Error() string {
	return fmt.Sprintf("%d of %d inputs failed", len(e.Failures), e.Total)
}
