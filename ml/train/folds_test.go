package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/mriworkbench/workbench/ml/data"
)

func TestPlanFolds(t *testing.T) {
	s := DefaultSettings(2)
	if s.CrossValidate != 30 || PaperSettings(2).CrossValidate != 30 {
		t.Fatalf("cross-validation below %d slices by default, %d for the paper's preset; want 30 for both", s.CrossValidate, PaperSettings(2).CrossValidate)
	}
	ten := discSamples(10, 16, 16)
	p := planFolds(ten, s, Options{})
	if p == nil || p.method != EvalFoldsSlices || len(p.held) != 3 {
		t.Fatalf("10 slices of one volume: %+v, want 3 folds over slices", p)
	}
	var all []int
	for _, h := range p.held {
		if len(h) < 3 || len(h) > 4 {
			t.Fatalf("fold sizes %v, want 4/3/3", p.held)
		}
		all = append(all, h...)
	}
	slices.Sort(all)
	if !slices.Equal(all, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) {
		t.Fatalf("folds %v do not hold every slice once", p.held)
	}
	// The folds follow the keys, not the order of the samples.
	rev := slices.Clone(ten)
	slices.Reverse(rev)
	q := planFolds(rev, s, Options{})
	for f := range p.held {
		for i, idx := range p.held[f] {
			if rev[q.held[f][len(q.held[f])-1-i]].Key != ten[idx].Key {
				t.Fatalf("reversed input changed the folds: %v vs %v", p.held, q.held)
			}
		}
	}
	// Several volumes: folds hold out whole volumes.
	four := discSamples(8, 16, 16)
	for i := range four {
		four[i].Group = fmt.Sprintf("vol%d", i%4)
	}
	p = planFolds(four, s, Options{})
	if p == nil || p.method != EvalFoldsVolumes || len(p.held) != 3 {
		t.Fatalf("8 slices of 4 volumes: %+v, want 3 folds over volumes", p)
	}
	for _, h := range p.held {
		groups := map[string]bool{}
		for _, i := range h {
			groups[four[i].Group] = true
		}
		for i, smp := range four {
			if groups[smp.Group] && !slices.Contains(h, i) {
				t.Fatalf("volume %s is split across folds: %v", smp.Group, p.held)
			}
		}
	}
	// No cross-validation: enough slices, an evaluation set given, one slice, or switched off.
	if planFolds(discSamples(30, 16, 16), s, Options{}) != nil || planFolds(ten, s, Options{Eval: ten[:1]}) != nil ||
		planFolds(ten[:1], s, Options{}) != nil {
		t.Fatal("cross-validation planned where the split applies")
	}
	s.CrossValidate = 0
	if planFolds(ten, s, Options{}) != nil {
		t.Fatal("cross-validation planned with it switched off")
	}
}

