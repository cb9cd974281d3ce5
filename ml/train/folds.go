package train

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"time"

	"github.com/mriworkbench/workbench/ml/data"
	"github.com/mriworkbench/workbench/ml/metrics"
)

// Evaluation methods.
const (
	EvalHoldout      = "holdout"        // the 70/15/15 split's evaluation slices (or the caller's evaluation set)
	EvalFoldsSlices  = "k-fold-slices"  // k-fold cross-validation over the labelled slices
	EvalFoldsVolumes = "k-fold-volumes" // k-fold cross-validation over the labelled volumes (Sample.Group)
)

// MaxFolds is the number of folds of a cross-validation (fewer when there are fewer slices or volumes).
const MaxFolds = 3

// DefaultFoldTraining is each fold model's training (time budget, else epochs) relative to the final model's
// (Settings.FoldTraining): the same, so that the folds score a model trained as the delivered one was, on
// (k-1)/k of its slices. Measured on gm-challenge (10 slices): fold models with a third of the final model's
// 360 steps scored 0.21 while the final model reached 0.78 on the other 10 slices, an evaluation too
// pessimistic to be of use.
const DefaultFoldTraining = 1.0

// Evaluation says how a model's evaluation scores were obtained and how much they rest on. Dice is the mean over
// classes 1..K; with folds, DiceMean is the mean of the folds' Dice and DiceSD their sample standard deviation
// (0 for a single evaluation).
type Evaluation struct {
	Method   string            `json:"method"`
	Folds    int               `json:"folds"`
	Slices   int               `json:"slices"`            // labelled slices scored
	Volumes  int               `json:"volumes,omitempty"` // volumes they come from
	DiceMean float64           `json:"diceMean"`
	DiceSD   float64           `json:"diceSd"`
	Classes  []ClassEvaluation `json:"classes"`
	// FoldSeconds is the wall-clock time the fold models took (0 for a held-out split).
	FoldSeconds float64 `json:"foldSeconds,omitempty"`
	// FoldTraining is each fold model's training (time budget, else epochs) relative to the final model's
	// (Settings.FoldTraining, 1 by default); below 1 the folds' scores understate a model still improving
	// with training. 0 for a held-out split.
	FoldTraining float64 `json:"foldTraining,omitempty"`
}

// ClassEvaluation is one class's Dice across the folds.
type ClassEvaluation struct {
	Class    int     `json:"class"`
	Name     string  `json:"name,omitempty"`
	DiceMean float64 `json:"diceMean"`
	DiceSD   float64 `json:"diceSd"`
}

// foldPlan is a cross-validation: held[i] are the indices of the labelled slices that fold i's model does not
// train on and is scored on.
type foldPlan struct {
	method string
	held   [][]int
}

// planFolds decides whether a run is cross-validated (fewer than s.CrossValidate labelled slices, at least two,
// and no evaluation set given) and how: over volumes when the slices come from two or more, else over slices.
// Volumes (or slices) are dealt to the folds in an order seeded by s.Seed and their names, so the folds do not
// depend on the order of the samples.
func planFolds(labelled []data.Sample, s Settings, opts Options) *foldPlan {
	n := len(labelled)
	if s.CrossValidate == 0 || len(opts.Eval) > 0 || n < 2 || n >= s.CrossValidate {
		return nil
	}
	var groups []string
	for _, smp := range labelled {
		if !slices.Contains(groups, smp.Group) {
			groups = append(groups, smp.Group)
		}
	}
	p := &foldPlan{method: EvalFoldsSlices}
	names := make([]string, n)
	for i, smp := range labelled {
		names[i] = smp.Key
	}
	if len(groups) >= 2 {
		p.method, names = EvalFoldsVolumes, groups
	}
	order := seededOrder(names, s.Seed)
	k := min(MaxFolds, len(names))
	foldOf := make(map[string]int, len(names))
	for rank, i := range order {
		foldOf[names[i]] = rank % k
	}
	p.held = make([][]int, k)
	for i, smp := range labelled {
		name := smp.Key
		if p.method == EvalFoldsVolumes {
			name = smp.Group
		}
		f := foldOf[name]
		p.held[f] = append(p.held[f], i)
	}
	return p
}

// seededOrder returns the indices of names ordered by a seeded hash of each name (ties: input order).
func seededOrder(names []string, seed uint64) []int {
	rank := make([]uint64, len(names))
	order := make([]int, len(names))
	for i, name := range names {
		h := fnv.New64a()
		fmt.Fprintf(h, "%d/%s", seed, name)
		rank[i], order[i] = h.Sum64(), i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case rank[a] < rank[b]:
			return -1
		case rank[a] > rank[b]:
			return 1
		}
		return 0
	})
	return order
}

