package job

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mriworkbench/workbench/ml/data"
	"github.com/mriworkbench/workbench/ml/train"
	"github.com/mriworkbench/workbench/store"
)

// WorkerEnv, set to "1" in a process's environment, asks a binary that embeds the worker to run as one: the
// trainer sets it on the workers it starts, so a test binary's TestMain can stand in for `workbench worker`
// (see ExecutableWorker).
const WorkerEnv = "WORKBENCH_WORKER"

// maxModelBytes bounds a model file on the protocol (the largest architecture at width 256 is far below it).
const maxModelBytes = 4 << 30

// workerNice is the worker's scheduling priority (nice value): training takes whatever CPU the server and the
// rest of the machine leave. BenchmarkLabelSavesWhileTraining (server package; 2 cores): p99 of a label save
// 62 ms at nice 0, 19 ms at nice 10.
const workerNice = 10

// errTrainerGone: the worker's stdin ended before the job did.
var errTrainerGone = errors.New("the trainer closed the stream")

// WorkerMain runs this process as a training worker, one job on stdin and stdout, and returns its exit status:
// the `workbench worker` command, and what a test binary's TestMain calls when WorkerEnv is set. SIGTERM (or
// SIGINT) cancels the job. Anything else that writes to stdout (a C library's message) goes to stderr, so the
// stream stays whole.
func WorkerMain() int {
	lowerPriority()
	out, err := protocolOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "training worker: %v\n", err)
		return exitProtocol
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return RunWorker(ctx, os.Stdin, out)
}

// RunWorker serves one job read from in, writing its messages to out, and returns the exit status; cancelling
// ctx cancels the job.
func RunWorker(ctx context.Context, in io.Reader, out io.Writer) int {
	w, r := newMessageWriter(out), newMessageReader(in)
	fin, code := serveJob(ctx, r, w)
	fin.PeakRSS = peakRSS()
	if err := w.send(Message{Finished: &fin}); err != nil && code == exitDone {
		return exitProtocol
	}
	return code
}

func failed(code int, format string, args ...any) (Finished, int) {
	return Finished{Status: WorkerFailed, Error: store.OneLine(fmt.Sprintf(format, args...))}, code
}

// serveJob reads the job, trains, sends the model and answers predictions until End.
func serveJob(ctx context.Context, r *messageReader, w *messageWriter) (Finished, int) {
	m, err := r.next()
	if err != nil || m.Job == nil {
		return failed(exitProtocol, "protocol: the stream does not start with a job (%s, %v)", m.kind(), err)
	}
	job := *m.Job
	if job.Version != ProtocolVersion {
		return failed(exitProtocol, "protocol version %d, this worker speaks version %d", job.Version, ProtocolVersion)
	}
	limitMemory(job.MemoryLimit)
	var warm *train.Model
	if job.Warm {
		b, err := r.readModel(maxModelBytes)
		if err != nil {
			return failed(exitProtocol, "warm-start model: %v", err)
		}
		if warm, err = train.ReadModel(bytes.NewReader(b)); err != nil {
			return failed(exitFailed, "warm start: %v", err)
		}
	}
	var compareFile []byte // decoded once training is over, so it adds nothing to the training peak
	if job.Compare {
		if compareFile, err = r.readModel(maxModelBytes); err != nil {
			return failed(exitProtocol, "comparison model: %v", err)
		}
	}
	if job.Samples < 0 {
		return failed(exitProtocol, "protocol: %d samples", job.Samples)
	}
	samples := make([]data.Sample, 0, min(job.Samples, 1<<16))
	for range job.Samples {
		m, err := r.next()
		if err != nil || m.Sample == nil {
			return failed(exitProtocol, "protocol: expected a sample (%s, %v)", m.kind(), err)
		}
		samples = append(samples, *m.Sample)
	}

	// The rest of the stream is read beside the training, so that its end (the trainer is gone) stops it.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	incoming := make(chan Message)
	go func() {
		defer close(incoming)
		for {
			m, err := r.next()
			if err != nil {
				cancel(errTrainerGone)
				return
			}
			incoming <- m
			if m.End {
				return
			}
		}
	}()

	var sendErr error
	progress := func(e train.Event) {
		if sendErr == nil {
			if sendErr = w.send(Message{Progress: &e}); sendErr != nil {
				cancel(sendErr)
			}
		}
	}
	if job.Evaluate {
		return evaluate(ctx, w, samples, job.Settings, progress)
	}
	res, err := train.Train(ctx, samples, job.Settings, train.Options{Warm: warm, OnEvent: progress})
	if err != nil {
		if ctx.Err() != nil {
			return Finished{Status: WorkerCancelled}, exitCancelled
		}
		return failed(exitFailed, "%v", err)
	}
	best := res.Best
	trained := Trained{Arch: best.Info.Arch, Settings: best.Info.Settings, Metrics: metricsOf(res)}
	// The training model, its buffers and the samples are garbage now: collect them before inference allocates
	// its own, so the peak is the larger of the two phases rather than their sum.
	res, samples, warm = nil, nil, nil
	runtime.GC()
	var file bytes.Buffer
	if _, err := best.WriteTo(&file); err != nil {
		return failed(exitFailed, "%v", err)
	}
	if err := w.send(Message{Trained: &trained}); err != nil {
		return failed(exitProtocol, "%v", err)
	}
	if err := w.sendModel(file.Bytes()); err != nil {
		return failed(exitProtocol, "%v", err)
	}
	file = bytes.Buffer{}
	var compared *train.Model
	if compareFile != nil {
		if compared, err = train.ReadModel(bytes.NewReader(compareFile)); err != nil {
			return failed(exitFailed, "comparison model: %v", err)
		}
		compareFile = nil
	}

	// Once the model is out, the predictions are finished whatever signal comes: the run delivers its model.
	for m := range incoming {
		switch {
		case m.End:
			return Finished{Status: WorkerDone}, exitDone
		case m.Predict != nil:
			p, err := predictWorkerBatch(best, m.Predict)
			if err == nil && m.Predict.Compare {
				if compared == nil {
					return failed(exitProtocol, "protocol: a comparison batch without a comparison model")
				}
				var c *Predicted
				if c, err = predictWorkerBatch(compared, m.Predict); err == nil {
					p.Compared = c.ClassMaps
				}
			}
			if err != nil {
				return failed(exitFailed, "predictions: %v", err)
			}
			if err := w.send(Message{Predicted: p}); err != nil {
				return failed(exitProtocol, "%v", err)
			}
		default:
			return failed(exitProtocol, "protocol: expected predict or end, got %s", m.kind())
		}
	}
	return Finished{Status: WorkerCancelled, Error: errTrainerGone.Error()}, exitCancelled
}