// TestTrainCrossValidatedUsesEverySlice: with 10 labelled slices the model trains on all 10 for the whole
// budget and has no evaluation yet; CrossValidate then scores it with 3 fold models, each trained as long.
func TestTrainCrossValidatedUsesEverySlice(t *testing.T) {
	samples := discSamples(10, 32, 32)
	s := quickSettings()
	s.CrossValidate = 30
	s.Epochs, s.BudgetSeconds = 0, 2
	res, err := Train(context.Background(), samples, s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Evaluation != nil || res.Metrics != nil || len(res.TrainKeys) != 10 || len(res.ValKeys) != 0 || len(res.EvalKeys) != 0 {
		t.Fatalf("trained on %d, validated on %d, evaluated %d slices (evaluation %+v); want 10, 0, 0 and none yet",
			len(res.TrainKeys), len(res.ValKeys), len(res.EvalKeys), res.Evaluation)
	}
	if res.Stopped != StopBudget || res.Elapsed < s.BudgetSeconds {
		t.Fatalf("the model trained %.1f s (%s) of a %v s budget, want all of it", res.Elapsed, res.Stopped, s.BudgetSeconds)
	}
	if method, folds := CrossValidates(samples, s); method != EvalFoldsSlices || folds != 3 {
		t.Fatalf("CrossValidates says %q, %d folds", method, folds)
	}

	s.FoldTraining = 0.5
	var folds []int
	firstETA := -2.0
	ev, pooled, err := CrossValidate(context.Background(), samples, s, Options{OnEvent: func(e Event) {
		if len(folds) == 0 {
			firstETA = e.ETA
		}
		if e.Folds != 3 {
			t.Errorf("fold event of %d folds", e.Folds)
		}
		if len(folds) == 0 || folds[len(folds)-1] != e.Fold {
			folds = append(folds, e.Fold)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if ev == nil || ev.Method != EvalFoldsSlices || ev.Folds != 3 || ev.Slices != 10 || len(ev.Classes) != 2 || ev.FoldTraining != 0.5 {
		t.Fatalf("evaluation %+v, want 3 folds over 10 slices, each fold model with half the training", ev)
	}
	if got := ev.String(); !strings.HasSuffix(got, ", 3-fold over 10 slices") || !strings.HasPrefix(got, "Dice 0.") || !ev.CrossValidated() {
		t.Fatalf("evaluation reads %q", got)
	}
	if !slices.Equal(folds, []int{1, 2, 3}) || firstETA < 2 {
		t.Fatalf("fold events %v, first ETA %.1f s; want folds 1, 2, 3 and an ETA counting all three (3 x 1 s)", folds, firstETA)
	}
	if len(pooled) != 2 || pooled[0].Slices != 10 || pooled[1].Name != "class 2" {
		t.Fatalf("pooled metrics %+v, want both classes over the 10 held-out slices", pooled)
	}
	classMean := (ev.Classes[0].DiceMean + ev.Classes[1].DiceMean) / 2
	if !(ev.DiceMean > 0.3 && ev.DiceMean <= 1) || math.Abs(classMean-ev.DiceMean) > 1e-9 || ev.DiceSD < 0 {
		t.Fatalf("Dice %v ± %v (classes' mean %v): the discs are easy, the folds should learn them", ev.DiceMean, ev.DiceSD, classMean)
	}
	// Each fold also pays its set-up and its predictions, and a step's granularity, beyond its second.
	if ev.FoldSeconds < 3 || ev.FoldSeconds > 9 {
		t.Fatalf("folds took %.1f s for 3 x 1 s", ev.FoldSeconds)
	}
	// A label set on the split is not cross-validated.
	if _, _, err := CrossValidate(context.Background(), discSamples(30, 32, 32), s, Options{}); err == nil || !strings.Contains(err.Error(), "held-out split") {
		t.Fatalf("30 slices: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := CrossValidate(ctx, samples, s, Options{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

// TestTrainLargeLabelSetKeepsTheSplit: at 30 labelled slices the 70/15/15 split applies and is reported as
// a held-out evaluation.
func TestTrainLargeLabelSetKeepsTheSplit(t *testing.T) {
	s := quickSettings()
	s.CrossValidate, s.Epochs = 30, 1
	res, err := Train(context.Background(), discSamples(30, 32, 32), s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ev := res.Evaluation
	if ev == nil || ev.Method != EvalHoldout || ev.Folds != 1 || ev.Slices != len(res.EvalKeys) || len(res.TrainKeys) != 21 {
		t.Fatalf("evaluation %+v with %d/%d/%d slices, want a held-out one at 21/5/4", ev, len(res.TrainKeys), len(res.ValKeys), len(res.EvalKeys))
	}
	if ev.CrossValidated() || ev.String() != fmt.Sprintf("Dice %.2f on %d held-out slices", ev.DiceMean, len(res.EvalKeys)) {
		t.Fatalf("held-out evaluation reads %q", ev)
	}
	if ev.DiceMean != (res.Metrics[0].Dice+res.Metrics[1].Dice)/2 || ev.Classes[1].Name != "class 2" {
		t.Fatalf("held-out summary %+v does not match the metrics %+v", ev, res.Metrics)
	}
}

func TestFitCrop(t *testing.T) {
	s := DefaultSettings(2)
	s.FitCrop = true
	small := []data.Sample{{W: 35, H: 51}, {W: 38, H: 48}}
	if got := fitCrop(s, small); got.CropW != 40 || got.CropH != 56 {
		t.Fatalf("hippocampus-sized slices: crop %dx%d, want the padded slice 40x56", got.CropW, got.CropH)
	}
	if got := fitCrop(s, []data.Sample{{W: 256, H: 192}}); got.CropW != 48 || got.CropH != 48 {
		t.Fatalf("large slice: crop %dx%d, want the 48x48 crop kept", got.CropW, got.CropH)
	}
	s.FitCrop = false
	if got := fitCrop(s, small); got.CropW != 48 {
		t.Fatal("crop fitted with FitCrop off")
	}
}
