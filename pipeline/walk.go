package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/segdiscover/segdiscover/pipeline/store"
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
	ErrSymlinkLoop   = errors.New("symbolic link forms a loop; not followed")
	ErrNameCollision = errors.New("output name collides with another image")
)

// ImageFile is one input image found by ListImages.
type ImageFile struct {
	// Path is the file's path: root joined with its path under root.
	Path string
	// Rel is the name every output of this image is stored under: the
	// slash-separated path under root without the extension, with the
	// extension kept when another image has the same stem (a.jpg, a.png:
	// "a.jpg", "a.png"), and a file name longer than maxStem bytes cut
	// (see shortName).
	Rel string
	// Err, if not nil, says why this entry is not to be processed (a
	// symbolic link leading out of the tree, a loop, a name collision).
	Err error

	// src and key are the store and key of an image in a bucket (Path is
	// then its URL); src is nil for a file.
	src store.Store
	key string
}

// ListImages walks root recursively and returns its image files (by
// extension, case-insensitive) in a deterministic order: entries of a
// folder sorted by name, depth first. Hidden files and folders (leading
// dot) are skipped. Symbolic links are followed, wherever they lead (users
// build subsets of a dataset with ln -s), except a link to a folder being
// walked, which would loop: it is returned with Err set. Images with the
// same stem keep their extension in Rel; one whose Rel still collides
// with an earlier one's (a.jpg beside a.jpg.png) has Err set. The error is
// for root itself being unreadable; unreadable sub-folders are returned as
// entries with Err set.
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
	w := walker{root: root, realRoot: realRoot, active: map[string]bool{}}
	w.walk(realRoot, "")
	return nameOutputs(w.out), nil
}

// maxStem is the longest file name (in bytes) an output keeps from its
// input: file systems allow 255 bytes, and outputs append up to 16
// (".conf.png", a manifest's ".json", a temporary file's prefix).
const maxStem = 200

// shortName returns name if it has at most maxStem bytes, else its first
// bytes (cut at a character boundary) followed by "~" and 8 hex digits of
// the SHA-256 of the whole name, so that long names stay distinct.
func shortName(name string) string {
	if len(name) <= maxStem {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	cut := maxStem - 9
	for cut > 0 && !utf8.RuneStart(name[cut]) {
		cut--
	}
	return name[:cut] + "~" + hex.EncodeToString(sum[:4])
}

// nameOutputs sets the Rel of every listed image: its stem, or its name
// with the extension when several images share the stem, each file name
// shortened by shortName. A Rel already taken is a collision.
func nameOutputs(files []ImageFile) []ImageFile {
	stems := map[string]int{}
	for _, f := range files {
		if f.Err == nil {
			stems[f.Rel]++
		}
	}
	taken := map[string]string{}
	for i := range files {
		f := &files[i]
		if f.Err != nil {
			continue
		}
		rel := f.Rel
		if stems[rel] > 1 {
			rel += filepath.Ext(f.Path)
		}
		dir, name := path.Split(rel)
		f.Rel = dir + shortName(name)
		if prev, dup := taken[f.Rel]; dup {
			f.Err = fmt.Errorf("%w %s: both would be stored as %q", ErrNameCollision, prev, f.Rel)
			continue
		}
		taken[f.Rel] = f.Path
	}
	return files
}

type walker struct {
	root, realRoot string
	out            []ImageFile
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
		p := filepath.Join(w.root, filepath.FromSlash(rel))
		real := filepath.Join(realDir, name)
		mode := e.Type()
		if mode&fs.ModeSymlink != 0 {
			target, err := filepath.EvalSymlinks(real)
			if err != nil {
				if IsImageName(name) {
					w.out = append(w.out, ImageFile{Path: p, Rel: trimExt(rel), Err: err})
				}
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
					w.out = append(w.out, ImageFile{Path: p, Rel: rel, Err: ErrSymlinkLoop})
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
			w.out = append(w.out, ImageFile{Path: p, Rel: trimExt(rel)})
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
