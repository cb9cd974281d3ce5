package job

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mriworkbench/workbench/internal/event"
	"github.com/mriworkbench/workbench/ml/train"
	"github.com/mriworkbench/workbench/store"
)

// fast trains a few quick steps on 32x32 crops.
var fast = Request{Settings: []byte(`{"epochs":3,"budget_seconds":0,"crop_w":32,"crop_h":32,"batch_size":2}`)}

// fastCV is fast with the k-fold evaluation of few labelled slices, as both presets have it.
var fastCV = Request{Settings: []byte(`{"epochs":3,"budget_seconds":0,"crop_w":32,"crop_h":32,"batch_size":2,"cross_validate":30}`)}

// longRun trains until stopped (a two-minute budget) on small crops.
var longRun = Request{Settings: []byte(`{"epochs":0,"budget_seconds":120,"crop_w":32,"crop_h":32,"batch_size":2}`)}

// startTraining starts a long run on tr and waits for its first training step.
func startTraining(t *testing.T, tr *Trainer, events <-chan event.Event, projectID int64) store.Run {
	t.Helper()
	run, err := tr.Start(context.Background(), projectID, longRun)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	deadline := time.After(30 * time.Second)
	for {
		select {
		case ev := <-events:
			if it, ok := ev.(event.Iteration); ok && it.RunID == run.ID {
				return run
			}
		case <-deadline:
			t.Fatal("no training step within 30 s")
		}
	}
}

