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

// DefaultFinalShare is the share of a cross-validated run's time budget (Settings.FinalShare; the final model
// always gets all of the epochs) that trains the final model on every labelled slice; the fold models share
// the rest equally, each for 1/k of the epochs, so a run keeps to its budget and an epoch-bounded one does
// about twice the final model's steps.
const DefaultFinalShare = 0.5

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
	// FoldTraining is each fold model's training (time budget, else epochs) relative to the final model's: a
	// third by default, so the folds' scores understate a model still improving with training (measured on
	// gm-challenge, 10 slices, 360 steps in all: folds 0.21 against 0.78 for the final model on the other
	// 10 slices). 0 for a held-out split.
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

// trainCrossValidated trains the final model on every labelled slice (no validation: it keeps its last
// weights, which the cosine schedule has settled), then one model per fold, from fresh weights so that no
// score comes from a slice its model has seen (a warm start's model may have trained on any of them), on the
// other folds' slices, and scores each on its fold's slices. The final model's Metrics are those held-out
// scores pooled over all labelled slices; the Evaluation adds the spread over the folds. The fold models
// send no events (their losses would restart the run's curve); the final model's events count their time in
// the ETA.
func trainCrossValidated(ctx context.Context, start time.Time, labelled []data.Sample, s Settings, opts Options, p *foldPlan) (*Result, error) {
	k := len(p.held)
	final, fold := s, s
	share := s.FinalShare
	if share == 0 {
		share = DefaultFinalShare
	}
	if s.BudgetSeconds > 0 {
		final.BudgetSeconds = s.BudgetSeconds * share
		fold.BudgetSeconds = s.BudgetSeconds * (1 - share) / float64(k)
	}
	if s.Epochs > 0 {
		fold.Epochs = (s.Epochs + k - 1) / k
	}
	foldTime := s.BudgetSeconds - final.BudgetSeconds
	finalOpts := opts
	if opts.OnEvent != nil && foldTime > 0 {
		finalOpts.OnEvent = func(e Event) {
			if e.ETA >= 0 {
				e.ETA += foldTime
			}
			opts.OnEvent(e)
		}
	}
	res, err := trainSplit(ctx, start, final, finalOpts, labelled, nil, nil)
	if err != nil {
		return res, err
	}

	classes := make([]int, s.Classes)
	for i := range classes {
		classes[i] = i + 1
	}
	pooled, err := metrics.NewAccumulator(classes)
	if err != nil {
		return nil, err
	}
	foldDice := make([][]float64, k) // fold, class
	foldStart := time.Now()
	for f, held := range p.held {
		var trainSet, evalSet []data.Sample
		for i, smp := range labelled {
			if slices.Contains(held, i) {
				evalSet = append(evalSet, smp)
			} else {
				trainSet = append(trainSet, smp)
			}
		}
		fres, err := trainSplit(ctx, time.Now(), fold, Options{}, trainSet, nil, nil)
		if err != nil {
			return res, fmt.Errorf("train: fold %d of %d: %w", f+1, k, err)
		}
		own, err := metrics.NewAccumulator(classes)
		if err != nil {
			return nil, err
		}
		preds, err := fres.Best.PredictSlices(evalSet, PredictOptions{})
		if err != nil {
			return res, err
		}
		for i, smp := range evalSet {
			sp := smp.Spacing
			if !(sp[0] > 0 && sp[1] > 0) {
				sp = [2]float64{1, 1}
			}
			if _, err := pooled.Add(preds[i].ClassMap, smp.Mask, smp.W, smp.H, sp); err != nil {
				return res, err
			}
			if _, err := own.Add(preds[i].ClassMap, smp.Mask, smp.W, smp.H, sp); err != nil {
				return res, err
			}
		}
		for _, c := range own.Result() {
			foldDice[f] = append(foldDice[f], c.Dice)
		}
	}

	res.Metrics = pooled.Result()
	res.Best.Info.Metrics = res.Metrics
	res.TrainKeys, res.ValKeys, res.EvalKeys = keys(labelled), nil, keys(labelled)
	ev := &Evaluation{Method: p.method, Folds: k, Slices: len(labelled), FoldSeconds: time.Since(foldStart).Seconds()}
	if s.BudgetSeconds > 0 {
		ev.FoldTraining = fold.BudgetSeconds / final.BudgetSeconds
	} else {
		ev.FoldTraining = float64(fold.Epochs) / float64(final.Epochs)
	}
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
	for ci, c := range classes {
		per := make([]float64, k)
		for f := range foldDice {
			per[f] = foldDice[f][ci]
		}
		ev.Classes = append(ev.Classes, ClassEvaluation{Class: c, Name: res.Best.Info.ClassName(c), DiceMean: mean(per), DiceSD: sampleSD(per)})
	}
	res.Evaluation = ev
	// The model's settings are the run's (the budget and epochs asked for), so a retrain with them repeats it.
	res.Best.Info.Settings.BudgetSeconds, res.Best.Info.Settings.Epochs = s.BudgetSeconds, s.Epochs
	res.Elapsed = time.Since(start).Seconds()
	return res, nil
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
