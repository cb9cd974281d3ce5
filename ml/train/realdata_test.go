package train

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// TestTrainOnRealVolume trains SmallUNet with the default settings on the 10 even slices of the gm-challenge
// volume and scores the 10 odd ones, whole (256x192), against the experts' masks: white matter must go from
// nothing to a clear overlap, and the validation Dice must rise during the run. The run is bounded by 120
// iterations (60 epochs of 2 steps: about 20 s on an idle 2-core machine) rather than by time, because the
// cores are shared with other test packages and a time budget would test the machine's load; a 90 s budget caps
// it. The time-to-quality experiment measures the curve against wall-clock time.
func TestTrainOnRealVolume(t *testing.T) {
	fx := loadFixture(t)
	even, odd := fx.halves()
	s := DefaultSettings(2)
	s.ClassNames = fx.Classes
	s.Epochs, s.BudgetSeconds = 60, 90

	untrained, err := NewModel(s)
	if err != nil {
		t.Fatal(err)
	}
	before, err := Evaluate(untrained, odd)
	if err != nil {
		t.Fatal(err)
	}

	var first time.Duration
	start := time.Now()
	var epochs []Event
	res, err := Train(context.Background(), even, s, Options{Eval: odd, OnEvent: func(e Event) {
		if e.Iteration == 1 && first == 0 {
			first = time.Since(start)
		}
		if e.Kind == EventEpoch {
			epochs = append(epochs, e)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	after := res.Metrics
	t.Logf("%d iterations in %.1f s (first loss after %v); validation WM/GM Dice first %v, last %v",
		res.Iterations, res.Elapsed, first, epochs[0].ValDice, epochs[len(epochs)-1].ValDice)
	for i, name := range fx.Classes {
		t.Logf("%s: Dice %.3f -> %.3f, Hausdorff %.2f mm, mean surface %.2f mm, precision %.3f, recall %.3f",
			name, before[i].Dice, after[i].Dice, after[i].HausdorffMM, after[i].MeanSurfaceMM, after[i].Precision, after[i].Recall)
	}
	if first > 5*time.Second {
		t.Errorf("first iteration event after %v", first)
	}
	wm := after[0].Dice
	if wm < 0.5 || wm < before[0].Dice+0.3 {
		t.Errorf("white-matter Dice on held-back slices %.3f (untrained %.3f): want above 0.5 and 0.3 above the start", wm, before[0].Dice)
	}
	if last := epochs[len(epochs)-1].ValDice[0]; last < epochs[0].ValDice[0]+0.2 {
		t.Errorf("validation white-matter Dice went from %.3f to %.3f", epochs[0].ValDice[0], last)
	}
	if after[1].Dice < before[1].Dice {
		t.Errorf("grey-matter Dice fell from %.3f to %.3f", before[1].Dice, after[1].Dice)
	}

	// The model file carries everything needed to segment the held-back slices again, identically.
	path := filepath.Join(t.TempDir(), "gm.wbm")
	saveModel(t, res.Best, path)
	loaded, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(loaded.Info.ClassNames, fx.Classes) || loaded.Info.Spacing != fx.Spacing || len(loaded.Info.Metrics) != 2 {
		t.Fatalf("model header %+v", loaded.Info)
	}
	again, err := Evaluate(loaded, odd)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, after) {
		t.Fatal("loaded model scores differently")
	}
}
