package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mriworkbench/workbench/internal/event"
	"github.com/mriworkbench/workbench/internal/job"
	"github.com/mriworkbench/workbench/store"
)

// A model trained on few labelled slices is evaluated after its run: the models list shows the progress, an
// annotator cannot stop it (403), a reviewer can (audit-logged), and the model then says why it has no scores.
func TestEvaluationShownAndStoppedOverHTTP(t *testing.T) {
	e := newTestEnv(t)
	e.closeTrainer()
	ctx := context.Background()
	p, _ := e.t2sLabelled("evaluate", 0, 2, 4)
	conn := e.mustDial(p.ID)
	slow := map[string]any{"epochs": 0, "budget_seconds": 3, "crop_w": 32, "crop_h": 32, "batch_size": 2}
	e.sendJSON(http.MethodPost, fmt.Sprintf("/api/projects/%d/train", p.ID), map[string]any{"settings": slow}).expect(t, http.StatusAccepted)
	running := waitEvents(t, conn, 90*time.Second, func(ev wsEvent) bool {
		return ev.Type == event.TypeEvaluation && ev.Status == event.EvaluationRunning && ev.Fold >= 1
	})
	modelID := running[len(running)-1].ModelID

	type listed struct {
		store.ModelVersion
		Evaluating *job.EvaluationProgress `json:"evaluating"`
	}
	var models []listed
	e.get(fmt.Sprintf("/api/projects/%d/models", p.ID)).expect(t, http.StatusOK).json(t, &models)
	if len(models) != 1 || models[0].ID != modelID || models[0].Evaluating == nil || models[0].Evaluating.Folds != 3 ||
		models[0].Evaluating.Slices != 3 || models[0].Evaluating.Fold < 1 {
		t.Fatalf("models while evaluating: %+v", models)
	}

	rev, ann := e.reviewerAndAnnotator()
	stop := func(b *browser) response {
		return b.do(http.MethodPost, fmt.Sprintf("/api/projects/%d/models/%d/evaluation/stop", p.ID, modelID), nil, nil)
	}
	stop(ann).expect(t, http.StatusForbidden)
	stop(rev).expect(t, http.StatusNoContent)
	if msg := stop(rev).expect(t, http.StatusConflict).errorMessage(t); !strings.Contains(msg, "not being evaluated") {
		t.Fatalf("second stop: %q", msg)
	}
	models = nil // decoding into the old elements would keep their evaluating
	e.get(fmt.Sprintf("/api/projects/%d/models", p.ID)).expect(t, http.StatusOK).json(t, &models)
	var mm job.ModelMetrics
	if err := json.Unmarshal(models[0].Metrics, &mm); err != nil || models[0].Evaluating != nil || mm.EvaluationStopped != "stopped on request" ||
		mm.Evaluation != nil || mm.TrainSlices != 3 {
		t.Fatalf("model after the stop: %+v, metrics %s (%v)", models[0], models[0].Metrics, err)
	}
	entries, err := e.store.AuditLog(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range entries {
		found = found || (a.Action == "model.evaluation.stop" && a.Actor == "rev" && strings.Contains(a.Detail, fmt.Sprintf("model %d", modelID)))
	}
	if !found {
		t.Fatalf("no model.evaluation.stop audit entry in %+v", entries)
	}
}
