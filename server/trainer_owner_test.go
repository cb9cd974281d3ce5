package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/mriworkbench/workbench/store"
)

// longRun trains until stopped (a two-minute budget) on small crops.
var longRun = TrainRequest{Settings: []byte(`{"epochs":0,"budget_seconds":120,"crop_w":32,"crop_h":32,"batch_size":2}`)}

// startTraining starts a long run on tr and waits for its first training step.
func startTraining(t *testing.T, tr *Trainer, events <-chan any, projectID int64) store.Run {
	t.Helper()
	run, err := tr.Start(context.Background(), projectID, longRun)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	deadline := time.After(30 * time.Second)
	for {
		select {
		case ev := <-events:
			if pe, ok := ev.(ProgressEvent); ok && pe.RunID == run.ID {
				return run
			}
		case <-deadline:
			t.Fatal("no training step within 30 s")
		}
	}
}

// newOwnTrainer is a trainer beside the server's, whose events the test reads.
func newOwnTrainer(e *testEnv) (*Trainer, <-chan any) {
	events := make(chan any, 1024)
	tr := NewTrainer(TrainerConfig{Store: e.store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Publish: func(_ int64, ev any) {
			select {
			case events <- ev:
			default: // the test reads only until the first step
			}
		}})
	return tr, events
}

// A graceful stop marks the trainer's run interrupted at once, so another process (a CLI train) or the next
// serve can take the project without waiting for anything.
func TestTrainerCloseInterruptsItsRuns(t *testing.T) {
	e := newTestEnv(t)
	e.closeTrainer()
	p, _ := e.t2sLabelled("close", 0, 4, 8)
	tr, events := newOwnTrainer(e)
	run := startTraining(t, tr, events, p.ID)
	tr.Close()

	got, err := e.store.Run(context.Background(), run.ID)
	if err != nil || got.Status != store.RunInterrupted || !strings.Contains(got.Error, "stopped") || got.ModelID != nil {
		t.Fatalf("run after Close: %+v, %v", got, err)
	}
	if _, err := e.store.ActiveRun(context.Background(), p.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the project still has an active run: %v", err)
	}
	if n, err := e.store.MarkInterruptedRuns(context.Background()); err != nil || n != 0 {
		t.Errorf("MarkInterruptedRuns after a graceful stop: %d, %v", n, err)
	}
	// Another trainer (as another process would) takes the project at once.
	next, events := newOwnTrainer(e)
	defer next.Close()
	startTraining(t, next, events, p.ID)
}

// A run whose process stopped beating blocks a project only until its heartbeat is stale; then Start marks it
// interrupted and trains. A run that beats is never taken over.
func TestTrainerTakesOverAStaleRun(t *testing.T) {
	e := newTestEnv(t)
	e.closeTrainer()
	// Long enough that a loaded machine does not delay a live trainer's heartbeat (every staleAfter/5) past it.
	const staleAfter = time.Second
	e.store.SetRunStaleAfter(staleAfter)
	p, _ := e.t2sLabelled("stale", 0, 4, 8)
	ctx := context.Background()

	// A run of a trainer that keeps beating, well past the stale limit: a second trainer is refused.
	live, events := newOwnTrainer(e)
	liveRun := startTraining(t, live, events, p.ID)
	other, _ := newOwnTrainer(e)
	defer other.Close()
	time.Sleep(staleAfter + staleAfter/2)
	if _, err := other.Start(ctx, p.ID, longRun); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Start beside a live run: %v", err)
	}
	live.Close()

	// A run nobody beats for (its process hung or died elsewhere): refused while fresh, taken once stale.
	silent, err := e.store.CreateRun(ctx, p.ID, nil)
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
	if r, _ := e.store.Run(ctx, silent.ID); r.Status != store.RunInterrupted || !strings.Contains(r.Error, "no sign of life") {
		t.Errorf("stale run %+v", r)
	}
	if r, _ := e.store.Run(ctx, liveRun.ID); r.Status != store.RunInterrupted || !strings.Contains(r.Error, "workbench stopped") {
		t.Errorf("closed trainer's run %+v", r)
	}
	if run.ID <= silent.ID {
		t.Errorf("new run %d", run.ID)
	}
}
