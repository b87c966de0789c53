package pipeline

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// AdaptRecord is the "adapt" section of OUT2/run.json, written by
// segdiscover adapt: where the concepts came from and how they drifted
// (README.md, "adapt"). Its fields are a documented output format.
type AdaptRecord struct {
	Model         string  `json:"model"`                // the model folder (OUT), absolute
	ModelInDir    string  `json:"model_in_dir"`         // the images the model was trained on
	ModelConcepts string  `json:"model_concepts"`       // cluster key of the model's concepts
	ModelNetwork  string  `json:"model_network_sha256"` // SHA-256 of its model/segnet.safetensors
	Keep          float64 `json:"keep"`
	Agreement     bool    `json:"agreement"`
	Relevance     float64 `json:"relevance"`
	driftRecord
}

// driftRecord is what the adapted mixture says (also OUT2/model/drift.json,
// the cache of the adapt cluster stage).
type driftRecord struct {
	Iterations int     `json:"em_iterations"`
	Converged  bool    `json:"em_converged"`
	LogLik     float64 `json:"em_log_lik"` // mean log-likelihood per target superpixel
	// The novelty test: a target superpixel is novel when its log-density
	// under the adapted mixture is below NoveltyThreshold, the Expected-
	// quantile of the model's own superpixels' under the model's mixture
	// (SourceRows of them). NovelShareSource is the share below it under
	// the model's mixture itself (before adaptation: also counts what a
	// shift of the whole target moved away).
	NovelShare       float64 `json:"novel_share"`
	NovelShareSource float64 `json:"novel_share_source"`
	Expected         float64 `json:"novelty_quantile"`
	Threshold        float64 `json:"novelty_threshold"`
	SuggestNew       bool    `json:"new_concept_suggested"` // NovelShare - Expected >= 1/(2K)
	SourceRows       int     `json:"source_superpixels"`
	TargetRows       int     `json:"target_superpixels"`
	// The most common image size of each side, "WxH".
	SourceImageSize string         `json:"source_image_size"`
	TargetImageSize string         `json:"target_image_size"`
	Concepts        []ConceptDrift `json:"concepts"`
}

// ConceptDrift is one concept's line of the drift account.
type ConceptDrift struct {
	ID     int    `json:"id"`
	Name   string `json:"name"`
	Colour string `json:"colour"`
	// Pixel shares of the model's masks and of OUT2's masks; superpixel
	// shares: the model's mixture weight, and the target superpixels the
	// adapted mixture assigns to it.
	SourcePixelShare      float64 `json:"source_pixel_share"`
	TargetPixelShare      float64 `json:"target_pixel_share"`
	SourceWeight          float64 `json:"source_superpixel_share"`
	TargetSuperpixelShare float64 `json:"target_superpixel_share"`
	// MeanShift is how far the concept's mean moved, Euclidean, in the
	// standardised feature space (z-scores of the model's normaliser);
	// MeanShiftSD the same in units of the concept's own spread
	// (Mahalanobis under its source covariance; -1 if not computable).
	MeanShift   float64 `json:"mean_shift"`
	MeanShiftSD float64 `json:"mean_shift_sd"`
	// Alpha is the MAP adaptation weight n/(n + relevance): near 1 the
	// target decided the concept, near 0 the model did. Vanished: alpha
	// < 1/2, the target barely holds the concept.
	Alpha    float64 `json:"alpha"`
	Vanished bool    `json:"vanished"`
	// Rectification of the pseudo-labels for fine-tuning (conceptRectify).
	Threshold     float64 `json:"pseudolabel_threshold"`
	KeptShare     float64 `json:"kept_share"`       // of its pseudo-labelled pixels, kept
	Agreement     float64 `json:"source_agreement"` // share of its confident pixels the model's network agrees on
	AgreementUsed bool    `json:"agreement_used"`
}