// A foreground job goes from labelled slices to an active model with metrics and predictions for exactly the
// unlabelled slices, publishing its progress and storing it with the run; no HTTP is involved.
func TestTrainDeliversAnActiveModelWithPredictions(t *testing.T) {
	st := openStore(t)
	p, v := t2sProject(t, st, "train", 0, 2, 4, 6, 8)
	tr, events := newTrainer(t, st)
	out, err := tr.Train(context.Background(), p.ID, fastCV)
	if err != nil {
		t.Fatal(err)
	}
	if out.Run.Status != store.RunDone || out.Model == nil || !out.Model.Active || out.Predictions != v.Shape[2]-5 {
		t.Fatalf("outcome: run %+v, model %+v, %d predictions", out.Run, out.Model, out.Predictions)
	}
	var mm ModelMetrics
	// Five labelled slices: all five train the model, delivered without scores; then a 3-fold
	// cross-validation scores each of them, and its result joins the stored metrics.
	if err := json.Unmarshal(out.Model.Metrics, &mm); err != nil || mm.TrainSlices != 5 || mm.EvalSlices != 0 || len(mm.Classes) != 0 || mm.Evaluation != nil {
		t.Fatalf("metrics as delivered %s (%v)", out.Model.Metrics, err)
	}
	model, err := st.Model(context.Background(), out.Model.ID)
	if err != nil {
		t.Fatal(err)
	}
	mm = ModelMetrics{}
	if err := json.Unmarshal(model.Metrics, &mm); err != nil || mm.TrainSlices != 5 || mm.EvalSlices != 5 || len(mm.Classes) != 2 ||
		mm.Classes[1].Name != "gm" || mm.Iterations < 1 || mm.Evaluation == nil || mm.Evaluation.Method != train.EvalFoldsSlices ||
		mm.Evaluation.Folds != 3 || mm.Evaluation.Slices != 5 || mm.Evaluation.Classes[1].Name != "gm" || mm.EvaluationStopped != "" {
		t.Fatalf("stored metrics %s (%v)", model.Metrics, err)
	}
	if out.Metrics.Evaluation == nil || out.Metrics.Evaluation.DiceMean != mm.Evaluation.DiceMean || out.Metrics.EvalSlices != 5 {
		t.Fatalf("outcome's metrics %+v, want the stored evaluation", out.Metrics)
	}
	var promotion struct{ Promotion *Promotion }
	if json.Unmarshal(model.Metrics, &promotion) != nil || promotion.Promotion == nil {
		t.Fatalf("the evaluation lost the promotion record: %s", model.Metrics)
	}
	counts := map[string]int{}
	var evaluations []event.Evaluation
	for len(events) > 0 {
		e := <-events
		counts[e.Type()]++
		if ev, ok := e.(event.Evaluation); ok {
			evaluations = append(evaluations, ev)
		}
	}
	if counts[event.TypeRun] != 3 || counts[event.TypeIteration] != mm.Iterations || counts[event.TypePredictions] != 1 {
		t.Fatalf("events published %v", counts)
	}
	if n := len(evaluations); n < 3 || evaluations[0].Status != event.EvaluationRunning || evaluations[n-1].Status != event.EvaluationDone ||
		evaluations[n-1].Summary != mm.Evaluation.String() || evaluations[n-1].ModelID != model.ID {
		t.Fatalf("evaluation events %+v", evaluations)
	}
	stored, err := st.RunEvents(context.Background(), out.Run.ID, 0)
	if err != nil || len(stored) != counts[event.TypeIteration]+counts[event.TypeEpoch] {
		t.Fatalf("%d stored events (%v), %v published", len(stored), err, counts)
	}
	for z := range v.Shape[2] {
		_, err := st.Prediction(context.Background(), out.Model.ID, v.ID, z)
		if labelled := z%2 == 0; labelled != errors.Is(err, store.ErrNotFound) {
			t.Fatalf("slice %d: prediction error %v", z, err)
		}
	}
	// PredictActive predicts the same slices again with the active model.
	m, n, err := PredictActive(context.Background(), st, p.ID)
	if err != nil || m.ID != out.Model.ID || n != out.Predictions {
		t.Fatalf("PredictActive: model %d, %d slices, %v", m.ID, n, err)
	}
	other, err := st.CreateProject(context.Background(), "untrained", []store.Class{{Name: "gm", Color: "#00ff00"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := PredictActive(context.Background(), st, other.ID); !errors.Is(err, ErrNoModel) {
		t.Fatalf("PredictActive without a model: %v", err)
	}
}

// A graceful stop marks the trainer's run interrupted at once, so another process (a CLI train) or the next
// serve can take the project without waiting for anything.
func TestTrainerCloseInterruptsItsRuns(t *testing.T) {
	st := openStore(t)
	p, _ := t2sProject(t, st, "close", 0, 4, 8)
	tr, events := newTrainer(t, st)
	run := startTraining(t, tr, events, p.ID)
	tr.Close()

	got, err := st.Run(context.Background(), run.ID)
	if err != nil || got.Status != store.RunInterrupted || !strings.Contains(got.Error, "stopped") || got.ModelID != nil {
		t.Fatalf("run after Close: %+v, %v", got, err)
	}
	if _, err := st.ActiveRun(context.Background(), p.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the project still has an active run: %v", err)
	}
	if n, err := st.MarkInterruptedRuns(context.Background()); err != nil || n != 0 {
		t.Errorf("MarkInterruptedRuns after a graceful stop: %d, %v", n, err)
	}
	// Another trainer (as another process would) takes the project at once.
	next, events := newTrainer(t, st)
	startTraining(t, next, events, p.ID)
}

// A run whose process stopped beating blocks a project only until its heartbeat is stale; then Start marks it
// interrupted and trains. A run that beats is never taken over.
func TestTrainerTakesOverAStaleRun(t *testing.T) {
	st := openStore(t)
	// Long enough that a loaded machine does not delay a live trainer's heartbeat (every staleAfter/5) past it.
	const staleAfter = time.Second
	st.SetRunStaleAfter(staleAfter)
	p, _ := t2sProject(t, st, "stale", 0, 4, 8)
	ctx := context.Background()

	// A run of a trainer that keeps beating, well past the stale limit: a second trainer is refused.
	live, events := newTrainer(t, st)
	liveRun := startTraining(t, live, events, p.ID)
	other, _ := newTrainer(t, st)
	time.Sleep(staleAfter + staleAfter/2)
	if _, err := other.Start(ctx, p.ID, longRun); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Start beside a live run: %v", err)
	}
	live.Close()

	// A run nobody beats for (its process hung or died elsewhere): refused while fresh, taken once stale.
	silent, err := st.CreateRun(ctx, p.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Start(ctx, p.ID, longRun); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Start beside a fresh run: %v", err)
	}
	time.Sleep(staleAfter + staleAfter/5)
	run, err := other.Start(ctx, p.ID, longRun)
	if err != nil {
		t.Fatalf("Start after the run went stale: %v", err)
	}
	if r, _ := st.Run(ctx, silent.ID); r.Status != store.RunInterrupted || !strings.Contains(r.Error, "no sign of life") {
		t.Errorf("stale run %+v", r)
	}
	if r, _ := st.Run(ctx, liveRun.ID); r.Status != store.RunInterrupted || !strings.Contains(r.Error, "workbench stopped") {
		t.Errorf("closed trainer's run %+v", r)
	}
	if run.ID <= silent.ID {
		t.Errorf("new run %d", run.ID)
	}
}

// A run left "running" by a process that stopped beating (hung, or crashed on another host) is marked
// interrupted once its heartbeat is stale; the previous model stays active and the database is intact.
func TestInterruptedRunKeepsPreviousModel(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st, err := store.Open(dir, os.DirFS("../../migrations"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := st.CreateProject(ctx, "crash", []store.Class{{Name: "gm", Color: "#00ff00"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := train.NewModel(train.DefaultSettings(1))
	if err != nil {
		t.Fatal(err)
	}
	settings, _ := json.Marshal(m.Info.Settings)
	prev, err := st.CreateModel(ctx, store.NewModel{ProjectID: p.ID, Arch: m.Info.Arch, Settings: settings, Activate: true,
		Write: func(w io.Writer) error { _, err := m.WriteTo(w); return err }})
	if err != nil {
		t.Fatal(err)
	}
	run, err := st.CreateRun(ctx, p.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.StartRun(ctx, run.ID); err != nil {
		t.Fatal(err)
	}
	st.Close() // the run's process goes silent here

	st, err = store.Open(dir, os.DirFS("../../migrations"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if n, err := st.MarkInterruptedRuns(ctx); err != nil || n != 0 {
		t.Fatalf("MarkInterruptedRuns with a fresh heartbeat: %d, %v", n, err)
	}
	st.SetRunStaleAfter(20 * time.Millisecond)
	time.Sleep(40 * time.Millisecond)
	if n, err := st.MarkInterruptedRuns(ctx); err != nil || n != 1 {
		t.Fatalf("MarkInterruptedRuns: %d, %v", n, err)
	}
	if r, err := st.Run(ctx, run.ID); err != nil || r.Status != store.RunInterrupted {
		t.Fatalf("run after restart: %+v, %v", r, err)
	}
	if a, err := st.ActiveModel(ctx, p.ID); err != nil || a.ID != prev.ID {
		t.Fatalf("active model after restart: %+v, %v", a, err)
	}
	if _, err := train.Load(st.ModelPath(prev)); err != nil {
		t.Fatalf("previous model file: %v", err)
	}
	checkIntegrity(t, dir)

	// The trainer takes the project again.
	tr := NewTrainer(Config{Store: st, Logger: quiet})
	defer tr.Close()
	if _, err := tr.Start(ctx, p.ID, Request{}); err != nil {
		t.Fatalf("start after an interrupted run: %v", err)
	}
}

// The training crop is the project's, unless a run's settings override it; every preset trains on it.
func TestResolveSettingsTakesTheProjectCrop(t *testing.T) {
	p := store.Project{Classes: []store.Class{{Name: "gm", Color: "#00ff00"}}, CropW: 64, CropH: 40, Settings: []byte(`{"preset":"paper"}`)}
	rs, err := ResolveSettings(p, Request{})
	if err != nil || rs.Preset != PresetPaper || rs.Train.CropW != 64 || rs.Train.CropH != 40 || rs.Train.BatchSize != 11 {
		t.Fatalf("project crop: %+v, %v", rs, err)
	}
	rs, err = ResolveSettings(p, Request{Settings: []byte(`{"crop_w":32}`)})
	if err != nil || rs.Train.CropW != 32 || rs.Train.CropH != 40 {
		t.Fatalf("request crop: %+v, %v", rs.Train, err)
	}
	if _, err := ResolveSettings(p, Request{Settings: []byte(`{"crop_w":36}`)}); err == nil || !strings.Contains(err.Error(), "multiples of 8") {
		t.Fatalf("crop 36: %v", err)
	}
}
