package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/mriworkbench/workbench/ml/data"
	"github.com/mriworkbench/workbench/ml/metrics"
	"github.com/mriworkbench/workbench/ml/train"
	"github.com/mriworkbench/workbench/nifti"
	"github.com/mriworkbench/workbench/store"
)

// Trainer events sent over /api/projects/{pid}/events, besides label and volume events.
const (
	EventRun         = "run"         // a run changed state (queued, running, done, failed, cancelled)
	EventIteration   = "iteration"   // a training step finished
	EventEpoch       = "epoch"       // a validation finished
	EventPredictions = "predictions" // a model's predictions were stored and it became the active model
	EventActiveModel = "activeModel" // a user picked another active model
)

// Setting presets: the base that project settings and request overrides change.
const (
	PresetDefault = "default" // train.DefaultSettings: a useful first model within a minute or two on a CPU
	PresetPaper   = "paper"   // train.PaperSettings: the published pipeline's values
)

// TrainRequest asks for a training run.
type TrainRequest struct {
	// Preset picks the base settings (PresetDefault or PresetPaper); empty: the project's "preset" setting, else
	// PresetDefault.
	Preset string `json:"preset,omitempty"`
	// Settings override the project's settings for this run only, field by field (train.Settings JSON names,
	// e.g. {"epochs": 20, "budget_seconds": 0}).
	Settings json.RawMessage `json:"settings,omitempty"`
	// FromScratch trains fresh weights instead of warm-starting from the project's active model.
	FromScratch bool `json:"fromScratch,omitempty"`
}

// RunSettings is what a run records as its settings: the resolved training settings and how the run starts.
type RunSettings struct {
	Preset           string         `json:"preset"`
	FromScratch      bool           `json:"fromScratch"`
	WarmStartModelID *int64         `json:"warmStartModelId,omitempty"`
	Train            train.Settings `json:"train"`
}

// ProgressEvent is an iteration or epoch event of a run, as published and as stored in the run's history.
type ProgressEvent struct {
	Type      string `json:"type"` // EventIteration or EventEpoch
	RunID     int64  `json:"runId"`
	Iteration int    `json:"iteration"`
	Epoch     int    `json:"epoch"`
	// TrainLoss is the step's loss (iteration events) or the mean since the previous validation (epoch events).
	TrainLoss float64 `json:"trainLoss"`
	// Epoch events: validation loss, validation Dice of classes 1..K, and whether this is the best model so far.
	ValLoss             *float64  `json:"valLoss,omitempty"`
	ValDice             []float64 `json:"valDice,omitempty"`
	Best                bool      `json:"best,omitempty"`
	LearningRate        float64   `json:"learningRate"`
	SecondsPerIteration float64   `json:"secondsPerIteration"`
	ETA                 float64   `json:"eta"` // seconds left; -1 unknown
	Elapsed             float64   `json:"elapsed"`
}

// RunEvent announces a run's new state.
type RunEvent struct {
	Type string    `json:"type"` // EventRun
	Run  store.Run `json:"run"`
}

// PredictionsEvent announces that a model's predictions are stored and the model is active.
type PredictionsEvent struct {
	Type    string `json:"type"` // EventPredictions
	RunID   int64  `json:"runId,omitempty"`
	ModelID int64  `json:"modelId"`
	Slices  int    `json:"slices"` // slices predicted
}

// ActiveModelEvent announces that a user made another model version active.
type ActiveModelEvent struct {
	Type    string `json:"type"` // EventActiveModel
	ModelID int64  `json:"modelId"`
}

// TrainerConfig is what a Trainer needs.
type TrainerConfig struct {
	Store *store.Store
	// Publish receives every event of a project (nil: events are only stored with their run).
	Publish func(projectID int64, event any)
	// Volume returns a volume's canonical voxels, shared and read-only (nil: decode the original file each time).
	Volume func(ctx context.Context, volumeID int64) (*nifti.Volume, error)
	Logger *slog.Logger // nil: slog.Default()
}

// Trainer runs training jobs: at most one per project at a time, each from labelled slices to an active model
// with predictions for every unlabelled slice. The server runs jobs in the background; the CLI runs the same job
// in the foreground.
type Trainer struct {
	cfg TrainerConfig

	ctx  context.Context // parent of background jobs; cancelled by Close
	stop context.CancelCauseFunc
	wg   sync.WaitGroup

	mu   sync.Mutex
	jobs map[int64]*job // by project
}

type job struct {
	run    store.Run // as queued; never changed, so it is safe to read without the lock
	cancel context.CancelCauseFunc
	done   chan struct{}
}

