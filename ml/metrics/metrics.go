// Package metrics scores segmentations per class, as the published pipeline and the grey-matter challenge do:
// Dice, Jaccard, precision (PPV), recall (TPR), specificity (TNR), the conformity coefficient, and the symmetric
// Hausdorff and mean surface distances in pixels and in millimetres.
//
// Inputs are class-index maps (0 = background, 1..K = classes, x fastest: pixel (x, y) at x + y*w) or binary
// masks (any non-zero value is foreground).
//
// Empty masks have defined results and never give NaN:
//   - A ratio whose denominator is 0 is 1 when prediction and truth are both empty for that class (perfect
//     agreement), and 0 otherwise. So both empty: Dice, Jaccard, precision, recall 1; prediction empty and truth
//     not: precision and recall 0; truth empty and prediction not: recall 0, precision 0. Specificity with no
//     negative pixels is 1.
//   - Conformity = (3*Dice - 2) / Dice in percent (100 at Dice 1, 0 at Dice 2/3); at Dice 0 it is -Inf, its limit.
//   - Distances are 0 when both masks are empty and +Inf when exactly one is.
//
// In JSON the non-finite values (+Inf distances, -Inf conformity) are written as null and read back as the same
// infinities, so results always serialise.
package metrics

import (
	"encoding/json"
	"fmt"
	"math"
)

// Confusion counts the pixels of one class: predicted and true (TP), predicted only (FP), true only (FN),
// neither (TN).
type Confusion struct {
	TP int64 `json:"tp"`
	FP int64 `json:"fp"`
	FN int64 `json:"fn"`
	TN int64 `json:"tn"`
}

// Count compares pred and truth for one class.
func Count(pred, truth []uint8, class uint8) Confusion {
	var c Confusion
	for i, p := range pred {
		switch pp, tt := p == class, truth[i] == class; {
		case pp && tt:
			c.TP++
		case pp:
			c.FP++
		case tt:
			c.FN++
		default:
			c.TN++
		}
	}
	return c
}

// Add sums two sets of counts (for pooling slices).
func (c Confusion) Add(o Confusion) Confusion {
	return Confusion{c.TP + o.TP, c.FP + o.FP, c.FN + o.FN, c.TN + o.TN}
}

// bothEmpty reports that neither prediction nor truth holds the class.
func (c Confusion) bothEmpty() bool { return c.TP == 0 && c.FP == 0 && c.FN == 0 }

// ratio is num/den, with 0/0 defined as 1 when both masks are empty and 0 otherwise.
func (c Confusion) ratio(num, den int64) float64 {
	if den == 0 {
		if c.bothEmpty() {
			return 1
		}
		return 0
	}
	return float64(num) / float64(den)
}

// Dice is 2TP / (2TP + FP + FN).
func (c Confusion) Dice() float64 { return c.ratio(2*c.TP, 2*c.TP+c.FP+c.FN) }

// Jaccard is TP / (TP + FP + FN).
func (c Confusion) Jaccard() float64 { return c.ratio(c.TP, c.TP+c.FP+c.FN) }

// Precision (positive predictive value) is TP / (TP + FP).
func (c Confusion) Precision() float64 { return c.ratio(c.TP, c.TP+c.FP) }

// Recall (sensitivity, true positive rate) is TP / (TP + FN).
func (c Confusion) Recall() float64 { return c.ratio(c.TP, c.TP+c.FN) }

// Specificity (true negative rate) is TN / (TN + FP); 1 when there is no negative pixel.
func (c Confusion) Specificity() float64 {
	if c.TN+c.FP == 0 {
		return 1
	}
	return float64(c.TN) / float64(c.TN+c.FP)
}

// Conformity is (3*Dice - 2) / Dice in percent; -Inf at Dice 0.
func (c Confusion) Conformity() float64 {
	d := c.Dice()
	if d == 0 {
		return math.Inf(-1)
	}
	return (3*d - 2) / d * 100
}

// ClassMetrics are one class's scores, for one slice or pooled over many (see Accumulator).
type ClassMetrics struct {
	Class     int       `json:"class"`
	Name      string    `json:"name,omitempty"` // the class's name, where the caller knows it (this package does not)
	Confusion Confusion `json:"confusion"`

	Dice        float64 `json:"dice"`
	Jaccard     float64 `json:"jaccard"`
	Precision   float64 `json:"precision"`
	Recall      float64 `json:"recall"`
	Specificity float64 `json:"specificity"`
	Conformity  float64 `json:"conformity"` // percent; -Inf at Dice 0

	HausdorffPx   float64 `json:"hausdorffPx"` // symmetric Hausdorff distance between the surfaces
	HausdorffMM   float64 `json:"hausdorffMm"`
	MeanSurfacePx float64 `json:"meanSurfacePx"` // mean over both surfaces' points of the distance to the other surface
	MeanSurfaceMM float64 `json:"meanSurfaceMm"`

	Slices         int `json:"slices"`         // slices scored
	SlicesOneEmpty int `json:"slicesOneEmpty"` // of which exactly one mask was empty (no surface distance)
}

