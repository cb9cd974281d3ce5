package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
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
	Metrics     ModelMetrics        // the model's stored metrics, when it is done
	Predictions int                 // slices predicted
	// Promotion is how the model was judged against the active one: promoted, or kept as a candidate.
	Promotion *Promotion
	// PeakMemory is the training process's peak resident memory in bytes, when known.
	PeakMemory int64
	// evaluation is the model's cross-validation, to run after the run (Trainer.evaluate).
	evaluation *evaluation
}

// execute is the job: labelled slices -> training and predictions in a worker process -> model file,
// predictions and activation in one transaction.
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
		out.Run, _ = t.finish(j, store.RunFailed, st.UserMessage(err), nil)
		return out, fmt.Errorf("run %d: %w", j.run.ID, err)
	}

	run, err := st.StartRun(p.ctx, j.run.ID)
	if err != nil {
		return fail(err)
	}
	out.Run = run
	t.publish(pid, event.Run{Run: run})

	samples, trainedOn, err := t.labelledSamples(p.ctx, pid)
	if err != nil {
		return fail(err)
	}
	if len(samples) == 0 {
		return fail(errors.New("the project has no labelled slices to train on"))
	}
	warm := p.init
	if p.warm != nil {
		if warm, err = os.ReadFile(st.ModelPath(*p.warm)); err != nil {
			return fail(fmt.Errorf("warm start from model %d: %w", p.warm.ID, err))
		}
	}
	prep := t.prepareComparison(p.ctx, p, trainedOn)
	rec := &eventRecorder{t: t, projectID: pid, runID: run.ID}
	res, err := t.trainInWorker(p.ctx, p, samples, warm, prep.input, rec.add)
	rec.flush()
	if err != nil {
		return fail(err)
	}
	out.PeakMemory = res.peakRSS
	t.cfg.Logger.Debug("training process finished", "run", run.ID, "peak_rss", res.peakRSS)

	// Training is over: the model is judged against the active one, then stored with its predictions (and its
	// activation, when promoted) in one transaction, even if a cancel arrives now, so a run that trained a
	// model always delivers it, and a crash leaves the old state or the whole new one.
	ctx := context.WithoutCancel(p.ctx)
	out.Metrics = res.trained.Metrics
	promotion := t.judge(ctx, p, prep, res)
	out.Promotion = &promotion
	t.cfg.Logger.Debug("model judged", "run", run.ID, "decision", promotion.Decision, "rule", promotion.Rule)
	model, err := t.saveModel(ctx, p, run.ID, res, trainedOn, promotion)
	if err != nil {
		return fail(err)
	}
	out.Model = &model
	out.Predictions = len(res.predictions)
	t.publish(pid, event.Predictions{RunID: run.ID, ModelID: model.ID, Slices: out.Predictions, Candidate: model.Candidate})
	out.evaluation = t.planEvaluation(p.parent, p, model, samples)
	if out.Run, err = t.finish(j, store.RunDone, "", &model.ID); err != nil {
		return out, err
	}
	return out, nil
}

// labelledSamples are the project's labelled slices on the canonical grid, the training set, and which label
// versions they are, for the model's record of what it was trained on.
func (t *Trainer) labelledSamples(ctx context.Context, projectID int64) ([]data.Sample, []store.TrainingSlice, error) {
	labels, err := t.cfg.Store.ProjectLabels(ctx, projectID)
	if err != nil {
		return nil, nil, err
	}
	var samples []data.Sample
	var trainedOn []store.TrainingSlice
	var vol *nifti.Volume
	volumeID := int64(0)
	for _, l := range labels {
		if l.VolumeID != volumeID {
			if vol, err = t.cfg.Volume(ctx, l.VolumeID); err != nil {
				return nil, nil, fmt.Errorf("volume %d: %w", l.VolumeID, err)
			}
			volumeID = l.VolumeID
		}
		if l.Slice >= vol.NumSlices() || len(l.Mask) != vol.SliceLen() {
			return nil, nil, fmt.Errorf("volume %d slice %d: label does not fit the volume", l.VolumeID, l.Slice)
		}
		samples = append(samples, sliceSample(vol, l.VolumeID, l.Slice, l.Mask))
		trainedOn = append(trainedOn, store.TrainingSlice{VolumeID: l.VolumeID, Slice: l.Slice, LabelVersion: l.Version})
	}
	return samples, trainedOn, nil
}

func sliceSample(vol *nifti.Volume, volumeID int64, z int, mask []uint8) data.Sample {
	return data.Sample{
		Image: vol.Slice(z), Mask: mask, W: vol.Shape[0], H: vol.Shape[1],
		Spacing: [2]float64{vol.Spacing[0], vol.Spacing[1]},
		Key:     fmt.Sprintf("volume %d slice %d", volumeID, z),
		Group:   fmt.Sprintf("volume %d", volumeID),
	}
}

// storedMetrics are what a model's metrics column holds: the trained model's metrics and, in a field of its
// own, how it was judged against the active model.
type storedMetrics struct {
	ModelMetrics
	Promotion *Promotion `json:"promotion,omitempty"`
}

// saveModel stores a run's model with its settings, metrics, training slices and predictions, active when
// promoted and a candidate otherwise, in one transaction: the store writes the file atomically and renames it
// in before the commit.
func (t *Trainer) saveModel(ctx context.Context, p plan, runID int64, res *workerResult, trainedOn []store.TrainingSlice,
	promotion Promotion) (store.ModelVersion, error) {
	settings, err := json.Marshal(res.trained.Settings)
	if err != nil {
		return store.ModelVersion{}, err
	}
	metricsJSON, err := json.Marshal(storedMetrics{ModelMetrics: res.trained.Metrics, Promotion: &promotion})
	if err != nil {
		return store.ModelVersion{}, err
	}
	promoted := promotion.Decision == DecisionPromoted
	var parent *int64
	if p.warm != nil {
		parent = &p.warm.ID
	}
	return t.cfg.Store.CreateModel(ctx, store.NewModel{
		ProjectID: p.project.ID, RunID: &runID, ParentID: parent, Arch: res.trained.Arch,
		Settings: settings, Metrics: metricsJSON, Predictions: res.predictions, Activate: promoted, Candidate: !promoted,
		TrainedOn: trainedOn,
		Write:     func(w io.Writer) error { _, err := w.Write(res.model); return err },
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
		if len(e.ValDice) > 0 { // a run without validation slices (every label trains) has no validation loss
			p.ValLoss = finite(e.ValLoss)
		}
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