var (
	errCancelRequested = errors.New("cancelled on request")
	errShutdown        = errors.New("the workbench stopped during the run")
	errRunLost         = errors.New("another workbench process marked the run interrupted: its heartbeat had gone stale")
)

// NewTrainer returns a trainer with no job running.
func NewTrainer(cfg TrainerConfig) *Trainer {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Volume == nil {
		st := cfg.Store
		cfg.Volume = func(ctx context.Context, id int64) (*nifti.Volume, error) { return loadCanonical(ctx, st, id) }
	}
	ctx, stop := context.WithCancelCause(context.Background())
	return &Trainer{cfg: cfg, ctx: ctx, stop: stop, jobs: make(map[int64]*job)}
}

// Close cancels the running jobs and waits for them; each marks its run interrupted, so neither this
// process nor another (a CLI train, the next serve) sees it as still going. No model of theirs is stored.
func (t *Trainer) Close() {
	t.mu.Lock()
	t.stop(errShutdown) // under the lock: begin registers no job after this
	t.mu.Unlock()
	t.wg.Wait()
}

// Outcome is what a finished job produced.
type Outcome struct {
	Run         store.Run
	Model       *store.Model  // nil unless the run is done
	Result      *train.Result // nil when training did not start
	Predictions int           // slices predicted
}

// plan is a job resolved before its run is created.
type plan struct {
	ctx      context.Context // the job's: cancelled by Cancel, by Close, or by the caller of Train
	project  store.Project
	settings RunSettings
	warm     *store.Model
}

// Start queues a run for the project and trains it in the background; it returns the queued run. A project
// that already has a queued or running run is refused with store.ErrConflict naming that run.
func (t *Trainer) Start(ctx context.Context, projectID int64, req TrainRequest) (store.Run, error) {
	j, p, err := t.begin(ctx, projectID, req, t.ctx)
	if err != nil {
		return store.Run{}, err
	}
	go func() {
		if _, err := t.execute(j, p); err != nil {
			t.cfg.Logger.Info("training run ended without a model", "run", j.run.ID, "project", projectID, "err", err)
		}
	}()
	return j.run, nil
}

// Train runs a job in the foreground until it ends or ctx is cancelled (the run is then cancelled). Events go
// to the configured Publish, as for background jobs.
func (t *Trainer) Train(ctx context.Context, projectID int64, req TrainRequest) (Outcome, error) {
	j, p, err := t.begin(ctx, projectID, req, ctx)
	if err != nil {
		return Outcome{}, err
	}
	return t.execute(j, p)
}

// begin resolves the settings, creates the run and registers its job; parent bounds the job's life.
func (t *Trainer) begin(ctx context.Context, projectID int64, req TrainRequest, parent context.Context) (*job, plan, error) {
	st := t.cfg.Store
	project, err := st.Project(ctx, projectID)
	if err != nil {
		return nil, plan{}, err
	}
	settings, err := ResolveSettings(project, req)
	if err != nil {
		return nil, plan{}, err
	}
	p := plan{project: project, settings: settings}
	if !req.FromScratch {
		m, err := st.ActiveModel(ctx, projectID)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return nil, plan{}, err
		case m.Arch == settings.Train.Arch && modelClasses(m) == settings.Train.Classes:
			p.warm = &m
			p.settings.WarmStartModelID = &m.ID
		default:
			// The active model cannot seed this architecture or class count: train from scratch, and say so.
			p.settings.FromScratch = true
		}
	}
	raw, err := json.Marshal(p.settings)
	if err != nil {
		return nil, plan{}, err
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ctx.Err() != nil {
		return nil, plan{}, fmt.Errorf("%w: the trainer is shutting down", store.ErrConflict)
	}
	if j, ok := t.jobs[projectID]; ok {
		current := j.run
		if r, err := st.Run(ctx, j.run.ID); err == nil {
			current = r
		}
		return nil, plan{}, busy(current)
	}
	run, err := st.CreateRun(ctx, projectID, raw)
	if errors.Is(err, store.ErrConflict) {
		// Another process (a CLI train, or a server) holds the project's run, or held it and died: a dead
		// process's run is marked interrupted, and the project is free again.
		if n, merr := st.MarkInterruptedRuns(ctx); merr == nil && n > 0 {
			run, err = st.CreateRun(ctx, projectID, raw)
		}
	}
	if errors.Is(err, store.ErrConflict) {
		if other, aerr := st.ActiveRun(ctx, projectID); aerr == nil {
			return nil, plan{}, busy(other)
		}
	}
	if err != nil {
		return nil, plan{}, err
	}
	jctx, cancel := context.WithCancelCause(parent)
	j := &job{run: run, cancel: cancel, done: make(chan struct{})}
	t.jobs[projectID] = j
	t.wg.Add(1) // done when execute returns
	t.publish(projectID, RunEvent{Type: EventRun, Run: run})
	go t.watch(j)
	p.ctx = jctx
	return j, p, nil
}