func newAdaptRecord(src *sourceModel, as AdaptSettings) *AdaptRecord {
	a := &AdaptRecord{Model: src.abs, ModelInDir: src.inDir, ModelConcepts: src.clusterKey, ModelNetwork: src.netKey,
		Keep: as.Keep, Agreement: !as.NoAgreement, Relevance: as.Relevance}
	for _, c := range src.concepts {
		a.Concepts = append(a.Concepts, ConceptDrift{ID: c.ID, Name: c.Name, Colour: c.Colour})
	}
	return a
}

// setDrift takes the adapted mixture's figures, keeping names and colours.
func (a *AdaptRecord) setDrift(d *driftRecord) {
	cs := a.Concepts
	a.driftRecord = *d
	a.Concepts = cs
	for _, dc := range d.Concepts {
		if dc.ID < 0 || dc.ID >= len(cs) {
			continue
		}
		c := &cs[dc.ID]
		c.SourcePixelShare, c.SourceWeight, c.TargetSuperpixelShare = dc.SourcePixelShare, dc.SourceWeight, dc.TargetSuperpixelShare
		c.MeanShift, c.MeanShiftSD, c.Alpha, c.Vanished = dc.MeanShift, dc.MeanShiftSD, dc.Alpha, dc.Vanished
	}
}

func (a *AdaptRecord) setRectify(rec *rectifyRecord) {
	for _, rc := range rec.Concepts {
		if rc.ID < 0 || rc.ID >= len(a.Concepts) {
			continue
		}
		c := &a.Concepts[rc.ID]
		c.Threshold, c.Agreement, c.AgreementUsed = rc.Threshold, rc.Agreement, rc.AgreementUsed
		c.KeptShare = 0
		if rc.Pixels > 0 {
			c.KeptShare = float64(rc.Kept) / float64(rc.Pixels)
		}
	}
}

// write prints the drift account for people.
func (a *AdaptRecord) write(w io.Writer, inDir string) {
	fmt.Fprintf(w, "drift from the model %s (%s images) to %s (%s images):\n", a.Model, orUnknown(a.SourceImageSize), inDir, orUnknown(a.TargetImageSize))
	fmt.Fprintf(w, "  %-3s %-20s %8s %8s %7s %7s %6s\n", "id", "name", "pix src", "pix tgt", "moved", "(sd)", "alpha")
	var vanished []string
	for _, c := range a.Concepts {
		fmt.Fprintf(w, "  %-3d %-20s %7.1f%% %7.1f%% %7.2f %7.2f %6.2f\n", c.ID, clip(c.Name, 20),
			100*c.SourcePixelShare, 100*c.TargetPixelShare, c.MeanShift, c.MeanShiftSD, c.Alpha)
		if c.Vanished {
			vanished = append(vanished, fmt.Sprintf("%d %q", c.ID, c.Name))
		}
	}
	if len(vanished) > 0 {
		fmt.Fprintf(w, "  vanished (the target barely holds them; kept as in the model): %s\n", strings.Join(vanished, ", "))
	}
	if a.SuggestNew {
		fmt.Fprintf(w, "  new concept suggested: %.1f%% of the target's superpixels are unlikely under every concept of the model (%.0f%% of the model's own are); "+
			"the model's vocabulary lacks something the target has: see a fresh `segdiscover run` of %s with --concepts %d\n",
			100*a.NovelShare, 100*a.Expected, inDir, len(a.Concepts)+1)
	} else if a.TargetRows > 0 {
		fmt.Fprintf(w, "  no new concept suggested: %.1f%% of the target's superpixels are unlikely under every concept of the model (%.0f%% of the model's own are)\n",
			100*a.NovelShare, 100*a.Expected)
	}
	if a.SourceImageSize != "" && a.TargetImageSize != "" && a.SourceImageSize != a.TargetImageSize {
		fmt.Fprintf(w, "  note: the images differ in size (%s vs %s); --segments is per image, so superpixels cover other areas\n",
			a.SourceImageSize, a.TargetImageSize)
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "?"
	}
	return s
}

func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// readJSONFile decodes the JSON file p into v.
func readJSONFile(p string, v any) error {
	data, err := readSmallFile(p)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(p), err)
	}
	return nil
}
