package pipeline

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/sourcegraph/conc/pool"

	"github.com/segdiscover/segdiscover/pipeline/artifact"
	"github.com/segdiscover/segdiscover/pseudolabel"
	"github.com/segdiscover/segdiscover/superpixel"
)

// ErrNoPrediction is the failure of a ground-truth file that has no
// prediction of the same <rel>.
var ErrNoPrediction = errors.New("no prediction for this ground truth")

// MaskEvalOptions control EvaluateMasks. The zero value gives the defaults.
type MaskEvalOptions struct {
	// NumClasses is the number of ground-truth classes; 0 means the number
	// of names in classes.txt beside the ground-truth folder (or in it).
	NumClasses int
	// Ignore is the ground-truth value left out of the evaluation; nil
	// means pseudolabel.DefaultIgnore (255).
	Ignore *int
	// ManyToOne asks for the many-to-one scores; nil means only when there
	// are more predicted ids than classes.
	ManyToOne *bool
	// MaxPixels refuses larger files (DefaultMaxPixels if <= 0).
	MaxPixels int
	// Workers is the number of files decoded at once (GOMAXPROCS if <= 0).
	Workers int
	// Logger receives progress and warnings (nil: none).
	Logger *slog.Logger
}

// MaskEvalReport is the result of EvaluateMasks. Its JSON form extends
// that of peers/eval_miou.py.
type MaskEvalReport struct {
	pseudolabel.Scores
	// Boundary is the boundary F-measure of the predictions against the
	// ground-truth class boundaries (pseudolabel.Boundaries).
	Boundary pseudolabel.BoundaryScore `json:"boundary"`
	Images   int                       `json:"n_images"` // image pairs evaluated
	Classes  []string                  `json:"classes"`  // class names from classes.txt, null if none
	// Ignore is the ground-truth void value used.
	Ignore int `json:"ignore"`
	// Failures are the ground-truth files left out: no prediction, a size
	// mismatch, an unreadable file or a value that is not a class.
	Failures []EvalProblem `json:"failures,omitempty"`
	// NoGroundTruth lists predictions (by <rel>) that have no ground truth;
	// they are not evaluated. Confidence maps (<rel>.conf) are not listed.
	NoGroundTruth []string `json:"no_ground_truth,omitempty"`
}

// EvalProblem is a file left out of an evaluation, and why.
type EvalProblem struct {
	Rel   string `json:"rel"`
	Path  string `json:"path"`
	Error string `json:"error"`
}

// ReadClasses returns the non-empty lines, trimmed, of classes.txt beside
// gtDir, or else inside it; nil if there is none.
func ReadClasses(gtDir string) ([]string, error) {
	for _, p := range []string{
		filepath.Join(filepath.Dir(filepath.Clean(gtDir)), "classes.txt"),
		filepath.Join(gtDir, "classes.txt"),
	} {
		f, err := os.Open(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		} else if err != nil {
			return nil, fmt.Errorf("classes: %w", err)
		}
		names, err := artifact.DecodeClasses(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("classes %s: %w", p, err)
		}
		return names, nil
	}
	return nil, nil
}

// listIDFiles lists the image files of dir by <rel>; entries ListImages
// flags (links out of the tree, name collisions) come back as problems.
func listIDFiles(dir string) (map[string]ImageFile, []ImageFile, []EvalProblem, error) {
	files, err := ListImages(dir)
	if err != nil {
		return nil, nil, nil, err
	}
	byRel := make(map[string]ImageFile, len(files))
	var ok []ImageFile
	var bad []EvalProblem
	for _, f := range files {
		if f.Err != nil {
			bad = append(bad, EvalProblem{f.Rel, f.Path, f.Err.Error()})
			continue
		}
		byRel[f.Rel] = f
		ok = append(ok, f)
	}
	return byRel, ok, bad, nil
}

func readIDMap(path string, maxPixels int) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return artifact.DecodeIDMap(bufio.NewReader(f), maxPixels)
}

func readLabelMap(path string, maxPixels int) (*superpixel.Labels, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return artifact.DecodeLabels(bufio.NewReader(f), maxPixels)
}

