package pipeline

import (
	"context"
	"fmt"
	"image"
	"image/png"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"unicode"

	"github.com/segdiscover/segdiscover/pipeline/artifact"
	"github.com/segdiscover/segdiscover/pipeline/export"
	"github.com/segdiscover/segdiscover/pipeline/store"
	"github.com/segdiscover/segdiscover/pseudolabel"
)

// Export formats.
const (
	ExportCOCO        = "coco"
	ExportCVAT        = "cvat"
	ExportLabelStudio = "labelstudio"
	ExportPNG         = "png"
)

// ExportFormats lists the formats Export writes.
var ExportFormats = []string{ExportCOCO, ExportCVAT, ExportLabelStudio, ExportPNG}

// ExportOptions say what to export where.
type ExportOptions struct {
	OutDir      string // a run's OUT_DIR
	Format      string // one of ExportFormats
	Dir         string // where the export goes (created)
	ImagePrefix string // Label Studio: put before each image path in data.image
	MaxPixels   int    // 0: artifact.DefaultMaxPixels
	Logger      *slog.Logger
}

// ExportSummary says what Export wrote.
type ExportSummary struct {
	Images, Annotations int
	Source              string   // "masks" or "pseudolabels" (the refined masks when the network ran)
	Files               []string // written, relative to Dir ("<concept>/" for png folders)
	Skipped             []string // inputs without a mask (they failed in the run)
}

