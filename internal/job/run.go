package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"time"

	"github.com/mriworkbench/workbench/internal/event"
	"github.com/mriworkbench/workbench/ml/data"
	"github.com/mriworkbench/workbench/ml/train"
	"github.com/mriworkbench/workbench/nifti"
	"github.com/mriworkbench/workbench/store"
)

// Outcome is what a finished job produced.
type Outcome struct {
	Run         store.Run
	Model       *store.ModelVersion // nil unless the run is done
	Result      *train.Result       // nil when training did not start
	Metrics     ModelMetrics        // the model's stored metrics, when it is done
	Predictions int                 // slices predicted
}

// execute is the job: labelled slices -> training -> model file -> predictions -> active model.
func (t *Trainer) execute(j *job, p plan) (out Outcome, err error) {
	st := t.cfg.Store
	pid := p.project.ID
	defer func() {
		t.release(j)
		close(j.done)
		j.cancel(nil)
		t.wg.Done()
	}()
	defer func() {
		// A bug in a job must not take the server down with it, nor leave its run "running".
		if r := recover(); r != nil {
			t.cfg.Logger.Error("training job panicked", "run", j.run.ID, "panic", r, "stack", string(debug.Stack()))
			out.Run, _ = t.finish(j, store.RunFailed, fmt.Sprintf("internal error: %v", r), nil)
			err = fmt.Errorf("run %d: internal error: %v", j.run.ID, r)
		}
	}()
	out.Run = j.run
	fail := func(err error) (Outcome, error) {
		cause := context.Cause(p.ctx)
		switch {
		case errors.Is(cause, errShutdown), errors.Is(cause, errRunLost):
			out.Run, _ = t.finish(j, store.RunInterrupted, cause.Error(), nil)
			return out, fmt.Errorf("run %d: %w", j.run.ID, cause)
		case p.ctx.Err() != nil:
			msg := "cancelled"
			if errors.Is(cause, errCancelRequested) {
				msg = "cancelled on request"
			}
			out.Run, _ = t.finish(j, store.RunCancelled, msg, nil)
			return out, fmt.Errorf("run %d: %w", j.run.ID, context.Canceled)
		}
		out.Run, _ = t.finish(j, store.RunFailed, oneLine(err.Error()), nil)
		return out, fmt.Errorf("run %d: %w", j.run.ID, err)
	}

	run, err := st.StartRun(p.ctx, j.run.ID)
	if err != nil {
		return fail(err)
	}
	out.Run = run
	t.publish(pid, event.Run{Run: run})

	samples, err := t.labelledSamples(p.ctx, pid)
	if err != nil {
		return fail(err)
	}
	if len(samples) == 0 {
		return fail(errors.New("the project has no labelled slices to train on"))
	}
	var warm *train.Model
	if p.warm != nil {
		if warm, err = train.Load(st.ModelPath(*p.warm)); err != nil {
			return fail(fmt.Errorf("warm start from model %d: %w", p.warm.ID, err))
		}
	}
	rec := &eventRecorder{t: t, projectID: pid, runID: run.ID}
	res, err := train.Train(p.ctx, samples, p.settings.Train, train.Options{Warm: warm, OnEvent: rec.add})
	rec.flush()
	out.Result = res
	if err != nil {
		return fail(err)
	}

	// Training is over: saving and predicting take seconds and finish even if a cancel arrives now, so a run
	// that trained a model always delivers it. A crash here leaves, at worst, an inactive complete model.
	ctx := context.WithoutCancel(p.ctx)
	out.Metrics = metricsOf(res)
	model, err := t.saveModel(ctx, p, run.ID, res.Best, out.Metrics)
	if err != nil {
		return fail(err)
	}
	n, err := predictProject(ctx, st, t.cfg.Volume, pid, res.Best, model.ID)
	if err != nil {
		return fail(fmt.Errorf("predictions of model %d: %w", model.ID, err))
	}
	out.Predictions = n
	if err := st.SetActiveModel(ctx, pid, model.ID); err != nil {
		return fail(err)
	}
	if model, err = st.Model(ctx, model.ID); err != nil {
		return fail(err)
	}
	out.Model = &model
	t.publish(pid, event.Predictions{RunID: run.ID, ModelID: model.ID, Slices: n})
	if out.Run, err = t.finish(j, store.RunDone, "", &model.ID); err != nil {
		return out, err
	}
	return out, nil
}