// watch runs beside a job until it ends: it ties the job's context to the trainer's shutdown (for foreground
// jobs too) and beats the run's heartbeat, which tells other processes the run is alive. If another process
// has meanwhile marked the run interrupted (this one was too slow to beat), the job stops.
func (t *Trainer) watch(j *job) {
	every := max(t.cfg.Store.RunStaleAfter()/5, 10*time.Millisecond)
	tick := time.NewTicker(every)
	defer tick.Stop()
	shutdown := t.ctx.Done()
	for {
		select {
		case <-shutdown:
			j.cancel(context.Cause(t.ctx))
			shutdown = nil // keep beating until the job has recorded its end
		case <-tick.C:
			err := t.cfg.Store.HeartbeatRun(context.Background(), j.run.ID)
			if errors.Is(err, store.ErrConflict) {
				j.cancel(errRunLost)
			} else if err != nil {
				t.cfg.Logger.Warn("training run heartbeat not stored", "run", j.run.ID, "err", err)
			}
		case <-j.done:
			return
		}
	}
}

func busy(r store.Run) error {
	return fmt.Errorf("%w: project %d is already training: run %d is %s; cancel that run or wait for it to finish",
		store.ErrConflict, r.ProjectID, r.ID, r.Status)
}

// modelClasses reads the class count from a stored model's settings (RunSettings.Train).
func modelClasses(m store.Model) int {
	var s train.Settings
	if json.Unmarshal(m.Settings, &s) != nil {
		return 0
	}
	return s.Classes
}

// ResolveSettings layers a run's settings: the preset's values, then the project's crop, then the project's
// settings (train.Settings JSON names, plus "preset"), then the request's overrides; the class count and names
// always come from the project. Invalid settings are a *store.ValidationError naming the setting.
func ResolveSettings(p store.Project, req TrainRequest) (RunSettings, error) {
	var projectSettings map[string]json.RawMessage
	if len(p.Settings) > 0 {
		if err := json.Unmarshal(p.Settings, &projectSettings); err != nil {
			return RunSettings{}, invalidSettings("project settings: %v", err)
		}
	}
	preset := req.Preset
	if raw, ok := projectSettings["preset"]; ok && preset == "" {
		if err := json.Unmarshal(raw, &preset); err != nil {
			return RunSettings{}, invalidSettings("project setting preset must be a string")
		}
	}
	delete(projectSettings, "preset")
	if preset == "" {
		preset = PresetDefault
	}
	k := len(p.Classes)
	var s train.Settings
	switch preset {
	case PresetDefault:
		s = train.DefaultSettings(k)
	case PresetPaper:
		s = train.PaperSettings(k)
	default:
		return RunSettings{}, invalidSettings("unknown preset %q (want %q or %q)", preset, PresetDefault, PresetPaper)
	}
	// The crop is the project's (store.Project.CropW/CropH); project or request settings may override it.
	if p.CropW > 0 && p.CropH > 0 {
		s.CropW, s.CropH = p.CropW, p.CropH
	}
	// Project settings may hold keys of other owners (e.g. the web app's); only known fields are taken.
	if len(projectSettings) > 0 {
		raw, _ := json.Marshal(projectSettings)
		if err := json.Unmarshal(raw, &s); err != nil {
			return RunSettings{}, invalidSettings("project settings: %v", err)
		}
	}
	if len(req.Settings) > 0 && string(req.Settings) != "null" {
		dec := json.NewDecoder(bytes.NewReader(req.Settings))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&s); err != nil {
			return RunSettings{}, invalidSettings("settings: %v", err)
		}
	}
	s.Classes = k
	s.ClassNames = make([]string, k)
	for i, c := range p.Classes {
		s.ClassNames[i] = c.Name
	}
	if err := s.Validate(); err != nil {
		return RunSettings{}, invalidSettings("%v", err)
	}
	return RunSettings{Preset: preset, FromScratch: req.FromScratch, Train: s}, nil
}

func invalidSettings(format string, args ...any) error {
	return &store.ValidationError{Msg: oneLine(strings.TrimPrefix(fmt.Sprintf(format, args...), "json: "))}
}