func (m *ClassMetrics) setOverlap(c Confusion) {
	m.Confusion = c
	m.Dice, m.Jaccard = c.Dice(), c.Jaccard()
	m.Precision, m.Recall, m.Specificity = c.Precision(), c.Recall(), c.Specificity()
	m.Conformity = c.Conformity()
}

// wireMetrics shadows the fields that may be infinite with pointers, nil meaning the documented infinity.
type wireMetrics struct {
	plainMetrics
	Conformity    *float64 `json:"conformity"`
	HausdorffPx   *float64 `json:"hausdorffPx"`
	HausdorffMM   *float64 `json:"hausdorffMm"`
	MeanSurfacePx *float64 `json:"meanSurfacePx"`
	MeanSurfaceMM *float64 `json:"meanSurfaceMm"`
}

type plainMetrics ClassMetrics

func finite(v float64) *float64 {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return nil
	}
	return &v
}

// MarshalJSON writes infinite values as null.
func (m ClassMetrics) MarshalJSON() ([]byte, error) {
	return json.Marshal(wireMetrics{
		plainMetrics: plainMetrics(m),
		Conformity:   finite(m.Conformity),
		HausdorffPx:  finite(m.HausdorffPx), HausdorffMM: finite(m.HausdorffMM),
		MeanSurfacePx: finite(m.MeanSurfacePx), MeanSurfaceMM: finite(m.MeanSurfaceMM),
	})
}

// legacyNames are the snake_case names that model files written before 2026-12 used for these fields.
type legacyNames struct {
	HausdorffPx    *float64 `json:"hausdorff_px"`
	HausdorffMM    *float64 `json:"hausdorff_mm"`
	MeanSurfacePx  *float64 `json:"mean_surface_px"`
	MeanSurfaceMM  *float64 `json:"mean_surface_mm"`
	SlicesOneEmpty *int     `json:"slices_one_empty"`
}

// UnmarshalJSON reads null as -Inf for conformity and +Inf for distances, and the legacy snake_case names.
func (m *ClassMetrics) UnmarshalJSON(b []byte) error {
	var w wireMetrics
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	var legacy legacyNames
	if err := json.Unmarshal(b, &legacy); err != nil {
		return err
	}
	if legacy.SlicesOneEmpty != nil {
		w.SlicesOneEmpty = *legacy.SlicesOneEmpty
	}
	for _, f := range []struct{ current, old **float64 }{{&w.HausdorffPx, &legacy.HausdorffPx}, {&w.HausdorffMM, &legacy.HausdorffMM},
		{&w.MeanSurfacePx, &legacy.MeanSurfacePx}, {&w.MeanSurfaceMM, &legacy.MeanSurfaceMM}} {
		if *f.current == nil {
			*f.current = *f.old
		}
	}
	*m = ClassMetrics(w.plainMetrics)
	or := func(p *float64, inf float64) float64 {
		if p == nil {
			return inf
		}
		return *p
	}
	m.Conformity = or(w.Conformity, math.Inf(-1))
	m.HausdorffPx, m.HausdorffMM = or(w.HausdorffPx, math.Inf(1)), or(w.HausdorffMM, math.Inf(1))
	m.MeanSurfacePx, m.MeanSurfaceMM = or(w.MeanSurfacePx, math.Inf(1)), or(w.MeanSurfaceMM, math.Inf(1))
	return nil
}

func check(pred, truth []uint8, w, h int, spacing [2]float64) error {
	if w <= 0 || h <= 0 {
		return fmt.Errorf("metrics: size %dx%d is not positive", w, h)
	}
	if len(pred) != w*h || len(truth) != w*h {
		return fmt.Errorf("metrics: prediction has %d pixels and truth %d, want %d*%d", len(pred), len(truth), w, h)
	}
	if !(spacing[0] > 0 && spacing[1] > 0) || math.IsInf(spacing[0], 0) || math.IsInf(spacing[1], 0) {
		return fmt.Errorf("metrics: spacing %v must be positive and finite", spacing)
	}
	return nil
}

// Slice scores one slice for each of classes (class indices 0..255; include 0 to score the background).
func Slice(pred, truth []uint8, w, h int, spacing [2]float64, classes []int) ([]ClassMetrics, error) {
	if err := check(pred, truth, w, h, spacing); err != nil {
		return nil, err
	}
	out := make([]ClassMetrics, len(classes))
	for i, class := range classes {
		if class < 0 || class > 255 {
			return nil, fmt.Errorf("metrics: class %d outside 0..255", class)
		}
		p, t := classMask(pred, uint8(class)), classMask(truth, uint8(class))
		out[i] = sliceMetrics(p, t, w, h, spacing).result(class)
	}
	return out, nil
}

// Binary scores one slice of binary masks (non-zero = foreground), reported as class 1.
func Binary(pred, truth []uint8, w, h int, spacing [2]float64) (ClassMetrics, error) {
	if err := check(pred, truth, w, h, spacing); err != nil {
		return ClassMetrics{}, err
	}
	fg := func(m []uint8) []bool {
		out := make([]bool, len(m))
		for i, v := range m {
			out[i] = v != 0
		}
		return out
	}
	return sliceMetrics(fg(pred), fg(truth), w, h, spacing).result(1), nil
}

