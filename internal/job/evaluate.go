package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mriworkbench/workbench/internal/event"
	"github.com/mriworkbench/workbench/ml/data"
	"github.com/mriworkbench/workbench/ml/train"
	"github.com/mriworkbench/workbench/store"
)

// With fewer labelled slices than the settings' CrossValidate, a run trains its model on every one of them
// and holds none out, so the model has no scores when the run delivers it. Its evaluation, a k-fold
// cross-validation (train.CrossValidate), runs afterwards in a worker of its own: in the background for the
// server, where the project is free meanwhile and a new run of it stops the evaluation (the new model is
// the one to evaluate), in the foreground for the CLI. Its result is merged into the model's stored metrics;
// an evaluation that is stopped or fails records why instead.

// errPreempted stops an evaluation when a new run of its project starts.
var errPreempted = errors.New("a new training run of the project started")

// StopEvaluation stops the evaluation of a project's model on a user's request and waits (until ctx ends)
// for it to have recorded that; a model that is not being evaluated here is a store.ErrConflict.
func (t *Trainer) StopEvaluation(ctx context.Context, projectID, modelID int64) error {
	if pr, ok := t.Evaluating(projectID); !ok || pr.ModelID != modelID {
		return fmt.Errorf("%w: model %d is not being evaluated", store.ErrConflict, modelID)
	}
	return t.stopEvaluation(ctx, projectID, errCancelRequested)
}

// EvaluationProgress is a running evaluation, as the models page shows it.
type EvaluationProgress struct {
	ModelID int64   `json:"modelId"`
	Method  string  `json:"method"`
	Folds   int     `json:"folds"`
	Slices  int     `json:"slices"`
	Fold    int     `json:"fold"` // the fold model training now, 1-based; 0 before its first step
	ETA     float64 `json:"eta"`  // seconds left; -1 unknown
	Elapsed float64 `json:"elapsed"`
}

// evaluation is a model's cross-validation that a run left to do.
type evaluation struct {
	projectID int64
	samples   []data.Sample
	settings  train.Settings
	ctx       context.Context
	cancel    context.CancelCauseFunc
	done      chan struct{}

	mu       sync.Mutex
	progress EvaluationProgress
}

