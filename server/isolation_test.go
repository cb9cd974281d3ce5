package server

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mriworkbench/workbench/internal/event"
	"github.com/mriworkbench/workbench/internal/job"
	"github.com/mriworkbench/workbench/store"
)

// The requests that ran the whole server out of memory: refused with a 400 naming the settings and
// the budget, with the default budget (half of the machine's memory); no run is created, and the server still
// answers. The training settings report the budget and the estimate.
func TestOversizedTrainingIsRefused(t *testing.T) {
	e := newTestEnv(t)
	e.closeTrainer()
	p, _ := e.t2sLabelled("oversized", 0, 4, 8)
	for _, batch := range []int{20000, 400} {
		body := map[string]any{"settings": map[string]any{"batch_size": batch, "crop_w": 1024, "crop_h": 1024}}
		msg := e.sendJSON(http.MethodPost, fmt.Sprintf("/api/projects/%d/train", p.ID), body).expect(t, http.StatusBadRequest).errorMessage(t)
		if !strings.Contains(msg, fmt.Sprintf("batch_size %d at crop 1024x1024", batch)) || !strings.Contains(msg, "over the training budget") ||
			!strings.Contains(msg, "crop_w and crop_h") {
			t.Fatalf("batch %d: refusal %q", batch, msg)
		}
		t.Logf("batch %d: %s", batch, msg)
		e.get("/api/health").expect(t, http.StatusOK)
	}
	var runs []store.Run
	e.get(fmt.Sprintf("/api/projects/%d/runs", p.ID)).expect(t, http.StatusOK).json(t, &runs)
	if len(runs) != 0 {
		t.Fatalf("refused requests created runs %+v", runs)
	}
	var ts job.Settings
	e.get(fmt.Sprintf("/api/projects/%d/training-settings", p.ID)).expect(t, http.StatusOK).json(t, &ts)
	if m := ts.Memory; m == nil || m.Budget != job.DefaultMemoryBudget() || m.Bytes <= 0 || m.Bytes > m.Budget || m.PerCropPixel["smallunet"] <= 0 {
		t.Fatalf("training settings memory %+v", ts.Memory)
	}
}

// A run whose worker runs out of memory (its own limit set far below the run's need, as a wrong estimate
// would leave it) fails with the reason while the server keeps serving: health, label saves and the project's
// next run all work.
func TestWorkerOutOfMemoryFailsTheRunNotTheServer(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.Training.MemoryLimit = 64 << 20 })
	e.closeTrainer()
	p, v := e.t2sLabelled("oom", 0, 4, 8)
	conn := e.mustDial(p.ID)
	big := map[string]any{"settings": map[string]any{"epochs": 1, "budget_seconds": 0, "batch_size": 8, "crop_w": 256, "crop_h": 256}}
	var run store.Run
	e.sendJSON(http.MethodPost, fmt.Sprintf("/api/projects/%d/train", p.ID), big).expect(t, http.StatusAccepted).json(t, &run)
	evs := waitEvents(t, conn, 60*time.Second, func(ev wsEvent) bool {
		return ev.Type == event.TypeRun && ev.Run.ID == run.ID && ev.Run.Status != store.RunQueued && ev.Run.Status != store.RunRunning
	})
	if r := evs[len(evs)-1].Run; r.Status != store.RunFailed || !strings.Contains(r.Error, "the training process ran out of memory (its limit is 64 MiB)") {
		t.Fatalf("run %+v", r)
	}
	e.get("/api/health").expect(t, http.StatusOK)
	e.putMask(v.ID, 2, 0, make([]byte, v.Shape[0]*v.Shape[1]), nil).expect(t, http.StatusOK)
	e.sendJSON(http.MethodPost, fmt.Sprintf("/api/projects/%d/train", p.ID), map[string]any{"settings": fastSettings}).expect(t, http.StatusAccepted)
	waitEvents(t, conn, 60*time.Second, runEnded(store.RunDone))
}
