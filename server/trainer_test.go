package server

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/mriworkbench/workbench/internal/event"
	"github.com/mriworkbench/workbench/internal/export"
	"github.com/mriworkbench/workbench/internal/job"
	"github.com/mriworkbench/workbench/ml/train"
	"github.com/mriworkbench/workbench/nifti"
	"github.com/mriworkbench/workbench/store"
)

const (
	t2sImage = "sct_testing_data/t2s/t2s.nii.gz"
	t2sCord  = "sct_testing_data/t2s/t2s_seg.nii.gz"
	t2sGM    = "sct_testing_data/t2s/t2s_gmseg_manual.nii.gz"
)

// t2sLabelled is a project (wm, gm) with the small t2s volume (49x54, 9 slices) and its expert masks
// (WM = cord and not GM) on the given canonical slices.
func (e *testEnv) t2sLabelled(name string, slices ...int) (store.Project, event.VolumeSummary) {
	e.t.Helper()
	p := e.createProject(name, "wm", "gm")
	v := e.uploadVolume(p.ID, t2sImage)
	cord, gm := canonicalVolume(e.t, t2sCord), canonicalVolume(e.t, t2sGM)
	n := v.Shape[0] * v.Shape[1]
	for _, z := range slices {
		mask := make([]byte, n)
		for i := range mask {
			switch {
			case gm.Data[z*n+i] > 0.5:
				mask[i] = 2
			case cord.Data[z*n+i] > 0.5:
				mask[i] = 1
			}
		}
		e.putMask(v.ID, z, 0, mask, nil).expect(e.t, http.StatusOK)
	}
	return p, v
}