// Cancel stops a run of this trainer after its current training step and waits (until ctx ends) for the run
// to be marked cancelled. A run that is not training here is a store.ErrConflict.
func (t *Trainer) Cancel(ctx context.Context, runID int64) (store.Run, error) {
	r, err := t.cfg.Store.Run(ctx, runID)
	if err != nil {
		return store.Run{}, err
	}
	t.mu.Lock()
	j, ok := t.jobs[r.ProjectID]
	t.mu.Unlock()
	if !ok || j.run.ID != runID {
		if r.Status == store.RunQueued || r.Status == store.RunRunning {
			return store.Run{}, fmt.Errorf("%w: run %d is %s in another process (a workbench train command?); stop it there", store.ErrConflict, runID, r.Status)
		}
		return store.Run{}, fmt.Errorf("%w: run %d is already %s", store.ErrConflict, runID, r.Status)
	}
	j.cancel(errCancelRequested)
	select {
	case <-j.done:
	case <-ctx.Done():
		return store.Run{}, ctx.Err()
	}
	return t.cfg.Store.Run(ctx, runID)
}

func (t *Trainer) publish(projectID int64, event any) {
	if t.cfg.Publish != nil {
		t.cfg.Publish(projectID, event)
	}
}

// finish records a run's end, publishes it and releases the project.
func (t *Trainer) finish(j *job, status, msg string, modelID *int64) (store.Run, error) {
	// The run's end is recorded even when the job's context was cancelled.
	run, err := t.cfg.Store.FinishRun(context.Background(), j.run.ID, status, msg, modelID)
	if err != nil {
		return j.run, err
	}
	// Free the project before telling clients, so a Train now right after the event is accepted.
	t.release(j)
	t.publish(run.ProjectID, RunEvent{Type: EventRun, Run: run})
	return run, nil
}

// release forgets a job as the project's running one.
func (t *Trainer) release(j *job) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.jobs[j.run.ProjectID] == j {
		delete(t.jobs, j.run.ProjectID)
	}
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
	t.publish(pid, RunEvent{Type: EventRun, Run: run})

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
	model, err := t.saveModel(ctx, p, run.ID, res)
	if err != nil {
		return fail(err)
	}
	n, err := t.PredictProject(ctx, pid, res.Best, model.ID)
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
	t.publish(pid, PredictionsEvent{Type: EventPredictions, RunID: run.ID, ModelID: model.ID, Slices: n})
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

// modelMetrics is a model's stored metrics: how it was trained and its scores on the evaluation split.
type modelMetrics struct {
	Iterations    int            `json:"iterations"`
	Epochs        int            `json:"epochs"`
	TrainSeconds  float64        `json:"trainSeconds"`
	Stopped       string         `json:"stopped"`
	BestIteration int            `json:"bestIteration"`
	BestValLoss   *float64       `json:"bestValLoss,omitempty"`
	TrainSlices   int            `json:"trainSlices"`
	ValSlices     int            `json:"valSlices"`
	EvalSlices    int            `json:"evalSlices"`
	Classes       []classMetrics `json:"classes"` // per class 1..K; empty without an evaluation split
}

// classMetrics are metrics.ClassMetrics with JSON-safe numbers: non-finite values (conformity at Dice 0,
// distances without a surface) become null.
type classMetrics struct {
	Class         int      `json:"class"`
	Name          string   `json:"name"`
	Dice          *float64 `json:"dice"`
	Jaccard       *float64 `json:"jaccard"`
	Precision     *float64 `json:"precision"`
	Recall        *float64 `json:"recall"`
	Specificity   *float64 `json:"specificity"`
	Conformity    *float64 `json:"conformity"`
	HausdorffPx   *float64 `json:"hausdorffPx"`
	HausdorffMM   *float64 `json:"hausdorffMm"`
	MeanSurfacePx *float64 `json:"meanSurfacePx"`
	MeanSurfaceMM *float64 `json:"meanSurfaceMm"`
	Slices        int      `json:"slices"`
}

func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func metricsOf(res *train.Result, info train.Info) modelMetrics {
	m := modelMetrics{
		Iterations: res.Iterations, Epochs: res.Epochs, TrainSeconds: res.Elapsed, Stopped: res.Stopped,
		BestIteration: res.BestIteration, BestValLoss: finite(res.BestValLoss),
		TrainSlices: len(res.TrainKeys), ValSlices: len(res.ValKeys), EvalSlices: len(res.EvalKeys),
		Classes: []classMetrics{},
	}
	for _, c := range res.Metrics {
		m.Classes = append(m.Classes, classMetricsOf(c, info.ClassName(c.Class)))
	}
	return m
}