// EvaluateMasks scores the predictions in predDir against the ground truth
// in gtDir with the unsupervised protocol of pseudolabel.Confusion: files
// are paired by <rel> (path under the folder without extension), one
// confusion matrix is accumulated over every pair, then matched (Hungarian
// and, optionally, many-to-one). Files are read concurrently.
//
// Ground-truth files without a prediction, pairs of different sizes and
// unreadable files are left out and listed in the report's Failures; the
// error is then a *PartialError beside a valid report. Other errors (a
// folder that cannot be read, no class count, no pair at all, ctx
// cancelled) come with a nil report.
func EvaluateMasks(ctx context.Context, predDir, gtDir string, o MaskEvalOptions) (*MaskEvalReport, error) {
	if err := checkLocalPaths("mask folder", predDir, "ground-truth folder", gtDir); err != nil {
		return nil, err
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ignore := pseudolabel.DefaultIgnore
	if o.Ignore != nil {
		ignore = *o.Ignore
	}
	classes, err := ReadClasses(gtDir)
	if err != nil {
		return nil, err
	}
	nCls := o.NumClasses
	if nCls <= 0 {
		if len(classes) == 0 {
			return nil, fmt.Errorf("ground truth %s: no classes.txt beside or in the folder; give the number of classes", gtDir)
		}
		nCls = len(classes)
	}
	preds, _, predBad, err := listIDFiles(predDir)
	if err != nil {
		return nil, fmt.Errorf("predictions: %w", err)
	}
	gtByRel, gts, gtBad, err := listIDFiles(gtDir)
	if err != nil {
		return nil, fmt.Errorf("ground truth: %w", err)
	}
	if len(gts) == 0 {
		return nil, fmt.Errorf("ground truth %s: no image files", gtDir)
	}
	rep := &MaskEvalReport{Classes: classes, Ignore: ignore}
	rep.Failures = append(rep.Failures, gtBad...)
	for _, p := range predBad {
		p.Error = "prediction: " + p.Error
		rep.Failures = append(rep.Failures, p)
	}
	for rel := range preds {
		if _, ok := gtByRel[rel]; !ok && !strings.HasSuffix(rel, ".conf") {
			rep.NoGroundTruth = append(rep.NoGroundTruth, rel)
		}
	}
	slices.Sort(rep.NoGroundTruth)

	type result struct {
		conf *pseudolabel.Confusion
		bnd  *pseudolabel.Boundaries
		prob *EvalProblem
	}
	results := make([]result, len(gts))
	workers := resolveWorkers(o.Workers)
	p := pool.New().WithMaxGoroutines(workers).WithContext(ctx)
	for i, g := range gts {
		pf, ok := preds[g.Rel]
		if !ok {
			results[i].prob = &EvalProblem{g.Rel, g.Path, ErrNoPrediction.Error()}
			continue
		}
		p.Go(func(ctx context.Context) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			c := pseudolabel.NewConfusion(nCls, ignore)
			b := new(pseudolabel.Boundaries)
			if err := evalPair(c, b, pf.Path, g.Path, o.MaxPixels); err != nil {
				results[i].prob = &EvalProblem{g.Rel, g.Path, err.Error()}
				return nil
			}
			results[i].conf, results[i].bnd = c, b
			return nil
		})
	}
	if err := p.Wait(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	total := pseudolabel.NewConfusion(nCls, ignore)
	var bnd pseudolabel.Boundaries
	for _, r := range results {
		if r.prob != nil {
			rep.Failures = append(rep.Failures, *r.prob)
			continue
		}
		total.Merge(r.conf)
		bnd.Merge(r.bnd)
		rep.Images++
	}
	logProblems(log, rep.Failures)
	if len(rep.NoGroundTruth) > 0 {
		log.Info("predictions without ground truth, not evaluated", "count", len(rep.NoGroundTruth), "first", rep.NoGroundTruth[0])
	}
	if rep.Images == 0 {
		return nil, fmt.Errorf("no prediction could be evaluated (%d ground-truth files, %d failures; first: %s: %s)",
			len(gts), len(rep.Failures), rep.Failures[0].Path, rep.Failures[0].Error)
	}
	rep.Scores = total.Score(o.ManyToOne)
	rep.Boundary = bnd.Score()
	return rep, evalPartial(rep.Failures, len(gts)+len(gtBad)+len(predBad), "eval")
}

// logProblems warns about the first few problems and counts the rest, so
// that a missing folder of predictions does not flood the log.
func logProblems(log *slog.Logger, problems []EvalProblem) {
	const shown = 10
	for _, f := range problems[:min(len(problems), shown)] {
		log.Warn("left out of the evaluation", "file", f.Path, "reason", f.Error)
	}
	if len(problems) > shown {
		log.Warn("more files left out of the evaluation; see the JSON report", "count", len(problems)-shown)
	}
}

// evalPartial returns a *PartialError for problems, nil if there are none.
func evalPartial(problems []EvalProblem, total int, stage string) error {
	if len(problems) == 0 {
		return nil
	}
	pe := &PartialError{Total: total}
	for _, p := range problems {
		pe.Failures = append(pe.Failures, &FileError{Path: p.Path, Stage: stage, Err: errors.New(p.Error)})
	}
	return pe
}

func evalPair(c *pseudolabel.Confusion, b *pseudolabel.Boundaries, predPath, gtPath string, maxPixels int) error {
	pred, err := readIDMap(predPath, maxPixels)
	if err != nil {
		return fmt.Errorf("prediction %s: %w", predPath, err)
	}
	gt, err := readIDMap(gtPath, maxPixels)
	if err != nil {
		return fmt.Errorf("ground truth: %w", err)
	}
	if err := c.Add(pred, gt); err != nil {
		return fmt.Errorf("prediction %s: %w", predPath, err)
	}
	// Add checked the sizes and the id formats.
	if err := b.Add(pred, gt, c.Ignore()); err != nil {
		return fmt.Errorf("prediction %s: %w", predPath, err)
	}
	return nil
}

// SuperpixelEvalOptions control EvaluateSuperpixels. The zero value gives
// the defaults.
type SuperpixelEvalOptions struct {
	// Tolerance of boundary recall in pixels, as superpixel.QualitySettings:
	// 0 means 2, negative means 0.
	Tolerance int
	// MaxPixels refuses larger files (DefaultMaxPixels if <= 0).
	MaxPixels int
	// Workers is the number of images scored at once (GOMAXPROCS if <= 0).
	Workers int
	// Logger receives warnings (nil: none).
	Logger *slog.Logger
}

// SuperpixelEvalReport is the result of EvaluateSuperpixels; its JSON form
// extends that of peers/spmetrics.py.
type SuperpixelEvalReport struct {
	Summary   superpixel.QualitySummary     `json:"summary"`
	PerImage  map[string]superpixel.Quality `json:"per_image"` // by <rel>
	Tolerance int                           `json:"tol"`       // boundary recall tolerance used, px
	// Failures are the images left out: a prediction without ground truth
	// or the reverse, a size mismatch, an unreadable file.
	Failures []EvalProblem `json:"failures,omitempty"`
}

// annotatorRel matches a BSDS ground-truth name, <id>_<annotator>.
var annotatorRel = regexp.MustCompile(`^(.+)_([0-9]+)$`)

// EvaluateSuperpixels scores the superpixel label maps in predDir
// (<rel>.png, 8- or 16-bit ids, see DecodeLabels) against the human
// segmentations in gtDir, named <rel>_<k>.png with k the annotator
// (BSDS500). Each metric is averaged over an image's annotators, then over
// images (superpixel.Evaluate, superpixel.Summarize). Images are scored
// concurrently.
//
// Images that cannot be scored are left out and listed in the report's
// Failures, with a *PartialError beside the report. Other errors (a folder
// that cannot be read, nothing to score, ctx cancelled) come with a nil
// report.
func EvaluateSuperpixels(ctx context.Context, predDir, gtDir string, o SuperpixelEvalOptions) (*SuperpixelEvalReport, error) {
	if err := checkLocalPaths("superpixel folder", predDir, "ground-truth folder", gtDir); err != nil {
		return nil, err
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	_, preds, predBad, err := listIDFiles(predDir)
	if err != nil {
		return nil, fmt.Errorf("superpixels: %w", err)
	}
	_, gtFiles, gtBad, err := listIDFiles(gtDir)
	if err != nil {
		return nil, fmt.Errorf("ground truth: %w", err)
	}
	gts := map[string][]ImageFile{}
	for _, g := range gtFiles {
		m := annotatorRel.FindStringSubmatch(g.Rel)
		if m == nil {
			gtBad = append(gtBad, EvalProblem{g.Rel, g.Path, "ground-truth name is not <id>_<annotator>"})
			continue
		}
		gts[m[1]] = append(gts[m[1]], g)
	}
	rep := &SuperpixelEvalReport{PerImage: map[string]superpixel.Quality{}}
	rep.Failures = append(rep.Failures, gtBad...)
	rep.Failures = append(rep.Failures, predBad...)
	settings := superpixel.QualitySettings{Tolerance: o.Tolerance}
	rep.Tolerance = 2
	if o.Tolerance < 0 {
		rep.Tolerance = 0
	} else if o.Tolerance > 0 {
		rep.Tolerance = o.Tolerance
	}
	seen := map[string]bool{}
	type result struct {
		q    superpixel.Quality
		prob *EvalProblem
	}
	results := make([]result, len(preds))
	workers := resolveWorkers(o.Workers)
	p := pool.New().WithMaxGoroutines(workers).WithContext(ctx)
	for i, pf := range preds {
		seen[pf.Rel] = true
		gf := gts[pf.Rel]
		if len(gf) == 0 {
			results[i].prob = &EvalProblem{pf.Rel, pf.Path, "no ground truth <rel>_<k>.png for this label map"}
			continue
		}
		p.Go(func(ctx context.Context) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			q, err := scoreSuperpixels(pf.Path, gf, settings, o.MaxPixels)
			if err != nil {
				results[i].prob = &EvalProblem{pf.Rel, pf.Path, err.Error()}
			} else {
				results[i].q = q
			}
			return nil
		})
	}
	if err := p.Wait(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var per []superpixel.Quality
	for i, r := range results {
		if r.prob != nil {
			rep.Failures = append(rep.Failures, *r.prob)
			continue
		}
		rep.PerImage[preds[i].Rel] = r.q
		per = append(per, r.q)
	}
	ids := make([]string, 0, len(gts))
	for id := range gts {
		if !seen[id] {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		rep.Failures = append(rep.Failures, EvalProblem{id, gts[id][0].Path, ErrNoPrediction.Error()})
	}
	logProblems(log, rep.Failures)
	if len(per) == 0 {
		if len(rep.Failures) == 0 {
			return nil, fmt.Errorf("superpixels %s: no label maps", predDir)
		}
		return nil, fmt.Errorf("no label map could be scored (%d failures; first: %s: %s)",
			len(rep.Failures), rep.Failures[0].Path, rep.Failures[0].Error)
	}
	rep.Summary = superpixel.Summarize(per)
	return rep, evalPartial(rep.Failures, len(preds)+len(ids)+len(predBad), "eval superpixels")
}

func scoreSuperpixels(predPath string, gtFiles []ImageFile, s superpixel.QualitySettings, maxPixels int) (superpixel.Quality, error) {
	seg, err := readLabelMap(predPath, maxPixels)
	if err != nil {
		return superpixel.Quality{}, err
	}
	gts := make([]*superpixel.Labels, len(gtFiles))
	for k, g := range gtFiles {
		if gts[k], err = readLabelMap(g.Path, maxPixels); err != nil {
			return superpixel.Quality{}, fmt.Errorf("ground truth %s: %w", g.Path, err)
		}
	}
	q, err := superpixel.Evaluate(seg, gts, s)
	if err != nil {
		return superpixel.Quality{}, fmt.Errorf("against %s: %w", filepath.Dir(gtFiles[0].Path), err)
	}
	return q, nil
}
