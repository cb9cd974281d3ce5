package job

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mriworkbench/workbench/ml/data"
	"github.com/mriworkbench/workbench/ml/train"
	"github.com/mriworkbench/workbench/nifti"
	"github.com/mriworkbench/workbench/store"
)

// WorkerCommand makes the (unstarted) command of a training worker: a process that speaks the protocol of
// Message on its stdin and stdout. The trainer sets the command's stdin, stdout and stderr, adds WorkerEnv to
// its environment and starts it.
type WorkerCommand func() *exec.Cmd

// ExecutableWorker runs the workbench binary at path as a worker (`path worker`).
func ExecutableWorker(path string) WorkerCommand {
	return func() *exec.Cmd { return exec.Command(path, "worker") }
}

// selfWorker runs this process's own executable as the worker: the workbench binary, or a test binary whose
// TestMain runs WorkerMain when WorkerEnv is set.
func selfWorker() *exec.Cmd {
	path, err := os.Executable()
	if err != nil {
		path = os.Args[0]
	}
	return exec.Command(path, "worker")
}

// stopGrace is how long a cancelled worker may take to finish its training step before it is killed.
const stopGrace = 30 * time.Second

// workerProc is a started worker.
type workerProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	w      *messageWriter
	r      *messageReader
	stderr *stderrTail

	trained chan struct{} // closed when the worker has sent its model: cancels no longer stop it
	exited  chan struct{} // closed once the process has been waited for
	once    sync.Once
	killed  bool // by the trainer (cancel past stopGrace, or a broken stream)
	mu      sync.Mutex
}

func (t *Trainer) startWorker() (*workerProc, error) {
	// A worker that started workers (a test binary without the TestMain hook runs its tests instead of the
	// worker, and would train again) would multiply; refuse.
	if os.Getenv(WorkerEnv) != "" {
		return nil, errors.New("a training worker cannot start another (is the TestMain worker hook missing?)")
	}
	cmd := t.cfg.Worker.Command()
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, WorkerEnv+"=1")
	supervise(cmd)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	tail := &stderrTail{}
	cmd.Stderr = tail
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the training process: %w", err)
	}
	return &workerProc{
		cmd: cmd, stdin: stdin, w: newMessageWriter(stdin), r: newMessageReader(stdout), stderr: tail,
		trained: make(chan struct{}), exited: make(chan struct{}),
	}, nil
}

// kill ends the worker at once.
func (w *workerProc) kill() {
	w.mu.Lock()
	w.killed = true
	w.mu.Unlock()
	w.cmd.Process.Kill()
}

// wait reaps the worker and returns how it ended; only the first call waits.
func (w *workerProc) wait() *os.ProcessState {
	w.once.Do(func() {
		w.cmd.Wait()
		close(w.exited)
	})
	return w.cmd.ProcessState
}

// cancelOn signals the worker to stop when ctx ends before it has sent its model, and kills it if it has not
// stopped within stopGrace.
func (w *workerProc) cancelOn(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-w.trained:
		return
	case <-w.exited:
		return
	}
	select {
	case <-w.trained:
		return
	default:
	}
	w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.exited:
	case <-w.trained:
	case <-time.After(stopGrace):
		w.kill()
	}
}

// workerResult is what a worker delivered: the model and its predictions.
type workerResult struct {
	trained     Trained
	model       []byte
	predictions []store.Prediction
	peakRSS     int64
	// The comparison with the active model (cmp of trainInWorker): the fair slices, as labelled when the
	// predictions went out, and both models' class maps of them.
	fair      []store.Label
	fairBasis string
	fairErr   error
	compared  []comparedSlice
}