// CrossValidates says whether Train, given these samples and settings, trains its model on every labelled
// slice and leaves the evaluation to CrossValidate, and how that evaluation would go: its method
// (EvalFoldsSlices or EvalFoldsVolumes) and number of folds; "" and 0 for a held-out split.
func CrossValidates(samples []data.Sample, s Settings) (method string, folds int) {
	p := planFolds(labelledOnly(samples), s, Options{})
	if p == nil {
		return "", 0
	}
	return p.method, len(p.held)
}

func labelledOnly(samples []data.Sample) []data.Sample {
	var out []data.Sample
	for _, smp := range samples {
		if smp.Mask != nil {
			out = append(out, smp)
		}
	}
	return out
}

// checkedLabelled is the labelled samples, each checked, with classes the settings have; what prefixes the
// errors.
func checkedLabelled(samples []data.Sample, s Settings, what string) ([]data.Sample, error) {
	labelled := labelledOnly(samples)
	for _, smp := range labelled {
		if err := smp.Validate(true); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
	}
	if err := checkClasses(labelled, s.Classes); err != nil {
		return nil, err
	}
	return labelled, nil
}

// CrossValidate is the evaluation of a model that Train trained on every labelled slice (CrossValidates): one
// model per fold, from fresh weights so that no score comes from a slice its model has seen (a warm start's
// model may have trained on any of them), trained on the other folds' slices with s.FoldTraining of the
// final model's budget and epochs, and scored on its fold's slices. It returns the evaluation and the
// metrics of every labelled slice pooled (named), each scored by the fold model that did not see it. opts.OnEvent
// gets the fold models' events with Fold and Folds set and the ETA of all the folds; opts.Warm and opts.Eval
// are ignored. Cancelling ctx stops it after the current step with ctx's error.
//
// It runs after the final model is delivered, so the user's model has the whole budget and every label,
// and the evaluation costs time after it rather than quality in it.
func CrossValidate(ctx context.Context, samples []data.Sample, s Settings, opts Options) (*Evaluation, []metrics.ClassMetrics, error) {
	if err := s.Validate(); err != nil {
		return nil, nil, err
	}
	labelled, err := checkedLabelled(samples, s, "cross-validation")
	if err != nil {
		return nil, nil, err
	}
	p := planFolds(labelled, s, Options{})
	if p == nil {
		return nil, nil, fmt.Errorf("cross-validation: %d labelled slices are evaluated on a held-out split, not by folds", len(labelled))
	}
	k := len(p.held)
	share := s.FoldTraining
	if share == 0 {
		share = DefaultFoldTraining
	}
	fold := s
	fold.BudgetSeconds = s.BudgetSeconds * share
	if s.Epochs > 0 {
		fold.Epochs = max(int(math.Ceil(float64(s.Epochs)*share)), 1)
	}

	classes := make([]int, s.Classes)
	for i := range classes {
		classes[i] = i + 1
	}
	pooled, err := metrics.NewAccumulator(classes)
	if err != nil {
		return nil, nil, err
	}
	foldDice := make([][]float64, k) // fold, class
	start := time.Now()
	var perFold float64 // wall-clock seconds of a finished fold, for the ETA of the ones to come
	for f, held := range p.held {
		var trainSet, evalSet []data.Sample
		for i, smp := range labelled {
			if slices.Contains(held, i) {
				evalSet = append(evalSet, smp)
			} else {
				trainSet = append(trainSet, smp)
			}
		}
		foldOpts := Options{}
		if opts.OnEvent != nil {
			foldOpts.OnEvent = func(e Event) {
				e.Fold, e.Folds = f+1, k
				if e.ETA >= 0 {
					rest := float64(k-f-1) * max(perFold, e.Elapsed+e.ETA)
					e.ETA += rest
				}
				e.Elapsed = time.Since(start).Seconds()
				opts.OnEvent(e)
			}
		}
		foldStart := time.Now()
		fres, err := trainSplit(ctx, foldStart, fold, foldOpts, trainSet, nil, nil)
		if err != nil {
			return nil, nil, fmt.Errorf("cross-validation: fold %d of %d: %w", f+1, k, err)
		}
		own, err := metrics.NewAccumulator(classes)
		if err != nil {
			return nil, nil, err
		}
		preds, err := fres.Best.PredictSlices(evalSet, PredictOptions{})
		if err != nil {
			return nil, nil, err
		}
		for i, smp := range evalSet {
			sp := smp.Spacing
			if !(sp[0] > 0 && sp[1] > 0) {
				sp = [2]float64{1, 1}
			}
			if _, err := pooled.Add(preds[i].ClassMap, smp.Mask, smp.W, smp.H, sp); err != nil {
				return nil, nil, err
			}
			if _, err := own.Add(preds[i].ClassMap, smp.Mask, smp.W, smp.H, sp); err != nil {
				return nil, nil, err
			}
		}
		for _, c := range own.Result() {
			foldDice[f] = append(foldDice[f], c.Dice)
		}
		perFold = time.Since(foldStart).Seconds()
	}

	ev := &Evaluation{Method: p.method, Folds: k, Slices: len(labelled), FoldSeconds: time.Since(start).Seconds(), FoldTraining: share}
	groups := map[string]bool{}
	for _, smp := range labelled {
		groups[smp.Group] = true
	}
	if len(groups) >= 2 {
		ev.Volumes = len(groups)
	}
	means := make([]float64, k)
	for f, d := range foldDice {
		means[f] = mean(d)
	}
	ev.DiceMean, ev.DiceSD = mean(means), sampleSD(means)
	names := Info{Classes: s.Classes, ClassNames: s.ClassNames}
	for ci, c := range classes {
		per := make([]float64, k)
		for f := range foldDice {
			per[f] = foldDice[f][ci]
		}
		ev.Classes = append(ev.Classes, ClassEvaluation{Class: c, Name: names.ClassName(c), DiceMean: mean(per), DiceSD: sampleSD(per)})
	}
	classMetrics := pooled.Result()
	for i := range classMetrics {
		classMetrics[i].Name = names.ClassName(classMetrics[i].Class)
	}
	return ev, classMetrics, nil
}

