package job

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"

	"github.com/mriworkbench/workbench/ml/train"
	"github.com/mriworkbench/workbench/store"
)

// Promotion is how a finished run's model was judged against the project's active model, and what became of
// it; it is stored in the model's metrics under "promotion".
type Promotion struct {
	Decision string `json:"decision"` // DecisionPromoted or DecisionCandidate
	// Rule says in one line why: which comparison decided, or the stated fallback when none was possible.
	Rule           string     `json:"rule"`
	AgainstModelID *int64     `json:"againstModelId,omitempty"` // the active model at the time
	Comparison     Comparison `json:"comparison"`
	Areas          AreaCheck  `json:"areas"`
}

// Promotion decisions.
const (
	DecisionPromoted  = "promoted"
	DecisionCandidate = "candidate"
)

// Comparison is the Dice of the new and the active model on slices fair to both.
type Comparison struct {
	Possible bool   `json:"possible"`
	Reason   string `json:"reason,omitempty"` // why not, when not Possible
	// Basis names the slices: BasisUnseen (neither model trained on them) or BasisSinceActive (labels the
	// active model has not seen: new slices or corrections since it was trained; the new model trained on them).
	Basis  string `json:"basis,omitempty"`
	Slices int    `json:"slices"`
	// NewDice and ActiveDice are the mean over classes of each class's Dice pooled over the slices (a class
	// absent from both the labels and a model's prediction on every slice counts 1 for that model).
	NewDice    float64           `json:"newDice"`
	ActiveDice float64           `json:"activeDice"`
	Classes    []ClassComparison `json:"classes,omitempty"`
	// activeUnusable: the active model cannot predict (its file is unreadable, or its classes differ).
	activeUnusable bool
}

// ClassComparison is one class's pooled Dice of each model.
type ClassComparison struct {
	Name       string  `json:"name"`
	NewDice    float64 `json:"newDice"`
	ActiveDice float64 `json:"activeDice"`
}

// Comparison bases.
const (
	BasisUnseen      = "unseen by both"
	BasisSinceActive = "labelled since the active model"
)

// maxCompareSlices bounds the slices compared (the most recently labelled first), so the comparison adds
// little to a run's predictions.
const maxCompareSlices = 64

// AreaCheck is the label-free check of the new model's predictions: a predicted slice whose area of a class
// is beyond what the labelled slices ever have (AreaLimit) is flagged. The active model's stored predictions of
// the same slices are checked against the same limits, so the two can be compared.
type AreaCheck struct {
	Slices        int         `json:"slices"`  // the new model's predicted slices checked
	Flagged       int         `json:"flagged"` // of them, with at least one outlier area
	ActiveSlices  int         `json:"activeSlices"`
	ActiveFlagged int         `json:"activeFlagged"`
	Blocking      bool        `json:"blocking"` // too many flags to promote automatically (see tooManyFlags)
	Limits        []AreaLimit `json:"limits"`
	Flags         []AreaFlag  `json:"flags,omitempty"` // the first maxListedFlags flagged slices
}

// AreaLimit is one class's labelled areas and the largest predicted area not flagged: the labelled maximum
// plus the larger of 1.5 interquartile ranges of the labelled areas and a quarter of their maximum; a class
// that no labelled slice has may cover at most minPresentPixels pixels of a prediction.
type AreaLimit struct {
	Class          string  `json:"class"`
	LabelledSlices int     `json:"labelledSlices"`
	LabelledMaxMM2 float64 `json:"labelledMaxMm2"`
	LimitMM2       float64 `json:"limitMm2"`
}

// AreaFlag is one flagged prediction.
type AreaFlag struct {
	VolumeID int64   `json:"volumeId"`
	Slice    int     `json:"slice"`
	Class    string  `json:"class"`
	AreaMM2  float64 `json:"areaMm2"`
	LimitMM2 float64 `json:"limitMm2"`
}

const (
	minPresentPixels = 20
	maxListedFlags   = 50
)

// tooManyFlags: more than a tenth of the new model's predicted slices flagged, and a share at least five
// points above the active model's on the same slices, keeps a model from being promoted automatically.
func tooManyFlags(a AreaCheck) bool {
	if a.Slices == 0 || float64(a.Flagged) <= 0.1*float64(a.Slices) {
		return false
	}
	activeShare := 0.0
	if a.ActiveSlices > 0 {
		activeShare = float64(a.ActiveFlagged) / float64(a.ActiveSlices)
	}
	return float64(a.Flagged)/float64(a.Slices) > activeShare+0.05
}