// trainInWorker runs a run's training and predictions in a worker process: the samples and the warm-start
// model's file go out, progress events come back to onEvent, then the model; the project's unlabelled slices
// go out as they are when training ends, and their predictions come back. Cancelling ctx stops the training
// (the error is then ctx's); once the model is out, the predictions finish regardless. With cmp, the active
// model's file goes out too and both models predict the fair slices.
func (t *Trainer) trainInWorker(ctx context.Context, p plan, samples []data.Sample, warm []byte, cmp *comparisonInput,
	onEvent func(train.Event)) (*workerResult, error) {
	w, err := t.startWorker()
	if err != nil {
		return nil, err
	}
	defer w.end()
	limit := t.workerLimit()
	// The job goes out beside the reading, so a worker that fails early is heard; a write error means the
	// worker is gone, and its exit says why.
	jobSent := make(chan struct{})
	go func() {
		defer close(jobSent)
		if err := w.w.send(Message{Job: &WorkerJob{Version: ProtocolVersion, Settings: p.settings.Train, Warm: warm != nil,
			Compare: cmp != nil, Samples: len(samples), MemoryLimit: limit}}); err != nil {
			return
		}
		if warm != nil && w.w.sendModel(warm) != nil {
			return
		}
		if cmp != nil && w.w.sendModel(cmp.file) != nil {
			return
		}
		for i := range samples {
			if w.w.send(Message{Sample: &samples[i]}) != nil {
				return
			}
		}
	}()
	go w.cancelOn(ctx)

	var res workerResult
	var fin *Finished
	var protoErr error
	sent := make(chan predictionsSent, 1)
	trained, sending := false, false
	answered := 0
read:
	for {
		m, ok, err := w.next()
		if !ok {
			protoErr = err
			break
		}
		switch {
		case m.Progress != nil && !trained:
			onEvent(*m.Progress)
		case m.Trained != nil && !trained:
			trained = true
			close(w.trained)
			res.trained = *m.Trained
			if res.model, err = w.r.readModel(maxModelBytes); err != nil {
				protoErr = err
				break read
			}
			sending = true
			go func() {
				<-jobSent // one writer at a time
				sent <- t.sendPredictions(context.WithoutCancel(ctx), w, p.project.ID, cmp)
			}()
		case m.Predicted != nil && trained:
			answered++
			pr := m.Predicted
			if len(pr.ClassMaps) != len(pr.Slices) || len(pr.Uncertainty) != len(pr.Slices) {
				protoErr = fmt.Errorf("protocol: %d class maps and %d scores for %d slices", len(pr.ClassMaps), len(pr.Uncertainty), len(pr.Slices))
				break read
			}
			if pr.Compared != nil {
				if len(pr.Compared) != len(pr.Slices) {
					protoErr = fmt.Errorf("protocol: %d compared class maps for %d slices", len(pr.Compared), len(pr.Slices))
					break read
				}
				for i, z := range pr.Slices {
					res.compared = append(res.compared, comparedSlice{volumeID: pr.Tag, slice: z, newMap: pr.ClassMaps[i], activeMap: pr.Compared[i]})
				}
				continue
			}
			for i, z := range pr.Slices {
				res.predictions = append(res.predictions, store.Prediction{VolumeID: pr.Tag, Slice: z, Mask: pr.ClassMaps[i], Uncertainty: pr.Uncertainty[i]})
			}
		case m.Finished != nil:
			fin = m.Finished
			break read
		default:
			protoErr = fmt.Errorf("protocol: unexpected %s message", m.kind())
			break read
		}
	}
	state := w.streamOver(protoErr)
	var ps predictionsSent
	if sending {
		ps = <-sent
	}
	if fin != nil {
		res.peakRSS = fin.PeakRSS
	}
	res.fair, res.fairBasis, res.fairErr = ps.fair, ps.fairBasis, ps.fairErr
	switch {
	case ps.err != nil:
		return nil, ps.err
	case fin != nil && fin.Status == WorkerDone && state.Success() && protoErr == nil:
		if !trained || answered != ps.batches {
			return nil, fmt.Errorf("the training process answered %d of %d prediction batches", answered, ps.batches)
		}
		return &res, nil
	case ctx.Err() != nil && !trained && (fin == nil || fin.Status == WorkerCancelled):
		return nil, ctx.Err()
	case fin != nil && fin.Status == WorkerCancelled:
		return nil, errors.New("the training process was stopped by a signal from outside the workbench")
	case fin != nil && fin.Status == WorkerFailed:
		return nil, errors.New(fin.Error)
	}
	return nil, t.workerFailure(w, state, limit, protoErr)
}