// holdoutEvaluation summarises m's scores on a held-out evaluation set of n slices.
func holdoutEvaluation(m *Model, ms []metrics.ClassMetrics, n int) *Evaluation {
	ev := &Evaluation{Method: EvalHoldout, Folds: 1, Slices: n}
	dice := make([]float64, len(ms))
	for i, c := range ms {
		dice[i] = c.Dice
		ev.Classes = append(ev.Classes, ClassEvaluation{Class: c.Class, Name: m.Info.ClassName(c.Class), DiceMean: c.Dice})
	}
	ev.DiceMean = mean(dice)
	return ev
}

// fitCrop applies s.FitCrop: the crop becomes the largest training slice padded to a multiple of 8 when that
// is at most FitCropArea times the crop's pixels.
func fitCrop(s Settings, trainSet []data.Sample) Settings {
	if !s.FitCrop || len(trainSet) == 0 {
		return s
	}
	w, h := 0, 0
	for _, smp := range trainSet {
		w, h = max(w, smp.W), max(h, smp.H)
	}
	w, h = max(roundUp(w, 8), 8), max(roundUp(h, 8), 8)
	if float64(w*h) <= FitCropArea*float64(s.CropW*s.CropH) {
		s.CropW, s.CropH = w, h
	}
	return s
}

func mean(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	sum := 0.0
	for _, x := range v {
		sum += x
	}
	return sum / float64(len(v))
}

// sampleSD is the standard deviation with n-1 in the denominator; 0 for fewer than two values.
func sampleSD(v []float64) float64 {
	if len(v) < 2 {
		return 0
	}
	m, ss := mean(v), 0.0
	for _, x := range v {
		ss += (x - m) * (x - m)
	}
	return math.Sqrt(ss / float64(len(v)-1))
}

// CrossValidated reports whether the scores come from fold models rather than a held-out split.
func (e *Evaluation) CrossValidated() bool { return e != nil && e.Method != EvalHoldout }

// String is the evaluation in words, e.g. "Dice 0.81 ± 0.04, 3-fold over 10 slices" (as the web app shows it).
func (e *Evaluation) String() string {
	switch e.Method {
	case EvalFoldsSlices:
		return fmt.Sprintf("Dice %.2f ± %.2f, %d-fold over %d slices", e.DiceMean, e.DiceSD, e.Folds, e.Slices)
	case EvalFoldsVolumes:
		return fmt.Sprintf("Dice %.2f ± %.2f, %d-fold over %d volumes (%d slices)", e.DiceMean, e.DiceSD, e.Folds, e.Volumes, e.Slices)
	}
	return fmt.Sprintf("Dice %.2f on %d held-out slices", e.DiceMean, e.Slices)
}
