package store

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestRunLifecycle(t *testing.T) {
	s := newStore(t)
	p := newProject(t, s, "p")
	if _, err := s.ActiveRun(ctx, p.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("ActiveRun with none: %v", err)
	}
	r, err := s.CreateRun(ctx, p.ID, json.RawMessage(`{"epochs":2}`))
	if err != nil || r.Status != RunQueued || r.StartedAt != nil || string(r.Settings) != `{"epochs":2}` {
		t.Fatalf("CreateRun %+v, %v", r, err)
	}
	if _, err := s.CreateRun(ctx, p.ID, nil); !errors.Is(err, ErrConflict) {
		t.Errorf("second run while one is queued: %v, want ErrConflict", err)
	}
	if _, err := s.FinishRun(ctx, r.ID, RunDone, "", nil); err != nil { // a queued run can be cancelled or ended
		t.Fatal(err)
	}
	r2, err := s.CreateRun(ctx, p.ID, nil)
	if err != nil {
		t.Fatalf("new run after the first finished: %v", err)
	}
	if active, err := s.ActiveRun(ctx, p.ID); err != nil || active.ID != r2.ID {
		t.Errorf("ActiveRun = %+v, %v", active, err)
	}
	started, err := s.StartRun(ctx, r2.ID)
	if err != nil || started.Status != RunRunning || started.StartedAt == nil {
		t.Fatalf("StartRun %+v, %v", started, err)
	}
	if _, err := s.StartRun(ctx, r2.ID); !errors.Is(err, ErrConflict) {
		t.Errorf("start a running run: %v", err)
	}
	if _, err := s.CreateRun(ctx, p.ID, nil); !errors.Is(err, ErrConflict) {
		t.Errorf("second run while one runs: %v", err)
	}
	m := createModel(t, s, p.ID, false)
	done, err := s.FinishRun(ctx, r2.ID, RunDone, "", &m.ID)
	if err != nil || done.Status != RunDone || done.FinishedAt == nil || done.ModelID == nil || *done.ModelID != m.ID {
		t.Fatalf("FinishRun %+v, %v", done, err)
	}
	if _, err := s.FinishRun(ctx, r2.ID, RunFailed, "again", nil); !errors.Is(err, ErrConflict) {
		t.Errorf("finish a finished run: %v", err)
	}
	r3, _ := s.CreateRun(ctx, p.ID, nil)
	if _, err := s.FinishRun(ctx, r3.ID, RunRunning, "", nil); !isValidation(err) {
		t.Errorf("finish with status running: %v", err)
	}
	failed, err := s.FinishRun(ctx, r3.ID, RunFailed, "out of memory", nil)
	if err != nil || failed.Error != "out of memory" {
		t.Errorf("failed run %+v, %v", failed, err)
	}

	runs, err := s.Runs(ctx, p.ID)
	if err != nil || len(runs) != 3 || runs[0].ID != r3.ID || runs[2].ID != r.ID {
		t.Errorf("Runs = %+v, %v (want newest first)", runs, err)
	}
	if _, err := s.Run(ctx, 999); !errors.Is(err, ErrNotFound) {
		t.Errorf("Run(999): %v", err)
	}
	if _, err := s.StartRun(ctx, 999); !errors.Is(err, ErrNotFound) {
		t.Errorf("StartRun(999): %v", err)
	}
	if _, err := s.Runs(ctx, 999); !errors.Is(err, ErrNotFound) {
		t.Errorf("Runs(999): %v", err)
	}
	if _, err := s.CreateRun(ctx, 999, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("CreateRun(999): %v", err)
	}
	if _, err := s.CreateRun(ctx, p.ID, json.RawMessage(`[`)); !isValidation(err) {
		t.Errorf("CreateRun with bad settings: %v", err)
	}
}

func TestFinishRunWithModelOfAnotherProject(t *testing.T) {
	s := newStore(t)
	p, q := newProject(t, s, "p"), newProject(t, s, "q")
	r, _ := s.CreateRun(ctx, p.ID, nil)
	m := createModel(t, s, q.ID, false)
	if _, err := s.FinishRun(ctx, r.ID, RunDone, "", &m.ID); !isValidation(err) {
		t.Errorf("model of another project: %v", err)
	}
	missing := int64(999)
	if _, err := s.FinishRun(ctx, r.ID, RunDone, "", &missing); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown model: %v", err)
	}
}