// workerLimit is the memory limit a worker is started with (WorkerJob.MemoryLimit).
func (t *Trainer) workerLimit() int64 {
	if t.cfg.Worker.MemoryLimit != 0 {
		return t.cfg.Worker.MemoryLimit
	}
	return t.cfg.Worker.MemoryBudget
}

// next reads the worker's next message; false at the end of the stream, with the error when it was not a
// plain end (a stream cut short is a worker that died, and its exit status says why).
func (w *workerProc) next() (Message, bool, error) {
	m, err := w.r.next()
	if err == nil {
		return m, true, nil
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return m, false, nil
	}
	return m, false, err
}

// end kills the worker unless it has exited, and reaps it: the deferred end of every use of a worker.
func (w *workerProc) end() {
	select {
	case <-w.exited:
	default:
		w.kill()
		w.wait()
	}
}

// streamOver reaps a worker whose stream has ended (killing it first when it broke the protocol): one that
// does not exit within stopGrace is hung, whatever it said, and is killed.
func (w *workerProc) streamOver(protoErr error) *os.ProcessState {
	if protoErr != nil {
		w.kill()
	}
	go func() {
		select {
		case <-w.exited:
		case <-time.After(stopGrace):
			w.kill()
		}
	}()
	return w.wait()
}

// workerFailure is why a worker ended without an outcome, in one line, logged with its stderr.
func (t *Trainer) workerFailure(w *workerProc, state *os.ProcessState, limit int64, protoErr error) error {
	reason := crashReason(state, w.stderr.String(), limit, w.wasKilled())
	if protoErr != nil {
		reason = fmt.Sprintf("the training process broke the protocol: %v", protoErr)
	}
	t.cfg.Logger.Warn("training process failed", "reason", reason, "stderr", w.stderr.String())
	return errors.New(reason)
}

func (w *workerProc) wasKilled() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.killed
}

// predictionsSent is how the sending of a run's prediction batches ended.
type predictionsSent struct {
	batches int
	err     error // the trainer's own failure (a volume that cannot be read), not a write to a dead worker
	// The fair slices sent for the comparison (cmp), or why there are none: a comparison that cannot be made
	// does not fail the run.
	fair      []store.Label
	fairBasis string
	fairErr   error
}

// sendPredictions sends the fair slices of the comparison (cmp, when not nil), then every unlabelled slice of
// the project, volume by volume in batches of predictBatch, then End.
func (t *Trainer) sendPredictions(ctx context.Context, w *workerProc, projectID int64, cmp *comparisonInput) predictionsSent {
	var out predictionsSent
	if cmp != nil {
		out.fairBasis, out.fair, out.fairErr = cmp.fair(ctx)
		if err := t.sendComparison(ctx, w, &out); err != nil {
			if !errors.Is(err, errWorkerWrite) {
				out.fairErr, out.fair = err, nil
			} else {
				return out
			}
		}
	}
	err := forUnlabelledSlices(ctx, t.cfg.Store, t.cfg.Volume, projectID, func(v store.VolumeMeta, vol *nifti.Volume, slices []int) error {
		for first := 0; first < len(slices); first += predictBatch {
			zs := slices[first:min(first+predictBatch, len(slices))]
			b := PredictBatch{Tag: v.ID, Slices: zs, W: vol.Shape[0], H: vol.Shape[1], Images: make([][]float32, len(zs))}
			for i, z := range zs {
				b.Images[i] = vol.Slice(z)
			}
			if err := w.w.send(Message{Predict: &b}); err != nil {
				return errWorkerWrite
			}
			out.batches++
		}
		return nil
	})
	if err == nil {
		if w.w.send(Message{End: true}) != nil {
			err = errWorkerWrite
		}
	}
	if err != nil && !errors.Is(err, errWorkerWrite) {
		out.err = err
		w.kill()
	}
	return out
}

