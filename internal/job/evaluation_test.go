package job

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mriworkbench/workbench/internal/event"

	"github.com/mriworkbench/workbench/internal/ingest"
	"github.com/mriworkbench/workbench/internal/testenv"
	"github.com/mriworkbench/workbench/ml/train"
	"github.com/mriworkbench/workbench/nifti"
	"github.com/mriworkbench/workbench/store"
)

// Few labelled slices in two volumes: the stored evaluation is a cross-validation over the volumes (each fold
// model scored on the volume it did not see), and every labelled slice trained the active model.
func TestTrainCrossValidatesOverVolumes(t *testing.T) {
	st := openStore(t)
	p, _ := t2sProject(t, st, "two", 0, 2, 4)
	ctx := context.Background()
	path := testenv.SharedData(t, t2sImage)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := ingest.Decode(filepath.Base(path), raw, nifti.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gm := canonicalVolume(t, t2sGM)
	n := gm.SliceLen()
	var labels []store.SliceMask
	for _, z := range []int{1, 3, 5} {
		mask := make([]uint8, n)
		for i := range mask {
			if gm.Data[z*n+i] > 0.5 {
				mask[i] = 2
			}
		}
		labels = append(labels, store.SliceMask{Slice: z, Mask: mask})
	}
	if _, _, err := ingest.Import(ctx, st, p.ID, "second.nii.gz", raw, img, labels, "test"); err != nil {
		t.Fatal(err)
	}
	tr, _ := newTrainer(t, st)
	out, err := tr.Train(ctx, p.ID, fastCV)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := st.Model(ctx, out.Model.ID)
	if err != nil {
		t.Fatal(err)
	}
	var mm ModelMetrics
	if err := json.Unmarshal(stored.Metrics, &mm); err != nil {
		t.Fatal(err)
	}
	ev := mm.Evaluation
	if ev == nil || ev.Method != train.EvalFoldsVolumes || ev.Folds != 2 || ev.Volumes != 2 || ev.Slices != 6 ||
		mm.TrainSlices != 6 || mm.EvalSlices != 6 || mm.ValSlices != 0 || len(ev.Classes) != 2 {
		t.Fatalf("stored metrics %s", stored.Metrics)
	}
	if got, want := ev.String(), "2-fold over 2 volumes (6 slices)"; len(got) < len(want) || got[len(got)-len(want):] != want {
		t.Fatalf("evaluation reads %q", got)
	}
}

// waitEvent waits up to a minute for an event that ok accepts.
func waitEvent(t *testing.T, events <-chan event.Event, what string, ok func(event.Event) bool) event.Event {
	t.Helper()
	deadline := time.After(time.Minute)
	for {
		select {
		case e := <-events:
			if ok(e) {
				return e
			}
		case <-deadline:
			t.Fatalf("no %s within a minute", what)
		}
	}
}

func modelMetrics(t *testing.T, st *store.Store, id int64) ModelMetrics {
	t.Helper()
	m, err := st.Model(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var mm ModelMetrics
	if err := json.Unmarshal(m.Metrics, &mm); err != nil {
		t.Fatal(err)
	}
	return mm
}

// In the background, the run ends and frees the project as soon as its model (trained on every labelled
// slice) is stored; the evaluation follows, and a new run of the project stops it, which the model's
// metrics record, while the new run trains and is evaluated in turn.
func TestEvaluationFollowsTheRunAndYieldsToANewOne(t *testing.T) {
	st := openStore(t)
	p, _ := t2sProject(t, st, "background", 0, 2, 4, 6, 8)
	tr, events := newTrainer(t, st)
	ctx := context.Background()
	slow := Request{Settings: []byte(`{"epochs":0,"budget_seconds":3,"crop_w":32,"crop_h":32,"batch_size":2}`)}
	first, err := tr.Start(ctx, p.ID, slow)
	if err != nil {
		t.Fatal(err)
	}
	done := waitEvent(t, events, "end of the first run", func(e event.Event) bool {
		r, ok := e.(event.Run)
		return ok && r.Run.ID == first.ID && r.Run.Status != store.RunQueued && r.Run.Status != store.RunRunning
	}).(event.Run)
	if done.Run.Status != store.RunDone || done.Run.ModelID == nil {
		t.Fatalf("first run ended %+v", done.Run)
	}
	modelID := *done.Run.ModelID
	if mm := modelMetrics(t, st, modelID); mm.TrainSlices != 5 || mm.Evaluation != nil || mm.EvaluationStopped != "" {
		t.Fatalf("delivered model's metrics %+v, want 5 training slices and no evaluation yet", mm)
	}
	running := waitEvent(t, events, "a fold model's progress", func(e event.Event) bool {
		ev, ok := e.(event.Evaluation)
		return ok && ev.Status == event.EvaluationRunning && ev.Fold >= 1
	}).(event.Evaluation)
	if running.ModelID != modelID || running.Folds != 3 || running.Slices != 5 || running.Method != train.EvalFoldsSlices || running.ETA <= 0 {
		t.Fatalf("running evaluation %+v", running)
	}
	if pr, ok := tr.Evaluating(p.ID); !ok || pr.ModelID != modelID || pr.Fold < 1 {
		t.Fatalf("Evaluating: %+v, %v", pr, ok)
	}

	second, err := tr.Start(ctx, p.ID, fast)
	if err != nil {
		t.Fatalf("a new run while the last model is evaluated: %v", err)
	}
	// Start returned once the evaluation had stopped and said why.
	if mm := modelMetrics(t, st, modelID); mm.Evaluation != nil || mm.EvaluationStopped != "stopped: "+errPreempted.Error() || mm.TrainSlices != 5 {
		t.Fatalf("stopped evaluation recorded as %+v", mm)
	}
	if _, ok := tr.Evaluating(p.ID); ok {
		t.Fatal("the stopped evaluation still shows as running")
	}
	evaluated := waitEvent(t, events, "the second model's evaluation", func(e event.Event) bool {
		ev, ok := e.(event.Evaluation)
		return ok && ev.Status == event.EvaluationDone
	}).(event.Evaluation)
	r, err := st.Run(ctx, second.ID)
	if err != nil || r.Status != store.RunDone || r.ModelID == nil || *r.ModelID != evaluated.ModelID {
		t.Fatalf("second run %+v (%v), evaluation of model %d", r, err, evaluated.ModelID)
	}
	if mm := modelMetrics(t, st, evaluated.ModelID); mm.Evaluation == nil || mm.Evaluation.Folds != 3 || mm.EvalSlices != 5 || len(mm.Classes) != 2 {
		t.Fatalf("second model's metrics %+v", mm)
	}
}

// Closing the trainer stops an evaluation and records it; a request can skip the evaluation altogether.
func TestEvaluationStopsWithTheTrainerOrIsSkipped(t *testing.T) {
	st := openStore(t)
	p, _ := t2sProject(t, st, "close", 0, 2, 4)
	tr, events := newTrainer(t, st)
	ctx := context.Background()
	out, err := tr.Train(ctx, p.ID, Request{Settings: fast.Settings, SkipEvaluation: true})
	if err != nil {
		t.Fatal(err)
	}
	if mm := modelMetrics(t, st, out.Model.ID); mm.Evaluation != nil || mm.EvaluationStopped != "" || mm.TrainSlices != 3 {
		t.Fatalf("skipped evaluation: metrics %+v", mm)
	}
	if _, ok := tr.Evaluating(p.ID); ok {
		t.Fatal("an evaluation runs though the request skipped it")
	}
	slow := Request{Settings: []byte(`{"epochs":0,"budget_seconds":3,"crop_w":32,"crop_h":32,"batch_size":2}`)}
	if _, err := tr.Start(ctx, p.ID, slow); err != nil {
		t.Fatal(err)
	}
	running := waitEvent(t, events, "a fold model's progress", func(e event.Event) bool {
		ev, ok := e.(event.Evaluation)
		return ok && ev.Status == event.EvaluationRunning && ev.Fold >= 1
	}).(event.Evaluation)
	tr.Close()
	if mm := modelMetrics(t, st, running.ModelID); mm.Evaluation != nil || mm.EvaluationStopped != "stopped: the workbench stopped before it finished" {
		t.Fatalf("evaluation stopped by Close recorded as %+v", mm)
	}
}