// Export writes the concept masks of the run in OutDir in an import
// format: one region per (image, concept present), named by
// concepts.json. It reads the refined masks (masks/) of images that have
// them, else their pseudo-labels.
func Export(ctx context.Context, o ExportOptions) (*ExportSummary, error) {
	if err := checkLocalPath("export folder", o.Dir); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	in, _, err := ReadRunConfig(o.OutDir)
	if err != nil {
		return nil, err
	}
	st, err := openOutput(ctx, o.OutDir, false)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	c := newStoreCache(st)
	m, err := c.readManifest(StageCluster, modelItem)
	if err != nil {
		return nil, fmt.Errorf("%s has no concepts yet (run the cluster and pseudolabel stages): %w", o.OutDir, err)
	}
	k := extraInt(m.Extra, "k")
	cs, err := readConcepts(c, k)
	if err != nil {
		return nil, err
	}
	files, inStore, err := listImagesAt(ctx, in)
	if err != nil {
		return nil, err
	}
	if inStore != nil {
		defer inStore.Close()
	}
	cats := make([]export.Category, len(cs))
	names := map[int]string{}
	for i, c := range cs {
		cats[i] = export.Category{ID: c.ID, Name: c.Name, Colour: c.Colour}
		names[c.ID] = c.Name
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	sum := &ExportSummary{Source: "pseudolabels"}
	if ok, _ := store.Exists(ctx, st, segnetFile); ok {
		sum.Source = "masks"
	}
	// each visits every exported image, one at a time.
	each := func(fn func(export.Image, *image.Paletted) error) error {
		for _, f := range files {
			if err := ctx.Err(); err != nil {
				return err
			}
			if f.Err != nil {
				sum.Skipped = append(sum.Skipped, f.Path)
				continue
			}
			mask, err := readExportMaskFrom(c, f.Rel, o.MaxPixels)
			if err != nil {
				o.Logger.Warn("export: no mask", "file", f.Path, "err", err)
				sum.Skipped = append(sum.Skipped, f.Path)
				continue
			}
			rel, err := filepath.Rel(in, f.Path)
			if f.src != nil {
				rel = f.key // the image's path under the input prefix
			} else if err != nil {
				rel = f.Path
			}
			im := export.Image{File: filepath.ToSlash(rel), Width: mask.Rect.Dx(), Height: mask.Rect.Dy(), Masks: conceptMasks(mask, k, &sum.Annotations)}
			if err := fn(im, mask); err != nil {
				return fmt.Errorf("export %s: %w", f.Path, err)
			}
			sum.Images++
		}
		return nil
	}
	write := func(name string, body func(io.Writer) error) error {
		sum.Files = append(sum.Files, name)
		return WriteFileAtomic(filepath.Join(o.Dir, name), body)
	}
	title := filepath.Base(in)
	switch o.Format {
	case ExportCOCO:
		err = write("annotations.json", func(w io.Writer) error {
			cw, err := export.NewCOCOWriter(w, cats, "segdiscover concepts of "+title)
			if err != nil {
				return err
			}
			if err := each(func(im export.Image, _ *image.Paletted) error { return cw.Add(im) }); err != nil {
				return err
			}
			return cw.Close()
		})
	case ExportCVAT:
		err = write("annotations.xml", func(w io.Writer) error {
			cw, err := export.NewCVATWriter(w, cats, title)
			if err != nil {
				return err
			}
			if err := each(func(im export.Image, _ *image.Paletted) error { return cw.Add(im, names) }); err != nil {
				return err
			}
			return cw.Close()
		})
	case ExportLabelStudio:
		if err = write("labeling-config.xml", func(w io.Writer) error { return export.LabelStudioConfig(w, cats) }); err != nil {
			break
		}
		err = write("tasks.json", func(w io.Writer) error {
			lw := export.NewLabelStudioWriter(w, o.ImagePrefix)
			if err := each(func(im export.Image, _ *image.Paletted) error { return lw.Add(im, names) }); err != nil {
				return err
			}
			return lw.Close()
		})
	case ExportPNG:
		dirs := map[int]string{}
		for _, c := range cs {
			dirs[c.ID] = fmt.Sprintf("%d-%s", c.ID, slug(c.Name))
		}
		seen := map[string]bool{}
		err = each(func(im export.Image, mask *image.Paletted) error {
			rel := trimExt(im.File)
			for m := range im.Masks {
				g := &image.Gray{Pix: make([]uint8, len(m.Pix)), Stride: m.W, Rect: image.Rect(0, 0, m.W, m.H)}
				for i, v := range m.Pix {
					if v != 0 {
						g.Pix[i] = 255
					}
				}
				d := dirs[m.Concept]
				if !seen[d] {
					seen[d] = true
					sum.Files = append(sum.Files, d+"/")
				}
				p := filepath.Join(o.Dir, d, filepath.FromSlash(path.Clean(rel))+".png")
				if err := WriteFileAtomic(p, func(w io.Writer) error { return png.Encode(w, g) }); err != nil {
					return err
				}
			}
			return nil
		})
	default:
		return nil, fmt.Errorf("format %q: want one of %s", o.Format, strings.Join(ExportFormats, ", "))
	}
	return sum, err
}

// readExportMask reads the refined mask of rel, or its pseudo-labels, from
// the output folder out.
func readExportMask(out, rel string, maxPixels int) (*image.Paletted, error) {
	return readExportMaskFrom(newCache(out), rel, maxPixels)
}

// readExportMaskFrom is readExportMask from c's output store.
func readExportMaskFrom(c *cache, rel string, maxPixels int) (*image.Paletted, error) {
	var firstErr error
	for _, p := range []string{maskPath(rel), pseudolabelPath(rel)} {
		f, err := c.open(p)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		m, err := artifact.DecodeMask(f, maxPixels)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		return m, nil
	}
	return nil, firstErr
}

// conceptMasks yields the binary mask of each concept present in mask, in
// id order, all in one buffer; it counts them in n.
func conceptMasks(mask *image.Paletted, k int, n *int) func(func(export.Mask) bool) {
	return func(yield func(export.Mask) bool) {
		w, h := mask.Rect.Dx(), mask.Rect.Dy()
		present := make([]bool, 256)
		for y := range h {
			for _, v := range mask.Pix[y*mask.Stride : y*mask.Stride+w] {
				present[v] = true
			}
		}
		buf := make([]uint8, w*h)
		for c := range min(k, pseudolabel.MaxConcepts) {
			if !present[c] {
				continue
			}
			for y := range h {
				row := mask.Pix[y*mask.Stride : y*mask.Stride+w]
				for x, v := range row {
					buf[y*w+x] = 0
					if int(v) == c {
						buf[y*w+x] = 1
					}
				}
			}
			*n++
			if !yield(export.Mask{Concept: c, Binary: export.Binary{W: w, H: h, Pix: buf}}) {
				return
			}
		}
	}
}

// slug makes a concept name safe as a folder name.
func slug(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "_"):
			b.WriteByte('_')
		}
	}
	out := strings.TrimSuffix(b.String(), "_")
	if out == "" {
		out = "concept"
	}
	if len(out) > 64 {
		out = out[:64]
	}
	return out
}
