package pipeline

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// imageExts are the file extensions (lower case) ListImages picks up.
var imageExts = []string{".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp"}

// IsImageName reports whether name has one of the extensions of the input
// formats, ignoring case.
func IsImageName(name string) bool {
	return slices.Contains(imageExts, strings.ToLower(filepath.Ext(name)))
}

// Errors set on ImageFile.Err for entries that are listed but not processed.
var (
	ErrSymlinkOutside = errors.New("symbolic link points outside the input folder; not followed")
	ErrSymlinkLoop    = errors.New("symbolic link forms a loop; not followed")
	ErrNameCollision  = errors.New("output name collides with another image (same path, other extension)")
)

// ImageFile is one input image found by ListImages.
type ImageFile struct {
	// Path is the file's path: root joined with its path under root.
	Path string
	// Rel is the slash-separated path under root without the extension:
	// the name every output of this image is stored under.
	Rel string
	// Err, if not nil, says why this entry is not to be processed (a
	// symbolic link leading out of the tree, a loop, a name collision).
	Err error
}

// ListImages walks root recursively and returns its image files (by
// extension, case-insensitive) in a deterministic order: entries of a
// folder sorted by name, depth first. Hidden files and folders (leading
// dot) are skipped. Symbolic links are followed only when they resolve to a
// place inside root and do not lead back into a folder being walked; other
// links are returned with Err set, as are images whose Rel collides with an
// earlier one (a.jpg and a.png). The error is for root itself being
// unreadable; unreadable sub-folders are returned as entries with Err set.
func ListImages(root string) ([]ImageFile, error) {
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, fmt.Errorf("input folder: %w", err)
	}
	realRoot, err = filepath.Abs(realRoot)
	if err != nil {
		return nil, fmt.Errorf("input folder: %w", err)
	}
	if fi, err := os.Stat(realRoot); err != nil {
		return nil, fmt.Errorf("input folder: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("input folder %s: not a directory", root)
	}
	w := walker{root: root, realRoot: realRoot, seen: map[string]int{}, active: map[string]bool{}}
	w.walk(realRoot, "")
	return w.out, nil
}

type walker struct {
	root, realRoot string
	out            []ImageFile
	seen           map[string]int // Rel -> index in out
	active         map[string]bool
}

func (w *walker) walk(realDir, relDir string) {
	w.active[realDir] = true
	defer delete(w.active, realDir)
	entries, err := os.ReadDir(realDir)
	if err != nil {
		w.out = append(w.out, ImageFile{Path: filepath.Join(w.root, filepath.FromSlash(relDir)), Rel: relDir, Err: err})
		return
	}
	// os.ReadDir sorts by name already.
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		rel := name
		if relDir != "" {
			rel = relDir + "/" + name
		}
		path := filepath.Join(w.root, filepath.FromSlash(rel))
		real := filepath.Join(realDir, name)
		mode := e.Type()
		if mode&fs.ModeSymlink != 0 {
			target, err := filepath.EvalSymlinks(real)
			if err != nil {
				if IsImageName(name) {
					w.out = append(w.out, ImageFile{Path: path, Rel: trimExt(rel), Err: err})
				}
				continue
			}
			if !within(w.realRoot, target) {
				w.out = append(w.out, ImageFile{Path: path, Rel: trimExt(rel), Err: ErrSymlinkOutside})
				continue
			}
			fi, err := os.Stat(target)
			if err != nil {
				continue
			}
			if fi.IsDir() {
				// A link to a folder being walked, or to one that holds the
				// current folder, would lead back here.
				if w.active[target] || within(target, realDir) {
					w.out = append(w.out, ImageFile{Path: path, Rel: rel, Err: ErrSymlinkLoop})
					continue
				}
				w.walk(target, rel)
				continue
			}
			mode = fi.Mode().Type()
		}
		switch {
		case mode.IsDir():
			w.walk(real, rel)
		case mode.IsRegular() && IsImageName(name):
			f := ImageFile{Path: path, Rel: trimExt(rel)}
			if i, dup := w.seen[f.Rel]; dup {
				f.Err = fmt.Errorf("%w: %s", ErrNameCollision, w.out[i].Path)
			} else {
				w.seen[f.Rel] = len(w.out)
			}
			w.out = append(w.out, f)
		}
	}
}

func trimExt(rel string) string { return strings.TrimSuffix(rel, filepath.Ext(rel)) }

// within reports whether path is dir or lies below it; both are absolute
// and free of symbolic links.
func within(dir, path string) bool {
	r, err := filepath.Rel(dir, path)
	return err == nil && r != ".." && !strings.HasPrefix(r, ".."+string(filepath.Separator))
}
