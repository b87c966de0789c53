package pipeline

import (
	"cmp"
	"context"
	"fmt"
	"image"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/segdiscover/segdiscover/pipeline/artifact"
	"github.com/segdiscover/segdiscover/pipeline/store"
	"github.com/segdiscover/segdiscover/pipeline/store/bucket"
)

// Inputs in a bucket: IN_DIR may be a bucket URL (s3://BUCKET/PREFIX, ...,
// file:///folder), whose objects under the prefix are the input files, as
// a folder's files are. The images are listed (Store.List), named and
// ordered as ListImages does for a folder with the same files, and read
// through Store.NewReader; their cache keys are the hashes of their bytes,
// as for files, so a run over a bucket and one over a copy of it in a
// folder compute, and reuse, the same artifacts.

// isURL reports whether location is a URL rather than a path.
func isURL(location string) bool {
	_, ok := store.URLScheme(location)
	return ok
}

// absInput is the input folder as run.json and the shard records hold it:
// an absolute path, or the URL as given.
func absInput(in string) string {
	if isURL(in) {
		return in
	}
	abs, err := filepath.Abs(in)
	if err != nil {
		return in
	}
	return abs
}

// listInputsAt lists the images of the folder or bucket prefix dir (see
// listInputs); the returned store, nil for a folder, holds a bucket's
// images until closed.
func listInputsAt(ctx context.Context, dir string) ([]ImageFile, store.Store, error) {
	if !isURL(dir) {
		files, err := listInputs(dir)
		return files, nil, err
	}
	st, err := bucket.Open(ctx, "input folder", dir)
	if err != nil {
		return nil, nil, err
	}
	files, err := listStoreImages(ctx, st)
	if err == nil && len(files) == 0 {
		err = fmt.Errorf("no images in %s (looked for %s)", st.Location(""), imageExtList())
	}
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return files, st, nil
}

// listImagesAt is ListImages of a folder or a bucket prefix (see
// listInputsAt): no error for one without images.
func listImagesAt(ctx context.Context, dir string) ([]ImageFile, store.Store, error) {
	if !isURL(dir) {
		files, err := ListImages(dir)
		return files, nil, err
	}
	st, err := bucket.Open(ctx, "input folder", dir)
	if err != nil {
		return nil, nil, err
	}
	files, err := listStoreImages(ctx, st)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return files, st, nil
}

// listStoreImages is ListImages over the objects of st: those whose name
// has an image extension and no hidden (leading-dot) part, in the order a
// walk of the same tree as folders would give (depth first, each
// folder's entries by name: keys compared part by part).
func listStoreImages(ctx context.Context, st store.Store) ([]ImageFile, error) {
	var keys []string
	for info, err := range st.List(ctx, "") {
		if err != nil {
			return nil, fmt.Errorf("input folder: %w", err)
		}
		if hidden(info.Key) || !IsImageName(info.Key) {
			continue
		}
		keys = append(keys, info.Key)
	}
	slices.SortFunc(keys, func(a, b string) int {
		return slices.CompareFunc(strings.Split(a, "/"), strings.Split(b, "/"), cmp.Compare[string])
	})
	files := make([]ImageFile, len(keys))
	for i, k := range keys {
		files[i] = ImageFile{Path: st.Location(k), Rel: trimExt(k), src: st, key: k}
	}
	return nameOutputs(files), nil
}

// hidden reports whether a part of key starts with a dot.
func hidden(key string) bool {
	for part := range strings.SplitSeq(key, "/") {
		if strings.HasPrefix(part, ".") {
			return true
		}
	}
	return false
}

// open opens the input f, a file or an object. (The input helpers are
// methods so that callers holding an ImageFile or a pointer to one call
// them alike.)
func (f ImageFile) open() (io.ReadCloser, error) {
	if f.src != nil {
		return f.src.NewReader(context.Background(), f.key)
	}
	return os.Open(f.Path)
}

// read is readInput for a file or an object.
func (f ImageFile) read() ([]byte, error) {
	if f.src == nil {
		return readInput(f.Path)
	}
	r, err := f.open()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, artifact.MaxImageFileBytes+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("read %s: %w", f.Path, err)
	case len(data) > artifact.MaxImageFileBytes:
		return nil, fmt.Errorf("object is above the %d-byte limit for an image", artifact.MaxImageFileBytes)
	case len(data) == 0:
		return nil, artifact.ErrEmpty
	}
	return data, nil
}

// load is LoadImage for a file or an object.
func (f ImageFile) load(maxPixels int) (*image.NRGBA, error) {
	if f.src == nil {
		return LoadImage(f.Path, maxPixels)
	}
	r, err := f.open()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	img, err := artifact.DecodeImage(r, maxPixels)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	return img, nil
}