// decide applies the promotion rule: the first model is promoted, and so is one whose active model cannot
// predict; a model with too many flagged areas stays a candidate; otherwise the Dice comparison decides
// (promoted when at least as good); with no comparison possible (no fair slice), the model is promoted and
// the rule says so.
func decide(hasActive bool, c Comparison, a AreaCheck, force bool) (decision, rule string) {
	switch {
	case force:
		return DecisionPromoted, "promoted on request, whatever the comparison"
	case !hasActive:
		return DecisionPromoted, "promoted: the project had no active model"
	case c.activeUnusable:
		return DecisionPromoted, "promoted with no comparison (" + c.Reason + "): an active model that cannot predict is not kept"
	case a.Blocking:
		return DecisionCandidate, fmt.Sprintf("kept as a candidate: %d of %d predicted slices have outlier areas (the active model: %d of %d)",
			a.Flagged, a.Slices, a.ActiveFlagged, a.ActiveSlices)
	case !c.Possible:
		return DecisionPromoted, "promoted with no comparison (" + c.Reason + "): a model is promoted when none is possible, unless its areas are flagged"
	case c.NewDice >= c.ActiveDice:
		return DecisionPromoted, fmt.Sprintf("promoted: Dice %.3f against the active model's %.3f on %d slices %s", c.NewDice, c.ActiveDice, c.Slices, c.Basis)
	}
	return DecisionCandidate, fmt.Sprintf("kept as a candidate: Dice %.3f against the active model's %.3f on %d slices %s", c.NewDice, c.ActiveDice, c.Slices, c.Basis)
}

// sliceKey names a slice of a volume.
type sliceKey struct {
	volume int64
	slice  int
}

// comparisonInput is what a run's worker needs to judge the new model: the active model's file (checked
// here, so a file that is no model never reaches the worker), and the fair slices, chosen when the predictions
// go out. The engine runs only in the worker: the trainer's process compares class maps.
type comparisonInput struct {
	file []byte
	fair func(ctx context.Context) (basis string, labels []store.Label, err error)
}

// comparisonPrep is the project's active model as a run found it, and whether it can be compared with.
type comparisonPrep struct {
	hasActive bool
	active    store.ModelVersion
	input     *comparisonInput // nil when the active model cannot predict (unusable says why) or there is none
	unusable  string
}

// comparedSlice is a fair slice as both models predicted it.
type comparedSlice struct {
	volumeID          int64
	slice             int
	newMap, activeMap []uint8
}

// prepareComparison reads the project's active model for a run that trains on trainedOn. It never fails: what
// cannot be used is said in the result (the active model's file may be unreadable).
func (t *Trainer) prepareComparison(ctx context.Context, p plan, trainedOn []store.TrainingSlice) comparisonPrep {
	st := t.cfg.Store
	active, err := st.ActiveModel(ctx, p.project.ID)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			t.cfg.Logger.Warn("model comparison: the active model not read", "project", p.project.ID, "err", err)
		}
		return comparisonPrep{}
	}
	prep := comparisonPrep{hasActive: true, active: active}
	file, err := os.ReadFile(st.ModelPath(active))
	var m *train.Model
	if err == nil {
		m, err = train.ReadModel(bytes.NewReader(file)) // decoding only: no kernel runs here
	}
	switch k := len(p.project.Classes); {
	case err != nil:
		prep.unusable = fmt.Sprintf("the active model %d cannot be read: %s", active.ID, store.OneLine(err.Error()))
	case m.Info.Classes != k:
		prep.unusable = fmt.Sprintf("the active model %d has %d classes, the project %d", active.ID, m.Info.Classes, k)
	default:
		prep.input = &comparisonInput{file: file, fair: func(ctx context.Context) (string, []store.Label, error) {
			labels, err := st.ProjectLabels(ctx, p.project.ID)
			if err != nil {
				return "", nil, err
			}
			activeSeen, err := st.TrainingSlices(ctx, active.ID)
			if err != nil {
				return "", nil, err
			}
			basis, fair := fairSlices(labels, trainedOn, activeSeen, active)
			if len(fair) > maxCompareSlices {
				// The most recently labelled: the corrections that prompted the run.
				slices.SortStableFunc(fair, func(a, b store.Label) int { return b.CreatedAt.Compare(a.CreatedAt) })
				fair = fair[:maxCompareSlices]
			}
			return basis, fair, nil
		}}
	}
	if prep.unusable != "" {
		t.cfg.Logger.Info("model comparison not possible", "project", p.project.ID, "active", active.ID, "reason", prep.unusable)
	}
	return prep
}