func TestMarkInterruptedRuns(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	p, q, u := newProject(t, s, "p"), newProject(t, s, "q"), newProject(t, s, "u")
	running, _ := s.CreateRun(ctx, p.ID, nil)
	s.StartRun(ctx, running.ID)
	queued, _ := s.CreateRun(ctx, q.ID, nil)
	finished, _ := s.CreateRun(ctx, u.ID, nil)
	s.FinishRun(ctx, finished.ID, RunCancelled, "", nil)
	s.Close()

	s = openStore(t, dir) // as at a restart
	n, err := s.MarkInterruptedRuns(ctx)
	if err != nil || n != 2 {
		t.Fatalf("MarkInterruptedRuns = %d, %v; want 2", n, err)
	}
	for _, id := range []int64{running.ID, queued.ID} {
		r, _ := s.Run(ctx, id)
		if r.Status != RunInterrupted || r.FinishedAt == nil || r.Error == "" {
			t.Errorf("run %d after restart: %+v", id, r)
		}
	}
	if r, _ := s.Run(ctx, finished.ID); r.Status != RunCancelled {
		t.Errorf("finished run changed: %+v", r)
	}
	if _, err := s.CreateRun(ctx, p.ID, nil); err != nil {
		t.Errorf("a new run after the interruption: %v", err)
	}
	if n, _ := s.MarkInterruptedRuns(ctx); n != 1 {
		t.Errorf("second call marked %d, want the 1 new queued run", n)
	}
	checkIntegrity(t, s)
}

func TestRunEvents(t *testing.T) {
	s := newStore(t)
	p := newProject(t, s, "p")
	r, _ := s.CreateRun(ctx, p.ID, nil)
	got, err := s.AppendRunEvents(ctx, r.ID, []RunEvent{
		{Kind: "iteration", Data: json.RawMessage(`{"loss":0.9}`)},
		{Kind: "iteration", Seq: 77, Data: json.RawMessage(`{"loss":0.8}`)},
	})
	if err != nil || len(got) != 2 || got[0].Seq != 1 || got[1].Seq != 2 || got[0].CreatedAt.IsZero() {
		t.Fatalf("AppendRunEvents = %+v, %v", got, err)
	}
	if got, err = s.AppendRunEvents(ctx, r.ID, []RunEvent{{Kind: "epoch"}}); err != nil || got[0].Seq != 3 || string(got[0].Data) != "{}" {
		t.Fatalf("third event %+v, %v", got, err)
	}
	all, err := s.RunEvents(ctx, r.ID, 0)
	if err != nil || len(all) != 3 || all[1].Kind != "iteration" || string(all[1].Data) != `{"loss":0.8}` || all[2].Kind != "epoch" {
		t.Errorf("RunEvents(0) = %+v, %v", all, err)
	}
	if tail, _ := s.RunEvents(ctx, r.ID, 2); len(tail) != 1 || tail[0].Seq != 3 {
		t.Errorf("RunEvents(2) = %+v", tail)
	}
	if _, err := s.AppendRunEvents(ctx, r.ID, []RunEvent{{Kind: "x", Data: json.RawMessage(`{"a":1}`)}, {Kind: ""}}); !isValidation(err) {
		t.Errorf("event without kind: %v", err)
	}
	if _, err := s.AppendRunEvents(ctx, r.ID, []RunEvent{{Kind: "x", Data: json.RawMessage(`{`)}}); !isValidation(err) {
		t.Errorf("event with bad JSON: %v", err)
	}
	if all, _ := s.RunEvents(ctx, r.ID, 0); len(all) != 3 {
		t.Errorf("a refused batch stored events: %d", len(all))
	}
	if _, err := s.AppendRunEvents(ctx, 999, []RunEvent{{Kind: "x"}}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown run: %v", err)
	}
	if _, err := s.RunEvents(ctx, 999, 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown run: %v", err)
	}
}