// evaluate serves an evaluation job: the cross-validation of a model of these samples and settings.
func evaluate(ctx context.Context, w *messageWriter, samples []data.Sample, s train.Settings, progress func(train.Event)) (Finished, int) {
	ev, classes, err := train.CrossValidate(ctx, samples, s, train.Options{OnEvent: progress})
	if err != nil {
		if ctx.Err() != nil {
			return Finished{Status: WorkerCancelled}, exitCancelled
		}
		return failed(exitFailed, "%v", err)
	}
	if err := w.send(Message{Evaluated: &Evaluated{Evaluation: ev, Classes: classes}}); err != nil {
		return failed(exitProtocol, "%v", err)
	}
	return Finished{Status: WorkerDone}, exitDone
}

// predictWorkerBatch predicts whole slices of one size.
func predictWorkerBatch(m *train.Model, b *PredictBatch) (*Predicted, error) {
	if len(b.Images) != len(b.Slices) {
		return nil, fmt.Errorf("protocol: %d images for %d slices", len(b.Images), len(b.Slices))
	}
	samples := make([]data.Sample, len(b.Images))
	for i, img := range b.Images {
		samples[i] = data.Sample{Image: img, W: b.W, H: b.H}
	}
	preds, err := m.PredictSlices(samples, train.PredictOptions{})
	if err != nil {
		return nil, err
	}
	out := &Predicted{Tag: b.Tag, Slices: b.Slices, ClassMaps: make([][]uint8, len(preds)), Uncertainty: make([]float64, len(preds))}
	for i, p := range preds {
		out.ClassMaps[i], out.Uncertainty[i] = p.ClassMap, p.Uncertainty
	}
	return out, nil
}

// limitMemory holds the worker to its memory limit (see WorkerJob.MemoryLimit): the Go heap's limit keeps
// garbage from pushing the process over it, and a watchdog ends the process with exitOutOfMemory as soon as its
// resident memory passes the limit by more than overLimitSlack (the BLAS library's own buffers). An
// address-space limit (RLIMIT_AS) would be simpler but is not safe here: OpenBLAS spins, instead of failing,
// when it cannot map its buffers (measured: a worker at its RLIMIT_AS sat in cblas_sgemm for minutes).
func limitMemory(limit int64) {
	if limit <= 0 {
		return
	}
	debug.SetMemoryLimit(limit)
	go func() {
		for range time.Tick(watchdogEvery) {
			if rss := procStatusBytes("VmRSS:"); rss > limit+overLimitSlack {
				fmt.Fprintf(os.Stderr, "training worker: out of memory: %s resident, over the limit of %s\n", formatBytes(rss), formatBytes(limit))
				os.Exit(exitOutOfMemory)
			}
		}
	}()
}

// The memory watchdog's period and the resident memory it allows over the limit. Memory is touched at a few
// GiB/s at most, so a period this short overshoots by little.
const (
	watchdogEvery  = 20 * time.Millisecond
	overLimitSlack = 256 << 20
)

// peakRSS is this process's peak resident memory in bytes (VmHWM), 0 where unknown.
func peakRSS() int64 { return procStatusBytes("VmHWM:") }

// procStatusBytes reads a "kB" field of /proc/self/status in bytes.
func procStatusBytes(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}