func classMask(m []uint8, class uint8) []bool {
	out := make([]bool, len(m))
	for i, v := range m {
		out[i] = v == class
	}
	return out
}

// tally is what pooling needs from each slice for one class.
type tally struct {
	conf                   Confusion
	hdPx, hdMM             float64 // largest surface distance seen
	sumPx, sumMM           float64 // sums of surface distances, both directions
	points                 int64   // surface points summed over
	slices, oneEmpty, both int     // slices seen; with exactly one mask empty; with both masks non-empty
}

func sliceMetrics(pred, truth []bool, w, h int, spacing [2]float64) tally {
	var c Confusion
	for i, p := range pred {
		switch t := truth[i]; {
		case p && t:
			c.TP++
		case p:
			c.FP++
		case t:
			c.FN++
		default:
			c.TN++
		}
	}
	t := tally{conf: c, slices: 1}
	predEmpty, truthEmpty := c.TP+c.FP == 0, c.TP+c.FN == 0
	switch {
	case predEmpty && truthEmpty:
	case predEmpty || truthEmpty:
		t.oneEmpty = 1
	default:
		t.both = 1
		sp, st := surface(pred, w, h), surface(truth, w, h)
		for _, unit := range []struct {
			spacing  [2]float64
			max, sum *float64
		}{{[2]float64{1, 1}, &t.hdPx, &t.sumPx}, {spacing, &t.hdMM, &t.sumMM}} {
			for _, dir := range [][2][]int{{sp, st}, {st, sp}} {
				d := distanceTo(dir[1], w, h, unit.spacing)
				for _, i := range dir[0] {
					*unit.max = math.Max(*unit.max, d[i])
					*unit.sum += d[i]
				}
			}
		}
		t.points = int64(len(sp) + len(st))
	}
	return t
}

func (t *tally) add(o tally) {
	t.conf = t.conf.Add(o.conf)
	t.hdPx, t.hdMM = math.Max(t.hdPx, o.hdPx), math.Max(t.hdMM, o.hdMM)
	t.sumPx += o.sumPx
	t.sumMM += o.sumMM
	t.points += o.points
	t.slices += o.slices
	t.oneEmpty += o.oneEmpty
	t.both += o.both
}

func (t tally) result(class int) ClassMetrics {
	m := ClassMetrics{Class: class, Slices: t.slices, SlicesOneEmpty: t.oneEmpty}
	m.setOverlap(t.conf)
	switch {
	case t.both > 0:
		m.HausdorffPx, m.HausdorffMM = t.hdPx, t.hdMM
		m.MeanSurfacePx, m.MeanSurfaceMM = t.sumPx/float64(t.points), t.sumMM/float64(t.points)
	case t.oneEmpty > 0:
		inf := math.Inf(1)
		m.HausdorffPx, m.HausdorffMM, m.MeanSurfacePx, m.MeanSurfaceMM = inf, inf, inf, inf
	}
	return m
}

// Accumulator pools the scores of a set of slices (an evaluation split, a volume):
//   - Overlap scores (Dice ... conformity) come from the confusion counts summed over all slices, so large and
//     small slices weigh by their pixels, and a slice where the class is absent from both masks adds only
//     true negatives.
//   - Distances are measured within each slice (slice thickness is not known here) and pooled over the slices
//     where both masks hold the class: Hausdorff is the largest over those slices, the mean surface distance
//     the mean over all their surface points. Slices where exactly one mask holds the class are counted in
//     SlicesOneEmpty and left out of the distances, which are then +Inf only if no slice had both masks
//     non-empty, and 0 if every slice had both empty.
type Accumulator struct {
	classes []int
	tallies []tally
}

// NewAccumulator pools the given classes.
func NewAccumulator(classes []int) (*Accumulator, error) {
	for _, c := range classes {
		if c < 0 || c > 255 {
			return nil, fmt.Errorf("metrics: class %d outside 0..255", c)
		}
	}
	return &Accumulator{classes: append([]int(nil), classes...), tallies: make([]tally, len(classes))}, nil
}

// Add scores one slice, pools it, and returns the slice's own per-class scores. Spacing may differ between
// slices (different volumes).
func (a *Accumulator) Add(pred, truth []uint8, w, h int, spacing [2]float64) ([]ClassMetrics, error) {
	if err := check(pred, truth, w, h, spacing); err != nil {
		return nil, err
	}
	out := make([]ClassMetrics, len(a.classes))
	for i, class := range a.classes {
		t := sliceMetrics(classMask(pred, uint8(class)), classMask(truth, uint8(class)), w, h, spacing)
		a.tallies[i].add(t)
		out[i] = t.result(class)
	}
	return out, nil
}

// Result returns the pooled per-class scores of the slices added so far.
func (a *Accumulator) Result() []ClassMetrics {
	out := make([]ClassMetrics, len(a.classes))
	for i, class := range a.classes {
		out[i] = a.tallies[i].result(class)
	}
	return out
}