// sendComparison sends the fair slices (out.fair) as comparison batches, by volume; a volume that cannot be
// read drops the comparison, not the run.
func (t *Trainer) sendComparison(ctx context.Context, w *workerProc, out *predictionsSent) error {
	for _, group := range byVolume(out.fair) {
		vol, err := t.cfg.Volume(ctx, group[0].VolumeID)
		if err != nil {
			return fmt.Errorf("volume %d: %w", group[0].VolumeID, err)
		}
		for first := 0; first < len(group); first += predictBatch {
			ls := group[first:min(first+predictBatch, len(group))]
			b := PredictBatch{Tag: group[0].VolumeID, W: vol.Shape[0], H: vol.Shape[1], Compare: true}
			for _, l := range ls {
				if l.Slice >= vol.NumSlices() || len(l.Mask) != vol.SliceLen() {
					return fmt.Errorf("volume %d slice %d: label does not fit the volume", l.VolumeID, l.Slice)
				}
				b.Slices = append(b.Slices, l.Slice)
				b.Images = append(b.Images, vol.Slice(l.Slice))
			}
			if err := w.w.send(Message{Predict: &b}); err != nil {
				return errWorkerWrite
			}
			out.batches++
		}
	}
	return nil
}

// errWorkerWrite: the worker stopped reading; its own end says why.
var errWorkerWrite = errors.New("the training process stopped reading")

// crashReason says in one line why a worker ended without an outcome: its exit status and the first line
// of its crash report on stderr.
func crashReason(state *os.ProcessState, stderr string, limit int64, killedByTrainer bool) string {
	lower := strings.ToLower(stderr)
	ws, _ := state.Sys().(syscall.WaitStatus)
	switch {
	case state.ExitCode() == exitOutOfMemory || strings.Contains(lower, "out of memory") || strings.Contains(lower, "cannot allocate memory"):
		msg := "the training process ran out of memory"
		if limit > 0 {
			msg += fmt.Sprintf(" (its limit is %s)", formatBytes(limit))
		}
		return msg + "; lower batch_size or the crop (crop_w, crop_h)"
	case ws.Signaled() && ws.Signal() == syscall.SIGKILL && !killedByTrainer:
		return "the training process ran out of memory (killed by the kernel: SIGKILL); lower batch_size or the crop (crop_w, crop_h)"
	case ws.Signaled():
		return fmt.Sprintf("the training process was killed by signal %s", ws.Signal())
	}
	if line := crashLine(stderr); line != "" {
		if strings.HasPrefix(line, "panic: ") {
			return "the training process crashed: " + line
		}
		if strings.Contains(stderr, "signal arrived during cgo execution") {
			return "the training process crashed in native code: " + line
		}
		return "the training process crashed: " + line
	}
	if last := lastLine(stderr); last != "" {
		return fmt.Sprintf("the training process exited with status %d: %s", state.ExitCode(), last)
	}
	return fmt.Sprintf("the training process exited with status %d without a result", state.ExitCode())
}

// crashLine is the first line of a Go crash report (a panic, a fatal error, a fault signal).
func crashLine(stderr string) string {
	for line := range strings.Lines(stderr) {
		line = strings.TrimSpace(line)
		for _, p := range []string{"panic: ", "fatal error: ", "SIGSEGV", "SIGBUS", "SIGILL", "SIGFPE", "SIGABRT"} {
			if strings.HasPrefix(line, p) {
				return line
			}
		}
	}
	return ""
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimSpace(s)
}

// stderrTail keeps the start and the end of a worker's stderr: a crash report starts with its reason and can
// run to many kilobytes of goroutine stacks.
type stderrTail struct {
	mu         sync.Mutex
	head, tail []byte
	dropped    bool // bytes between head and tail were let go
}

const stderrKeep = 16 << 10

func (s *stderrTail) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	written := len(p)
	if n := min(stderrKeep-len(s.head), len(p)); n > 0 {
		s.head = append(s.head, p[:n]...)
		p = p[n:]
	}
	s.tail = append(s.tail, p...)
	if over := len(s.tail) - stderrKeep; over > 0 {
		s.tail = append(s.tail[:0], s.tail[over:]...)
		s.dropped = true
	}
	return written, nil
}

func (s *stderrTail) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dropped {
		return string(s.head) + "\n...\n" + string(s.tail)
	}
	return string(s.head) + string(s.tail)
}