// judge decides on a run's new model: its comparison with the active model (from the worker's class maps of
// the fair slices) and the label-free check of its predictions' areas.
func (t *Trainer) judge(ctx context.Context, p plan, prep comparisonPrep, res *workerResult) Promotion {
	var pr Promotion
	if prep.hasActive {
		pr.AgainstModelID = &prep.active.ID
	}
	labels, err := t.cfg.Store.ProjectLabels(ctx, p.project.ID)
	if err != nil {
		t.cfg.Logger.Warn("area check: labels not read", "project", p.project.ID, "err", err)
	}
	pr.Areas = t.checkAreas(ctx, p.project.ClassNames(), labels, res.predictions, prep.active, prep.hasActive)
	pr.Comparison = comparisonOf(prep, res, p.project.ClassNames())
	pr.Decision, pr.Rule = decide(prep.hasActive, pr.Comparison, pr.Areas, p.settings.Promote)
	return pr
}

// comparisonOf computes both models' pooled Dice on the fair slices from their class maps.
func comparisonOf(prep comparisonPrep, res *workerResult, names []string) Comparison {
	var c Comparison
	switch {
	case !prep.hasActive:
		c.Reason = "no active model"
		return c
	case prep.input == nil:
		c.Reason, c.activeUnusable = prep.unusable, true
		return c
	case res.fairErr != nil:
		c.Reason = "the fair slices could not be read: " + store.OneLine(res.fairErr.Error())
		return c
	case len(res.fair) == 0:
		c.Reason = "no labelled slice that the active model has not seen"
		return c
	}
	maps := make(map[sliceKey]comparedSlice, len(res.compared))
	for _, cs := range res.compared {
		maps[sliceKey{cs.volumeID, cs.slice}] = cs
	}
	k := len(names)
	newScore, activeScore := newDiceCounts(k), newDiceCounts(k)
	for _, l := range res.fair {
		cs, ok := maps[sliceKey{l.VolumeID, l.Slice}]
		if !ok {
			c.Reason = fmt.Sprintf("volume %d slice %d was not predicted for the comparison", l.VolumeID, l.Slice)
			return c
		}
		newScore.add(cs.newMap, l.Mask)
		activeScore.add(cs.activeMap, l.Mask)
	}
	c.Possible, c.Basis, c.Slices = true, res.fairBasis, len(res.fair)
	for cl := 1; cl <= k; cl++ {
		cc := ClassComparison{Name: names[cl-1], NewDice: newScore.dice(cl), ActiveDice: activeScore.dice(cl)}
		c.Classes = append(c.Classes, cc)
		c.NewDice += cc.NewDice / float64(k)
		c.ActiveDice += cc.ActiveDice / float64(k)
	}
	return c
}

// fairSlices picks the labels to compare on: those neither model trained on, else those the active model has
// not seen (slices not in its training set, or labelled again since; for a model stored before training sets
// were recorded, labels newer than the model).
func fairSlices(labels []store.Label, newSeen, activeSeen []store.TrainingSlice, active store.ModelVersion) (string, []store.Label) {
	seen := func(set []store.TrainingSlice) map[sliceKey]int {
		m := make(map[sliceKey]int, len(set))
		for _, ts := range set {
			m[sliceKey{ts.VolumeID, ts.Slice}] = ts.LabelVersion
		}
		return m
	}
	byNew, byActive := seen(newSeen), seen(activeSeen)
	unseenByActive := func(l store.Label) bool {
		if len(activeSeen) == 0 {
			return l.CreatedAt.After(active.CreatedAt)
		}
		return byActive[sliceKey{l.VolumeID, l.Slice}] != l.Version
	}
	var both, sinceActive []store.Label
	for _, l := range labels {
		if !unseenByActive(l) {
			continue
		}
		sinceActive = append(sinceActive, l)
		if byNew[sliceKey{l.VolumeID, l.Slice}] != l.Version {
			both = append(both, l)
		}
	}
	if len(both) > 0 {
		return BasisUnseen, both
	}
	return BasisSinceActive, sinceActive
}

// byVolume groups labels (sorted by volume, as the store lists them, or not) by volume.
func byVolume(labels []store.Label) [][]store.Label {
	sorted := slices.Clone(labels)
	slices.SortStableFunc(sorted, func(a, b store.Label) int {
		if a.VolumeID != b.VolumeID {
			return int(a.VolumeID - b.VolumeID)
		}
		return a.Slice - b.Slice
	})
	var out [][]store.Label
	for i, l := range sorted {
		if i == 0 || l.VolumeID != sorted[i-1].VolumeID {
			out = append(out, nil)
		}
		out[len(out)-1] = append(out[len(out)-1], l)
	}
	return out
}

// diceCounts pools, per class 1..K, the overlap and the sizes of predictions and labels over slices.
type diceCounts struct{ inter, pred, label []int }

func newDiceCounts(k int) diceCounts {
	return diceCounts{inter: make([]int, k+1), pred: make([]int, k+1), label: make([]int, k+1)}
}

