// Package job runs the workbench's training and prediction jobs: the only place where stored labels meet the
// engine. A training job turns a project's labelled slices into a model, predicts every unlabelled slice, and
// stores the model with its metrics and predictions as the project's active model; its progress goes out as
// events and into the run's stored history. The server runs jobs in the background (Trainer.Start); the CLI
// runs the same job in the foreground (Trainer.Train), and predicts or segments in its own process with the
// functions of predict.go.
//
// Training and the run's predictions happen in a worker process (`workbench worker`, WorkerMain), supervised
// by the Trainer: an out-of-memory kill, a panic or a fault in a C kernel fails the run with a reason, and the
// process that owns the store keeps going. The trainer does all the store work; the worker gets the settings,
// the samples and the warm-start model over a small versioned protocol (protocol.go) and sends back progress,
// the model file and the predictions. Before a run starts, its peak memory is estimated from the architecture,
// batch and crop (memory.go) and a run over the memory budget is refused.
package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/mriworkbench/workbench/internal/event"
	"github.com/mriworkbench/workbench/internal/ingest"
	"github.com/mriworkbench/workbench/nifti"
	"github.com/mriworkbench/workbench/store"
)

// Config is what a Trainer needs.
type Config struct {
	Store *store.Store
	// Publish receives every event of a project (nil: events are only stored with their run).
	Publish func(projectID int64, e event.Event)
	// Volume returns a volume's canonical voxels, shared and read-only (nil: decode the original file each time).
	Volume func(ctx context.Context, volumeID int64) (*nifti.Volume, error)
	Logger *slog.Logger // nil: slog.Default()
	// Worker is how runs train: the worker process and its memory.
	Worker WorkerConfig
}

// WorkerConfig sets up the training worker.
type WorkerConfig struct {
	// Command starts a worker (nil: this process's executable with the argument "worker"; the workbench binary
	// passes ExecutableWorker of itself).
	Command WorkerCommand
	// MemoryBudget refuses a run whose estimated peak memory is larger (0: DefaultMemoryBudget).
	MemoryBudget int64
	// MemoryLimit is the worker's own limit (heap limit and address space, see WorkerJob.MemoryLimit), the
	// second line of defence should an estimate be wrong (0: MemoryBudget).
	MemoryLimit int64
}

// Trainer runs training jobs, at most one per project at a time.
type Trainer struct {
	cfg Config

	ctx  context.Context // parent of background jobs; cancelled by Close
	stop context.CancelCauseFunc
	wg   sync.WaitGroup

	mu    sync.Mutex
	jobs  map[int64]*job        // by project
	evals map[int64]*evaluation // by project: the evaluation of a model after its run (evaluate.go)
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
func NewTrainer(cfg Config) *Trainer {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Worker.Command == nil {
		cfg.Worker.Command = selfWorker
	}
	if cfg.Worker.MemoryBudget <= 0 {
		cfg.Worker.MemoryBudget = DefaultMemoryBudget()
	}
	if cfg.Volume == nil {
		st := cfg.Store
		cfg.Volume = func(ctx context.Context, id int64) (*nifti.Volume, error) { return ingest.LoadCanonical(ctx, st, id) }
	}
	ctx, stop := context.WithCancelCause(context.Background())
	return &Trainer{cfg: cfg, ctx: ctx, stop: stop, jobs: make(map[int64]*job), evals: make(map[int64]*evaluation)}
}

// Close cancels the running jobs and waits for them; each marks its run interrupted, so neither this
// process nor another (a CLI train, the next serve) sees it as still going. No model of theirs is stored.
func (t *Trainer) Close() {
	t.mu.Lock()
	t.stop(errShutdown) // under the lock: begin registers no job after this
	t.mu.Unlock()
	t.wg.Wait()
}

// Start queues a run for the project and trains it in the background; it returns the queued run. A project
// that already has a queued or running run is refused with store.ErrConflict naming that run.
func (t *Trainer) Start(ctx context.Context, projectID int64, req Request) (store.Run, error) {
	j, p, err := t.begin(ctx, projectID, req, t.ctx)
	if err != nil {
		return store.Run{}, err
	}
	go func() {
		out, err := t.execute(j, p)
		if err != nil {
			t.cfg.Logger.Info("training run ended without a model", "run", j.run.ID, "project", projectID, "err", err)
		}
		if out.evaluation != nil {
			if _, err := t.evaluate(out.evaluation); err != nil {
				t.cfg.Logger.Info("model not evaluated", "run", j.run.ID, "project", projectID, "err", err)
			}
		}
	}()
	return j.run, nil
}

// Train runs a job in the foreground until it ends or ctx is cancelled (the run is then cancelled), and then
// the evaluation of its model when that follows the run (evaluate.go): Outcome.Metrics has it, or says why
// not (a cancel now stops the evaluation only). Events go to the configured Publish, as for background jobs.
func (t *Trainer) Train(ctx context.Context, projectID int64, req Request) (Outcome, error) {
	j, p, err := t.begin(ctx, projectID, req, ctx)
	if err != nil {
		return Outcome{}, err
	}
	out, err := t.execute(j, p)
	if out.evaluation == nil { // registered, it must run: Close waits for it
		return out, err
	}
	metrics, everr := t.evaluate(out.evaluation)
	out.evaluation = nil
	if everr != nil {
		t.cfg.Logger.Info("model not evaluated", "run", j.run.ID, "project", projectID, "err", everr)
	}
	if err == nil && metrics.TrainSlices > 0 { // the stored metrics, with the evaluation or why it stopped
		out.Metrics = metrics
	}
	return out, err
}

// begin resolves the settings, creates the run and registers its job; parent bounds the job's life.
func (t *Trainer) begin(ctx context.Context, projectID int64, req Request, parent context.Context) (*job, plan, error) {
	st := t.cfg.Store
	project, err := st.Project(ctx, projectID)
	if err != nil {
		return nil, plan{}, err
	}
	p, err := planRun(ctx, st, project, req)
	if err != nil {
		return nil, plan{}, err
	}
	if err := t.checkMemory(ctx, p.settings.Train, projectID); err != nil {
		return nil, plan{}, err
	}
	// A new run makes the evaluation of the project's last model moot, and would share the CPU with it.
	if err := t.stopEvaluation(ctx, projectID, errPreempted); err != nil {
		return nil, plan{}, err
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
	if e, ok := t.evals[projectID]; ok {
		// Registered since stopEvaluation looked (its run ended meanwhile): it stops within a training step.
		e.cancel(errPreempted)
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
	t.publish(projectID, event.Run{Run: run})
	go t.watch(j)
	p.ctx, p.parent = jctx, parent
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

func (t *Trainer) publish(projectID int64, e event.Event) {
	if t.cfg.Publish != nil {
		t.cfg.Publish(projectID, e)
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
	t.publish(run.ProjectID, event.Run{Run: run})
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
