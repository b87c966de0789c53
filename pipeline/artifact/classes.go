package artifact

import (
	"bufio"
	"io"
	"strings"
)

// DecodeClasses reads a classes.txt, the class names of a ground-truth
// folder (one a line, class i on the i-th non-empty line): the non-empty
// lines, trimmed.
func DecodeClasses(r io.Reader) ([]string, error) {
	var names []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if s := strings.TrimSpace(sc.Text()); s != "" {
			names = append(names, s)
		}
	}
	return names, sc.Err()
}