func (d *diceCounts) add(pred, label []uint8) {
	for i := range min(len(pred), len(label)) {
		p, l := int(pred[i]), int(label[i])
		if p < len(d.pred) {
			d.pred[p]++
		}
		if l < len(d.label) {
			d.label[l]++
		}
		if p == l && p < len(d.inter) {
			d.inter[p]++
		}
	}
}

// dice is class c's pooled Dice; 1 when neither the labels nor the predictions have it.
func (d *diceCounts) dice(c int) float64 {
	if d.pred[c]+d.label[c] == 0 {
		return 1
	}
	return 2 * float64(d.inter[c]) / float64(d.pred[c]+d.label[c])
}

// checkAreas flags the new model's predictions whose class areas are beyond the labelled slices' (AreaLimit),
// and counts the active model's stored predictions of the same slices against the same limits.
func (t *Trainer) checkAreas(ctx context.Context, names []string, labels []store.Label, preds []store.Prediction,
	active store.ModelVersion, hasActive bool) AreaCheck {
	st := t.cfg.Store
	k := len(names)
	pixelArea := map[int64]float64{}
	areaOf := func(volumeID int64) float64 {
		a, ok := pixelArea[volumeID]
		if !ok {
			if v, err := st.Volume(ctx, volumeID); err == nil {
				a = v.Spacing[0] * v.Spacing[1]
			}
			pixelArea[volumeID] = a
		}
		return a
	}
	labelled := make([][]float64, k+1)
	for _, l := range labels {
		counts := classCounts(l.Mask, k)
		for c := 1; c <= k; c++ {
			labelled[c] = append(labelled[c], float64(counts[c])*areaOf(l.VolumeID))
		}
	}
	out := AreaCheck{Limits: make([]AreaLimit, k)}
	limits := make([]float64, k+1)
	for c := 1; c <= k; c++ {
		lim := AreaLimit{Class: names[c-1], LabelledSlices: len(labelled[c])}
		lim.LabelledMaxMM2, lim.LimitMM2 = areaLimit(labelled[c])
		limits[c] = lim.LimitMM2
		out.Limits[c-1] = lim
	}
	// flagged is the first class of a prediction over its limit (-1: none).
	flagged := func(volumeID int64, mask []uint8) (int, float64) {
		counts, px := classCounts(mask, k), areaOf(volumeID)
		for c := 1; c <= k; c++ {
			area := float64(counts[c]) * px
			if limits[c] > 0 && area > limits[c] || limits[c] == 0 && counts[c] > minPresentPixels {
				return c, area
			}
		}
		return -1, 0
	}
	checked := map[sliceKey]bool{}
	for _, p := range preds {
		out.Slices++
		checked[sliceKey{p.VolumeID, p.Slice}] = true
		if c, area := flagged(p.VolumeID, p.Mask); c > 0 {
			out.Flagged++
			if len(out.Flags) < maxListedFlags {
				out.Flags = append(out.Flags, AreaFlag{VolumeID: p.VolumeID, Slice: p.Slice, Class: names[c-1], AreaMM2: area, LimitMM2: limits[c]})
			}
		}
	}
	if hasActive {
		volumes := map[int64]bool{}
		for key := range checked {
			volumes[key.volume] = true
		}
		for volumeID := range volumes {
			stored, err := st.Predictions(ctx, active.ID, volumeID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				t.cfg.Logger.Warn("area check: the active model's predictions not read", "volume", volumeID, "err", err)
			}
			for _, p := range stored {
				if !checked[sliceKey{volumeID, p.Slice}] {
					continue
				}
				out.ActiveSlices++
				if c, _ := flagged(volumeID, p.Mask); c > 0 {
					out.ActiveFlagged++
				}
			}
		}
		out.Blocking = tooManyFlags(out)
	}
	return out
}

// areaLimit is the labelled areas' maximum and the largest area not flagged: the maximum plus the larger of
// 1.5 interquartile ranges and a quarter of the maximum (0, 0 without labelled slices).
func areaLimit(areas []float64) (maximum, limit float64) {
	if len(areas) == 0 {
		return 0, 0
	}
	a := slices.Sorted(slices.Values(areas))
	maximum = a[len(a)-1]
	iqr := quantile(a, 0.75) - quantile(a, 0.25)
	return maximum, maximum + math.Max(1.5*iqr, 0.25*maximum)
}

func classCounts(mask []uint8, k int) []int {
	counts := make([]int, k+1)
	for _, v := range mask {
		if int(v) <= k {
			counts[v]++
		}
	}
	return counts
}

// quantile is the q-quantile of sorted values, linearly interpolated.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	pos := q * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(sorted)-1)
	return sorted[lo] + (pos-float64(lo))*(sorted[hi]-sorted[lo])
}