// labelledSamples are the project's labelled slices on the canonical grid, the training set.
func (t *Trainer) labelledSamples(ctx context.Context, projectID int64) ([]data.Sample, error) {
	labels, err := t.cfg.Store.ProjectLabels(ctx, projectID)
	if err != nil {
		return nil, err
	}
	var samples []data.Sample
	var vol *nifti.Volume
	volumeID := int64(0)
	for _, l := range labels {
		if l.VolumeID != volumeID {
			if vol, err = t.cfg.Volume(ctx, l.VolumeID); err != nil {
				return nil, fmt.Errorf("volume %d: %w", l.VolumeID, err)
			}
			volumeID = l.VolumeID
		}
		if l.Slice >= vol.NumSlices() || len(l.Mask) != vol.SliceLen() {
			return nil, fmt.Errorf("volume %d slice %d: label does not fit the volume", l.VolumeID, l.Slice)
		}
		samples = append(samples, sliceSample(vol, l.VolumeID, l.Slice, l.Mask))
	}
	return samples, nil
}

func sliceSample(vol *nifti.Volume, volumeID int64, z int, mask []uint8) data.Sample {
	return data.Sample{
		Image: vol.Slice(z), Mask: mask, W: vol.Shape[0], H: vol.Shape[1],
		Spacing: [2]float64{vol.Spacing[0], vol.Spacing[1]},
		Key:     fmt.Sprintf("volume %d slice %d", volumeID, z),
	}
}

// saveModel stores a run's model (not yet active) with its settings and metrics. The store writes the file
// atomically, so a crash never leaves a half-written model behind.
func (t *Trainer) saveModel(ctx context.Context, p plan, runID int64, m *train.Model, mm ModelMetrics) (store.ModelVersion, error) {
	settings, err := json.Marshal(m.Info.Settings)
	if err != nil {
		return store.ModelVersion{}, err
	}
	metricsJSON, err := json.Marshal(mm)
	if err != nil {
		return store.ModelVersion{}, err
	}
	var parent *int64
	if p.warm != nil {
		parent = &p.warm.ID
	}
	return t.cfg.Store.CreateModel(ctx, store.NewModel{
		ProjectID: p.project.ID, RunID: &runID, ParentID: parent, Arch: m.Info.Arch,
		Settings: settings, Metrics: metricsJSON, Write: func(w io.Writer) error { _, err := m.WriteTo(w); return err },
	})
}

// eventRecorder publishes a run's progress events as they come and stores them in batches, so a reloaded page
// redraws the whole history without a database write per training step.
type eventRecorder struct {
	t         *Trainer
	projectID int64
	runID     int64
	pending   []store.RunEvent
	lastFlush time.Time
}

// flushEvery bounds how stale the stored history may be, and so how much a crash loses of it.
const flushEvery = time.Second

func (r *eventRecorder) add(e train.Event) {
	p := event.Progress{
		RunID: r.runID, Iteration: e.Iteration, Epoch: e.Epoch, TrainLoss: e.TrainLoss,
		ValDice: e.ValDice, Best: e.Best, LearningRate: e.LearningRate, SecondsPerIteration: e.SecondsPerIteration,
		ETA: e.ETA, Elapsed: e.Elapsed,
	}
	var ev event.Event = event.Iteration{Progress: p}
	if e.Kind == train.EventEpoch {
		p.ValLoss = finite(e.ValLoss)
		ev = event.Epoch{Progress: p}
	}
	r.t.publish(r.projectID, ev)
	raw, err := json.Marshal(ev)
	if err != nil {
		r.t.cfg.Logger.Warn("training event not stored", "run", r.runID, "err", err)
		return
	}
	r.pending = append(r.pending, store.RunEvent{Kind: ev.Type(), Data: raw})
	if r.lastFlush.IsZero() {
		r.lastFlush = time.Now()
	}
	if time.Since(r.lastFlush) >= flushEvery {
		r.flush()
	}
}

func (r *eventRecorder) flush() {
	r.lastFlush = time.Now()
	if len(r.pending) == 0 {
		return
	}
	// The history must be stored even while the run is being cancelled.
	if _, err := r.t.cfg.Store.AppendRunEvents(context.Background(), r.runID, r.pending); err != nil {
		r.t.cfg.Logger.Warn("training events not stored", "run", r.runID, "events", len(r.pending), "err", err)
	}
	r.pending = r.pending[:0]
}