func classMetricsOf(c metrics.ClassMetrics, name string) classMetrics {
	return classMetrics{
		Class: c.Class, Name: name, Dice: finite(c.Dice), Jaccard: finite(c.Jaccard),
		Precision: finite(c.Precision), Recall: finite(c.Recall), Specificity: finite(c.Specificity),
		Conformity: finite(c.Conformity), HausdorffPx: finite(c.HausdorffPx), HausdorffMM: finite(c.HausdorffMM),
		MeanSurfacePx: finite(c.MeanSurfacePx), MeanSurfaceMM: finite(c.MeanSurfaceMM), Slices: c.Slices,
	}
}

// saveModel stores the best model of a run (not yet active) with its settings and metrics. The store writes
// the file atomically, so a crash never leaves a half-written model behind.
func (t *Trainer) saveModel(ctx context.Context, p plan, runID int64, res *train.Result) (store.Model, error) {
	settings, err := json.Marshal(res.Best.Info.Settings)
	if err != nil {
		return store.Model{}, err
	}
	m, err := json.Marshal(metricsOf(res, res.Best.Info))
	if err != nil {
		return store.Model{}, err
	}
	var parent *int64
	if p.warm != nil {
		parent = &p.warm.ID
	}
	return t.cfg.Store.CreateModel(ctx, store.NewModel{
		ProjectID: p.project.ID, RunID: &runID, ParentID: parent, Arch: res.Best.Info.Arch,
		Settings: settings, Metrics: m, Write: func(w io.Writer) error { return writeModel(res.Best, w) },
	})
}

// writeModel encodes a model into w through the engine's own file writer (which writes only to paths).
func writeModel(m *train.Model, w io.Writer) error {
	dir, err := os.MkdirTemp("", "workbench-model-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "model")
	if err := m.Save(path); err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

// predictBatch is the slices per PredictSlices call: enough to batch forward passes, few enough to keep the
// probability maps of one call small.
const predictBatch = 16

// PredictProject predicts every unlabelled slice of every volume of the project with the model and stores the
// predictions (with their uncertainty) under modelID, one transaction per volume; it returns the slices
// predicted.
func (t *Trainer) PredictProject(ctx context.Context, projectID int64, m *train.Model, modelID int64) (int, error) {
	st := t.cfg.Store
	volumes, err := st.Volumes(ctx, projectID)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, v := range volumes {
		states, err := st.SliceStates(ctx, v.ID)
		if err != nil {
			return total, err
		}
		labelled := make(map[int]bool, len(states))
		for _, state := range states {
			labelled[state.Slice] = state.Labelled()
		}
		vol, err := t.cfg.Volume(ctx, v.ID)
		if err != nil {
			return total, fmt.Errorf("volume %q: %w", v.Name, err)
		}
		var samples []data.Sample
		var slices []int
		for z := range vol.NumSlices() {
			if !labelled[z] {
				samples = append(samples, sliceSample(vol, v.ID, z, nil))
				slices = append(slices, z)
			}
		}
		preds := make([]store.Prediction, 0, len(samples))
		for first := 0; first < len(samples); first += predictBatch {
			if err := ctx.Err(); err != nil {
				return total, err
			}
			batch := samples[first:min(first+predictBatch, len(samples))]
			ps, err := m.PredictSlices(batch, train.PredictOptions{})
			if err != nil {
				return total, fmt.Errorf("volume %q: %w", v.Name, err)
			}
			for i, p := range ps {
				preds = append(preds, store.Prediction{VolumeID: v.ID, Slice: slices[first+i], Mask: p.ClassMap, Uncertainty: p.Uncertainty})
			}
		}
		if err := st.SavePredictions(ctx, modelID, preds); err != nil {
			return total, fmt.Errorf("volume %q: %w", v.Name, err)
		}
		total += len(preds)
	}
	return total, nil
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
	pe := ProgressEvent{
		Type: e.Kind, RunID: r.runID, Iteration: e.Iteration, Epoch: e.Epoch, TrainLoss: e.TrainLoss,
		ValDice: e.ValDice, Best: e.Best, LearningRate: e.LearningRate, SecondsPerIteration: e.SecondsPerIteration,
		ETA: e.ETA, Elapsed: e.Elapsed,
	}
	if e.Kind == train.EventEpoch {
		pe.ValLoss = finite(e.ValLoss)
	}
	r.t.publish(r.projectID, pe)
	raw, err := json.Marshal(pe)
	if err != nil {
		r.t.cfg.Logger.Warn("training event not stored", "run", r.runID, "err", err)
		return
	}
	r.pending = append(r.pending, store.RunEvent{Kind: e.Kind, Data: raw})
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