// canonicalVolume reads a shared file onto the canonical grid.
func canonicalVolume(t testing.TB, rel string) *nifti.Volume {
	t.Helper()
	img, err := nifti.Read(sharedData(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	vol, _ := img.Canonical()
	return vol
}

// closeTrainer stops the server's training jobs when the test ends, before the store closes.
func (e *testEnv) closeTrainer() { e.t.Cleanup(e.srv.Trainer().Close) }

// fastSettings train for a few quick steps on 32x32 crops (and, with fewer than 30 labelled slices, a k-fold
// evaluation follows the run in the background).
var fastSettings = map[string]any{"epochs": 3, "budget_seconds": 0, "crop_w": 32, "crop_h": 32, "batch_size": 2}

// fastCVSettings are fastSettings with the presets' k-fold threshold spelt out.
var fastCVSettings = map[string]any{"epochs": 3, "budget_seconds": 0, "crop_w": 32, "crop_h": 32, "batch_size": 2, "cross_validate": 30}

// wsEvent is any trainer or label event, decoded loosely.
type wsEvent struct {
	Type      string     `json:"type"`
	RunID     int64      `json:"runId"`
	Iteration int        `json:"iteration"`
	TrainLoss float64    `json:"trainLoss"`
	Run       *store.Run `json:"run"`
	ModelID   int64      `json:"modelId"`
	Slices    int        `json:"slices"`
	Status    string     `json:"status"` // evaluation events
	Fold      int        `json:"fold"`
	Summary   string     `json:"summary"`
}

// waitEvents reads events until done returns true for one, failing after timeout.
func waitEvents(t testing.TB, conn *websocket.Conn, timeout time.Duration, done func(wsEvent) bool) []wsEvent {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var seen []wsEvent
	for {
		conn.SetReadDeadline(deadline)
		_, msg, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("after %d events: %v", len(seen), err)
		}
		var ev wsEvent
		if err := json.Unmarshal(msg, &ev); err != nil {
			t.Fatalf("event %s: %v", msg, err)
		}
		seen = append(seen, ev)
		if done(ev) {
			return seen
		}
	}
}

func runEnded(status string) func(wsEvent) bool {
	return func(ev wsEvent) bool { return ev.Type == event.TypeRun && ev.Run.Status == status }
}

// Train now over HTTP: progress arrives on the websocket, the run ends done with an active model whose
// predictions cover exactly the unlabelled slices, the review queue fills, and history, metrics, model
// download, areas and a second run's warm start all follow.
func TestTrainOverHTTP(t *testing.T) {
	e := newTestEnv(t)
	e.closeTrainer()
	labelled := []int{0, 2, 4, 6, 8}
	p, v := e.t2sLabelled("train", labelled...)
	conn := e.mustDial(p.ID)

	var run store.Run
	e.sendJSON(http.MethodPost, fmt.Sprintf("/api/projects/%d/train", p.ID), map[string]any{"settings": fastCVSettings}).
		expect(t, http.StatusAccepted).json(t, &run)
	if run.Status != store.RunQueued || run.ProjectID != p.ID {
		t.Fatalf("started run %+v", run)
	}
	events := waitEvents(t, conn, 60*time.Second, func(ev wsEvent) bool {
		return ev.Type == event.TypeRun && (ev.Run.Status == store.RunDone || ev.Run.Status == store.RunFailed)
	})
	counts := map[string]int{}
	var predictions wsEvent
	for _, ev := range events {
		counts[ev.Type]++
		if ev.Type == event.TypeIteration && (ev.RunID != run.ID || !(ev.TrainLoss > 0)) {
			t.Fatalf("iteration event %+v", ev)
		}
		if ev.Type == event.TypePredictions {
			predictions = ev
		}
	}
	last := events[len(events)-1].Run
	if last.Status != store.RunDone || last.ModelID == nil {
		t.Fatalf("run ended %+v", last)
	}
	if counts[event.TypeIteration] < 2 || counts[event.TypeEpoch] < 1 || counts[event.TypeRun] < 3 || counts[event.TypePredictions] != 1 {
		t.Fatalf("event counts %v", counts)
	}
	unlabelled := v.Shape[2] - len(labelled)
	if predictions.ModelID != *last.ModelID || predictions.Slices != unlabelled {
		t.Fatalf("predictions event %+v, want model %d and %d slices", predictions, *last.ModelID, unlabelled)
	}

	// The run's stored history holds every progress event, for a redraw after a reload.
	var detail runDetail
	e.get(fmt.Sprintf("/api/runs/%d", run.ID)).expect(t, http.StatusOK).json(t, &detail)
	if len(detail.Events) != counts[event.TypeIteration]+counts[event.TypeEpoch] || detail.Status != store.RunDone {
		t.Fatalf("run detail: status %s, %d events; %v published", detail.Status, len(detail.Events), counts)
	}
	var settings job.RunSettings
	if err := json.Unmarshal(detail.Settings, &settings); err != nil || settings.Train.Epochs != 3 || settings.Train.CropW != 32 ||
		settings.WarmStartModelID != nil || strings.Join(settings.Train.ClassNames, ",") != "wm,gm" {
		t.Fatalf("run settings %s (%v)", detail.Settings, err)
	}

	var models []store.ModelVersion
	e.get(fmt.Sprintf("/api/projects/%d/models", p.ID)).expect(t, http.StatusOK).json(t, &models)
	if len(models) != 1 || !models[0].Active || models[0].ID != *last.ModelID || models[0].RunID == nil || *models[0].RunID != run.ID {
		t.Fatalf("models %+v", models)
	}
	var mm job.ModelMetrics
	// Few labelled slices: every one trains the model, delivered unscored; a k-fold cross-validation follows
	// in the background and scores them all.
	if err := json.Unmarshal(models[0].Metrics, &mm); err != nil || mm.TrainSlices != len(labelled) || mm.Evaluation != nil || len(mm.Classes) != 0 {
		t.Fatalf("model metrics as delivered %s (%v)", models[0].Metrics, err)
	}
	evaluation := waitEvents(t, conn, 60*time.Second, func(ev wsEvent) bool {
		return ev.Type == event.TypeEvaluation && ev.Status != event.EvaluationRunning
	})
	if end := evaluation[len(evaluation)-1]; end.Status != event.EvaluationDone || end.ModelID != *last.ModelID || !strings.Contains(end.Summary, "3-fold over 5 slices") {
		t.Fatalf("evaluation ended %+v", end)
	}
	e.get(fmt.Sprintf("/api/projects/%d/models", p.ID)).expect(t, http.StatusOK).json(t, &models)
	mm = job.ModelMetrics{}
	if err := json.Unmarshal(models[0].Metrics, &mm); err != nil || mm.Iterations < 2 || mm.EvalSlices != len(labelled) || mm.Evaluation == nil || len(mm.Classes) != 2 ||
		mm.Classes[1].Name != "gm" || !strings.Contains(string(models[0].Metrics), `"dice":`) {
		t.Fatalf("model metrics %s (%v)", models[0].Metrics, err)
	}

	// Predictions for every unlabelled slice, none for labelled ones; the queue lists them all.
	for z := range v.Shape[2] {
		want := http.StatusOK
		if z%2 == 0 {
			want = http.StatusNotFound
		}
		e.get(fmt.Sprintf("/api/volumes/%d/slices/%d/prediction", v.ID, z)).expect(t, want)
	}
	var queue []store.QueueItem
	e.get(fmt.Sprintf("/api/projects/%d/review-queue", p.ID)).expect(t, http.StatusOK).json(t, &queue)
	if len(queue) != unlabelled {
		t.Fatalf("review queue %+v, want %d slices", queue, unlabelled)
	}

	// The downloaded model file loads and segments.
	dl := e.get(fmt.Sprintf("/api/models/%d/download", models[0].ID)).expect(t, http.StatusOK)
	path := t.TempDir() + "/m.wbmodel"
	if err := os.WriteFile(path, dl.body, 0o644); err != nil {
		t.Fatal(err)
	}
	if m, err := train.Load(path); err != nil || m.Info.Classes != 2 {
		t.Fatalf("downloaded model: %v", err)
	}

	// Areas: manual slices measure the expert masks exactly.
	var areas export.Areas
	e.get(fmt.Sprintf("/api/projects/%d/areas", p.ID)).expect(t, http.StatusOK).json(t, &areas)
	if len(areas.Volumes) != 1 || len(areas.Volumes[0].Slices) != v.Shape[2] || strings.Join(areas.Classes, ",") != "wm,gm" {
		t.Fatalf("areas %+v", areas)
	}
	_, gm, _ := canonicalOf(t, t2sGM)
	n := v.Shape[0] * v.Shape[1]
	gmPixels := 0
	for _, x := range gm.Data[4*n : 5*n] {
		if x > 0.5 {
			gmPixels++
		}
	}
	s4 := areas.Volumes[0].Slices[4]
	if want := float64(gmPixels) * v.Spacing[0] * v.Spacing[1]; s4.Status != store.StatusLabelled || s4.AreasMM2[1] != want {
		t.Fatalf("slice 4 areas %+v, want gm %v mm2", s4, want)
	}
	if s := areas.Volumes[0].Slices[1]; s.Status != store.StatusPredicted {
		t.Fatalf("slice 1 areas %+v", s)
	}
	csvResp := e.get(fmt.Sprintf("/api/projects/%d/areas.csv", p.ID)).expect(t, http.StatusOK)
	rows, err := csv.NewReader(strings.NewReader(string(csvResp.body))).ReadAll()
	if err != nil || len(rows) != 1+v.Shape[2] || strings.Join(rows[0], ",") != "volume,slice,position_mm,status,wm_area_mm2,gm_area_mm2" {
		t.Fatalf("areas.csv %q (%v)", csvResp.body, err)
	}

	// A retrain warm-starts from the active model, which becomes the new one's parent.
	e.sendJSON(http.MethodPost, fmt.Sprintf("/api/projects/%d/train", p.ID), map[string]any{"settings": map[string]any{"epochs": 1, "budget_seconds": 0, "crop_w": 32, "crop_h": 32, "batch_size": 2}}).
		expect(t, http.StatusAccepted)
	waitEvents(t, conn, 60*time.Second, runEnded(store.RunDone))
	e.get(fmt.Sprintf("/api/projects/%d/models", p.ID)).expect(t, http.StatusOK).json(t, &models)
	if len(models) != 2 || !models[0].Active || models[1].Active || models[0].ParentID == nil || *models[0].ParentID != models[1].ID {
		t.Fatalf("after retrain: models %+v", models)
	}

	// Roll back to the first model: it is active again, and clients hear of it.
	var m store.ModelVersion
	e.sendJSON(http.MethodPut, fmt.Sprintf("/api/projects/%d/active-model", p.ID), map[string]any{"modelId": models[1].ID}).
		expect(t, http.StatusOK).json(t, &m)
	if !m.Active || m.ID != models[1].ID {
		t.Fatalf("rolled back to %+v", m)
	}
	waitEvents(t, conn, 5*time.Second, func(ev wsEvent) bool { return ev.Type == event.TypeActiveModel && ev.ModelID == models[1].ID })
	other := e.createProject("other", "gm")
	e.sendJSON(http.MethodPut, fmt.Sprintf("/api/projects/%d/active-model", other.ID), map[string]any{"modelId": models[1].ID}).
		expect(t, http.StatusNotFound)
}

// One run per project: a second request while one trains is refused with 409 naming the running run; cancel
// ends it without a model, and the project can train again.
func TestTrainConflictAndCancel(t *testing.T) {
	e := newTestEnv(t)
	e.closeTrainer()
	p, _ := e.t2sLabelled("cancel", 0, 3, 6, 8)
	conn := e.mustDial(p.ID)
	long := map[string]any{"settings": map[string]any{"epochs": 0, "budget_seconds": 120, "crop_w": 32, "crop_h": 32, "batch_size": 2}}
	var run store.Run
	e.sendJSON(http.MethodPost, fmt.Sprintf("/api/projects/%d/train", p.ID), long).expect(t, http.StatusAccepted).json(t, &run)
	waitEvents(t, conn, 30*time.Second, func(ev wsEvent) bool { return ev.Type == event.TypeIteration })

	msg := e.sendJSON(http.MethodPost, fmt.Sprintf("/api/projects/%d/train", p.ID), long).expect(t, http.StatusConflict).errorMessage(t)
	if !strings.Contains(msg, fmt.Sprintf("run %d", run.ID)) {
		t.Fatalf("conflict message %q does not name run %d", msg, run.ID)
	}
	var cancelled store.Run
	e.do(http.MethodPost, fmt.Sprintf("/api/runs/%d/cancel", run.ID), nil, nil).expect(t, http.StatusOK).json(t, &cancelled)
	if cancelled.Status != store.RunCancelled || cancelled.ModelID != nil {
		t.Fatalf("cancelled run %+v", cancelled)
	}
	waitEvents(t, conn, 5*time.Second, runEnded(store.RunCancelled))
	e.do(http.MethodPost, fmt.Sprintf("/api/runs/%d/cancel", run.ID), nil, nil).expect(t, http.StatusConflict)
	var models []store.ModelVersion
	e.get(fmt.Sprintf("/api/projects/%d/models", p.ID)).expect(t, http.StatusOK).json(t, &models)
	if len(models) != 0 {
		t.Fatalf("a cancelled run stored models %+v", models)
	}
	var runs []store.Run
	e.get(fmt.Sprintf("/api/projects/%d/runs", p.ID)).expect(t, http.StatusOK).json(t, &runs)
	if len(runs) != 1 || runs[0].Status != store.RunCancelled {
		t.Fatalf("runs %+v", runs)
	}
	// Free again: a new run starts (and is cancelled by the trainer's shutdown at cleanup).
	e.sendJSON(http.MethodPost, fmt.Sprintf("/api/projects/%d/train", p.ID), long).expect(t, http.StatusAccepted)
}

func TestTrainRefusals(t *testing.T) {
	e := newTestEnv(t)
	e.closeTrainer()
	p := e.createProject("empty", "gm")
	for _, c := range []struct {
		body   any
		status int
		want   string
	}{
		{map[string]any{"settings": map[string]any{"epoch": 3}}, http.StatusBadRequest, "epoch"},
		{map[string]any{"settings": map[string]any{"arch": "resnet"}}, http.StatusBadRequest, "architecture"},
		{map[string]any{"preset": "fastest"}, http.StatusBadRequest, "preset"},
		{map[string]any{"settings": map[string]any{"learning_rate": "fast"}}, http.StatusBadRequest, "learning_rate"},
	} {
		msg := e.sendJSON(http.MethodPost, fmt.Sprintf("/api/projects/%d/train", p.ID), c.body).expect(t, c.status).errorMessage(t)
		if !strings.Contains(msg, c.want) {
			t.Fatalf("%v: error %q does not mention %q", c.body, msg, c.want)
		}
	}
	e.sendJSON(http.MethodPost, "/api/projects/999/train", map[string]any{}).expect(t, http.StatusNotFound)
	e.do(http.MethodPost, "/api/runs/999/cancel", nil, nil).expect(t, http.StatusNotFound)
	e.get("/api/models/999/download").expect(t, http.StatusNotFound)

	// Without labels the run starts and fails, saying why.
	conn := e.mustDial(p.ID)
	e.do(http.MethodPost, fmt.Sprintf("/api/projects/%d/train", p.ID), nil, nil).expect(t, http.StatusAccepted)
	evs := waitEvents(t, conn, 10*time.Second, runEnded(store.RunFailed))
	if r := evs[len(evs)-1].Run; !strings.Contains(r.Error, "no labelled slices") {
		t.Fatalf("failed run %+v", r)
	}

	var ts job.Settings
	e.get(fmt.Sprintf("/api/projects/%d/training-settings", p.ID)).expect(t, http.StatusOK).json(t, &ts)
	if ts.Settings.Preset != job.PresetDefault || ts.Settings.Train.Classes != 1 || ts.Presets[job.PresetPaper].BatchSize != 11 {
		t.Fatalf("training settings %+v", ts)
	}
}