// planEvaluation registers the evaluation of a model that its run trained on every labelled slice, before
// the run releases the project, so that no new run starts in between unseen; nil when the model was
// evaluated on a held-out split, the request skips it, or the trainer is shutting down. parent bounds it.
func (t *Trainer) planEvaluation(parent context.Context, p plan, model store.ModelVersion, samples []data.Sample) *evaluation {
	method, folds := train.CrossValidates(samples, p.settings.Train)
	if folds == 0 || p.skipEvaluation {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ctx.Err() != nil {
		return nil
	}
	ctx, cancel := context.WithCancelCause(parent)
	stop := context.AfterFunc(t.ctx, func() { cancel(errShutdown) })
	e := &evaluation{
		projectID: p.project.ID, samples: samples, settings: p.settings.Train, ctx: ctx,
		cancel: func(cause error) { stop(); cancel(cause) }, done: make(chan struct{}),
		progress: EvaluationProgress{ModelID: model.ID, Method: method, Folds: folds, Slices: len(samples), ETA: -1},
	}
	t.evals[p.project.ID] = e
	t.wg.Add(1) // done when evaluate returns
	return e
}

// Evaluating is the project's running evaluation, if any.
func (t *Trainer) Evaluating(projectID int64) (EvaluationProgress, bool) {
	t.mu.Lock()
	e, ok := t.evals[projectID]
	t.mu.Unlock()
	if !ok {
		return EvaluationProgress{}, false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.progress, true
}

// stopEvaluation stops the project's running evaluation, if any, and waits (until ctx ends) for it to have
// recorded why.
func (t *Trainer) stopEvaluation(ctx context.Context, projectID int64, cause error) error {
	t.mu.Lock()
	e, ok := t.evals[projectID]
	t.mu.Unlock()
	if !ok {
		return nil
	}
	e.cancel(cause)
	select {
	case <-e.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// evaluate runs a planned evaluation and records its outcome in the model's metrics: the scores, or why
// there are none. It returns the model's metrics as stored.
func (t *Trainer) evaluate(e *evaluation) (ModelMetrics, error) {
	defer func() {
		t.mu.Lock()
		if t.evals[e.projectID] == e {
			delete(t.evals, e.projectID)
		}
		t.mu.Unlock()
		e.cancel(nil)
		close(e.done)
		t.wg.Done()
	}()
	e.mu.Lock()
	pr := e.progress
	e.mu.Unlock()
	base := event.Evaluation{ModelID: pr.ModelID, Method: pr.Method, Folds: pr.Folds, Slices: pr.Slices}
	running := base
	running.Status, running.ETA = event.EvaluationRunning, -1
	t.publish(e.projectID, running)

	var lastSent time.Time
	res, err := t.evaluateInWorker(e.ctx, e.settings, e.samples, func(ev train.Event) {
		e.mu.Lock()
		fold := ev.Fold != e.progress.Fold
		e.progress.Fold, e.progress.ETA, e.progress.Elapsed = ev.Fold, ev.ETA, ev.Elapsed
		e.mu.Unlock()
		if fold || time.Since(lastSent) >= time.Second { // a models page needs no more
			lastSent = time.Now()
			running.Fold, running.ETA = ev.Fold, ev.ETA
			t.publish(e.projectID, running)
		}
	})
	end := base
	ctx := context.WithoutCancel(e.ctx)
	var stopped string
	switch {
	case err == nil:
		end.Status, end.Summary = event.EvaluationDone, res.Evaluation.String()
	case e.ctx.Err() != nil:
		switch cause := context.Cause(e.ctx); {
		case errors.Is(cause, errShutdown):
			stopped = "stopped: the workbench stopped before it finished"
		case errors.Is(cause, errPreempted):
			stopped = "stopped: " + cause.Error()
		case errors.Is(cause, errCancelRequested):
			stopped = "stopped on request"
		default:
			stopped = "stopped before it finished"
		}
	default:
		stopped = "failed: " + t.cfg.Store.UserMessage(err)
	}
	var stored ModelMetrics
	_, uerr := t.cfg.Store.UpdateModelMetrics(ctx, pr.ModelID, func(old json.RawMessage) (json.RawMessage, error) {
		var m storedMetrics
		if err := json.Unmarshal(old, &m); err != nil {
			return nil, fmt.Errorf("model %d: stored metrics: %w", pr.ModelID, err)
		}
		if stopped != "" {
			m.EvaluationStopped = stopped
		} else {
			m.Evaluation, m.EvaluationStopped, m.EvalSlices = res.Evaluation, "", res.Evaluation.Slices
			m.Classes = res.Classes
		}
		stored = m.ModelMetrics
		return json.Marshal(m)
	})
	if stopped != "" {
		end.Status, end.Summary = event.EvaluationStopped, stopped
	}
	t.publish(e.projectID, end)
	if uerr != nil {
		return stored, fmt.Errorf("model %d: store its evaluation: %w", pr.ModelID, uerr)
	}
	if err != nil {
		return stored, fmt.Errorf("model %d: evaluation %s", pr.ModelID, stopped)
	}
	return stored, nil
}

// evaluateInWorker runs a cross-validation in a worker process: the settings and samples go out, the fold
// models' events come back to onEvent, then the evaluation. Cancelling ctx stops it with ctx's error.
func (t *Trainer) evaluateInWorker(ctx context.Context, s train.Settings, samples []data.Sample, onEvent func(train.Event)) (*Evaluated, error) {
	w, err := t.startWorker()
	if err != nil {
		return nil, err
	}
	defer w.end()
	limit := t.workerLimit()
	go func() {
		if w.w.send(Message{Job: &WorkerJob{Version: ProtocolVersion, Settings: s, Evaluate: true, Samples: len(samples), MemoryLimit: limit}}) != nil {
			return
		}
		for i := range samples {
			if w.w.send(Message{Sample: &samples[i]}) != nil {
				return
			}
		}
	}()
	go w.cancelOn(ctx)

	var res *Evaluated
	var fin *Finished
	var protoErr error
read:
	for {
		m, ok, err := w.next()
		if !ok {
			protoErr = err
			break
		}
		switch {
		case m.Progress != nil && res == nil:
			onEvent(*m.Progress)
		case m.Evaluated != nil && res == nil && m.Evaluated.Evaluation != nil:
			res = m.Evaluated
		case m.Finished != nil:
			fin = m.Finished
			break read
		default:
			protoErr = fmt.Errorf("protocol: unexpected %s message", m.kind())
			break read
		}
	}
	state := w.streamOver(protoErr)
	switch {
	case fin != nil && fin.Status == WorkerDone && state.Success() && protoErr == nil && res != nil:
		return res, nil
	case ctx.Err() != nil && (fin == nil || fin.Status == WorkerCancelled):
		return nil, ctx.Err()
	case fin != nil && fin.Status == WorkerFailed:
		return nil, errors.New(fin.Error)
	}
	return nil, t.workerFailure(w, state, limit, protoErr)
}
