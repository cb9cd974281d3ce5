package server

import (
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

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
func (e *testEnv) t2sLabelled(name string, slices ...int) (store.Project, volumeSummary) {
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

// fastSettings train for a few quick steps on 32x32 crops.
var fastSettings = map[string]any{"epochs": 3, "budget_seconds": 0, "crop_w": 32, "crop_h": 32, "batch_size": 2}

// wsEvent is any trainer or label event, decoded loosely.
type wsEvent struct {
	Type      string     `json:"type"`
	RunID     int64      `json:"runId"`
	Iteration int        `json:"iteration"`
	TrainLoss float64    `json:"trainLoss"`
	Run       *store.Run `json:"run"`
	ModelID   int64      `json:"modelId"`
	Slices    int        `json:"slices"`
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
	return func(ev wsEvent) bool { return ev.Type == EventRun && ev.Run.Status == status }
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
	e.sendJSON(http.MethodPost, fmt.Sprintf("/api/projects/%d/train", p.ID), map[string]any{"settings": fastSettings}).
		expect(t, http.StatusAccepted).json(t, &run)
	if run.Status != store.RunQueued || run.ProjectID != p.ID {
		t.Fatalf("started run %+v", run)
	}
	events := waitEvents(t, conn, 60*time.Second, func(ev wsEvent) bool {
		return ev.Type == EventRun && (ev.Run.Status == store.RunDone || ev.Run.Status == store.RunFailed)
	})
	counts := map[string]int{}
	var predictions wsEvent
	for _, ev := range events {
		counts[ev.Type]++
		if ev.Type == EventIteration && (ev.RunID != run.ID || !(ev.TrainLoss > 0)) {
			t.Fatalf("iteration event %+v", ev)
		}
		if ev.Type == EventPredictions {
			predictions = ev
		}
	}
	last := events[len(events)-1].Run
	if last.Status != store.RunDone || last.ModelID == nil {
		t.Fatalf("run ended %+v", last)
	}
	if counts[EventIteration] < 2 || counts[EventEpoch] < 1 || counts[EventRun] < 3 || counts[EventPredictions] != 1 {
		t.Fatalf("event counts %v", counts)
	}
	unlabelled := v.Shape[2] - len(labelled)
	if predictions.ModelID != *last.ModelID || predictions.Slices != unlabelled {
		t.Fatalf("predictions event %+v, want model %d and %d slices", predictions, *last.ModelID, unlabelled)
	}

	// The run's stored history holds every progress event, for a redraw after a reload.
	var detail runDetail
	e.get(fmt.Sprintf("/api/runs/%d", run.ID)).expect(t, http.StatusOK).json(t, &detail)
	if len(detail.Events) != counts[EventIteration]+counts[EventEpoch] || detail.Status != store.RunDone {
		t.Fatalf("run detail: status %s, %d events; %v published", detail.Status, len(detail.Events), counts)
	}
	var settings RunSettings
	if err := json.Unmarshal(detail.Settings, &settings); err != nil || settings.Train.Epochs != 3 || settings.Train.CropW != 32 ||
		settings.WarmStartModelID != nil || strings.Join(settings.Train.ClassNames, ",") != "wm,gm" {
		t.Fatalf("run settings %s (%v)", detail.Settings, err)
	}

	var models []store.Model
	e.get(fmt.Sprintf("/api/projects/%d/models", p.ID)).expect(t, http.StatusOK).json(t, &models)
	if len(models) != 1 || !models[0].Active || models[0].ID != *last.ModelID || models[0].RunID == nil || *models[0].RunID != run.ID {
		t.Fatalf("models %+v", models)
	}
	var mm modelMetrics
	if err := json.Unmarshal(models[0].Metrics, &mm); err != nil || mm.Iterations < 2 || mm.EvalSlices != 1 || len(mm.Classes) != 2 ||
		mm.Classes[1].Name != "gm" || mm.Classes[1].Dice == nil {
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
	var areas Areas
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
	var m store.Model
	e.sendJSON(http.MethodPut, fmt.Sprintf("/api/projects/%d/active-model", p.ID), map[string]any{"modelId": models[1].ID}).
		expect(t, http.StatusOK).json(t, &m)
	if !m.Active || m.ID != models[1].ID {
		t.Fatalf("rolled back to %+v", m)
	}
	waitEvents(t, conn, 5*time.Second, func(ev wsEvent) bool { return ev.Type == EventActiveModel && ev.ModelID == models[1].ID })
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
	waitEvents(t, conn, 30*time.Second, func(ev wsEvent) bool { return ev.Type == EventIteration })

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
	var models []store.Model
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

	var ts trainingSettings
	e.get(fmt.Sprintf("/api/projects/%d/training-settings", p.ID)).expect(t, http.StatusOK).json(t, &ts)
	if ts.Settings.Preset != PresetDefault || ts.Settings.Train.Classes != 1 || ts.Presets[PresetPaper].BatchSize != 11 {
		t.Fatalf("training settings %+v", ts)
	}
}

// A run left "running" by a process that stopped beating (hung, or crashed on another host) is marked
// interrupted once its heartbeat is stale; the previous model stays active and the database is intact.
func TestInterruptedRunKeepsPreviousModel(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st, err := store.Open(dir, os.DirFS("../migrations"))
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
		Write: func(w io.Writer) error { return writeModel(m, w) }})
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

	st, err = store.Open(dir, os.DirFS("../migrations"))
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
	tr := NewTrainer(TrainerConfig{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer tr.Close()
	if _, err := tr.Start(ctx, p.ID, TrainRequest{}); err != nil {
		t.Fatalf("start after an interrupted run: %v", err)
	}
}

// checkIntegrity runs SQLite's integrity check on a data directory's database.
func checkIntegrity(t *testing.T, dataDir string) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+dataDir+"/workbench.db?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var res string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&res); err != nil || res != "ok" {
		t.Fatalf("integrity_check: %q, %v", res, err)
	}
}

// A panicking job fails its run with the reason instead of crashing the server or leaving the run running.
func TestTrainerSurvivesAPanickingJob(t *testing.T) {
	e := newTestEnv(t)
	e.closeTrainer()
	p, _ := e.t2sLabelled("panic", 0, 4)
	tr := NewTrainer(TrainerConfig{Store: e.store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Volume: func(context.Context, int64) (*nifti.Volume, error) { panic("volume reader bug") }})
	defer tr.Close()
	out, err := tr.Train(context.Background(), p.ID, TrainRequest{})
	if err == nil || !strings.Contains(err.Error(), "volume reader bug") {
		t.Fatalf("Train: %v", err)
	}
	if out.Run.Status != store.RunFailed || !strings.Contains(out.Run.Error, "internal error: volume reader bug") {
		t.Fatalf("run %+v", out.Run)
	}
	if _, err := e.store.ActiveRun(context.Background(), p.ID); err == nil {
		t.Fatal("the project still has an active run")
	}
}

// The training crop is the project's, unless a run's settings override it; every preset trains on it.
func TestResolveSettingsTakesTheProjectCrop(t *testing.T) {
	p := store.Project{Classes: []store.Class{{Name: "gm", Color: "#00ff00"}}, CropW: 64, CropH: 40, Settings: []byte(`{"preset":"paper"}`)}
	rs, err := ResolveSettings(p, TrainRequest{})
	if err != nil || rs.Preset != PresetPaper || rs.Train.CropW != 64 || rs.Train.CropH != 40 || rs.Train.BatchSize != 11 {
		t.Fatalf("project crop: %+v, %v", rs, err)
	}
	rs, err = ResolveSettings(p, TrainRequest{Settings: []byte(`{"crop_w":32}`)})
	if err != nil || rs.Train.CropW != 32 || rs.Train.CropH != 40 {
		t.Fatalf("request crop: %+v, %v", rs.Train, err)
	}
	if _, err := ResolveSettings(p, TrainRequest{Settings: []byte(`{"crop_w":36}`)}); err == nil || !strings.Contains(err.Error(), "multiples of 8") {
		t.Fatalf("crop 36: %v", err)
	}
}
