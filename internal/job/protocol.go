package job

import (
	"bufio"
	"encoding/gob"
	"fmt"
	"io"

	"github.com/mriworkbench/workbench/ml/data"
	"github.com/mriworkbench/workbench/ml/metrics"
	"github.com/mriworkbench/workbench/ml/train"
)

// ProtocolVersion is the version of the trainer-worker protocol that this binary speaks; a worker refuses a
// job of another version.
const ProtocolVersion = 2

// The trainer-worker protocol. The trainer (the server, or `workbench train`) starts a worker process and
// sends it one job over the worker's stdin; the worker answers over its stdout. Each direction is one
// encoding/gob stream of Message values, exactly one field set in each:
//
//	trainer -> worker: Job, ModelChunk... (the warm-start model file, when Job.Warm), ModelChunk... (the
//	                   comparison model file, when Job.Compare), Sample x Job.Samples,
//	                   then, once the worker has sent Trained and its model: Predict..., End
//	worker -> trainer: Progress... (one per training step and validation), then either
//	                   Trained, ModelChunk... (the new model file), Predicted (one per Predict), Finished{done}
//	                   or Finished{failed|cancelled}
//
// An evaluation job (Job.Evaluate: the k-fold cross-validation of a delivered model, train.CrossValidate) is
// Job, Sample x Job.Samples one way and Progress... (the fold models'), Evaluated, Finished{done} (or
// Finished{failed|cancelled}) the other; the trainer keeps its stdin open until the worker has finished.
//
// Cancel is SIGTERM: the worker stops after its current training step and sends Finished{cancelled}; once it
// has sent Trained it finishes the predictions regardless. An EOF on stdin before End means the trainer is
// gone: the worker stops. The exit status repeats the outcome (0 done, 3 failed, 4 cancelled, 5 protocol
// error, 6 over its memory limit); any other end (a panic, a fatal runtime error, a kill by a signal) is a
// crash, which the trainer reports from the exit status and the worker's stderr. The worker touches no store
// and writes no file, so a worker on another machine (e.g. with a GPU) can serve the same stream over any pipe.
type Message struct {
	// Trainer to worker.
	Job     *WorkerJob
	Sample  *data.Sample
	Predict *PredictBatch
	End     bool
	// Worker to trainer.
	Progress  *train.Event
	Trained   *Trained
	Predicted *Predicted
	Evaluated *Evaluated
	Finished  *Finished
	// Both ways: a piece of a model file (ModelChunkBytes at most), so no message grows with the model.
	Model *ModelChunk
}

// WorkerJob opens a job.
type WorkerJob struct {
	Version  int
	Settings train.Settings
	// Warm says a warm-start model file follows in ModelChunk messages.
	Warm bool
	// Compare says the project's active model file follows (after the warm-start one), for PredictBatch.Compare:
	// the new model is judged against it on labelled slices, and the engine runs only in the worker.
	Compare bool
	// Evaluate asks for the cross-validation of a model trained on these samples and settings instead of a
	// model (no Warm, no Compare).
	Evaluate bool
	// Samples is the number of Sample messages that follow: the labelled slices to train on.
	Samples int
	// MemoryLimit bounds the worker's memory: its Go heap's limit (debug.SetMemoryLimit), and a watchdog ends
	// it (exit status 6) once its resident memory passes the limit by more than the BLAS library's buffers, so
	// that a run whose estimate was wrong fails instead of exhausting the machine. 0: no limit.
	MemoryLimit int64
}

// ModelChunkBytes bounds the model bytes in one message.
const ModelChunkBytes = 16 << 20

// ModelChunk is part of a model file; Last marks its final part.
type ModelChunk struct {
	Data []byte
	Last bool
}

// PredictBatch asks for the predictions of some whole slices of one size; Tag and Slices come back with them.
type PredictBatch struct {
	Tag    int64 // the volume, for the trainer
	Slices []int // the slices' indices in their volume
	W, H   int
	Images [][]float32 // W*H intensities each, x fastest
	// Compare asks for the comparison model's class maps too (Predicted.Compared): labelled slices to judge on.
	Compare bool
}

// Trained describes the model that the worker trained; its file follows in ModelChunk messages.
type Trained struct {
	Arch     string
	Settings train.Settings // the model's, as stored with it
	Metrics  ModelMetrics
}

// Predicted answers a PredictBatch.
type Predicted struct {
	Tag         int64
	Slices      []int
	ClassMaps   [][]uint8 // W*H class indices each
	Uncertainty []float64
	Compared    [][]uint8 // the comparison model's class maps, for PredictBatch.Compare
}

// Evaluated answers an evaluation job: the folds' summary and every labelled slice's metrics pooled, each
// scored by the fold model that did not train on it.
type Evaluated struct {
	Evaluation *train.Evaluation
	Classes    []metrics.ClassMetrics
}

// Worker outcomes, in Finished.Status.
const (
	WorkerDone      = "done"
	WorkerFailed    = "failed"
	WorkerCancelled = "cancelled"
)

// Finished ends the worker's stream.
type Finished struct {
	Status string
	Error  string // one line, for WorkerFailed
	// PeakRSS is the worker's peak resident memory in bytes (VmHWM), 0 where unknown.
	PeakRSS int64
}

// Worker exit statuses (a Go panic or fatal error exits 2).
const (
	exitDone      = 0
	exitFailed    = 3
	exitCancelled = 4
	exitProtocol  = 5
	// exitOutOfMemory: the worker's resident memory passed its limit (limitMemory).
	exitOutOfMemory = 6
)

// messageWriter and messageReader are the two ends of a stream.
type messageWriter struct {
	enc   *gob.Encoder
	flush func() error
}

func (w *messageWriter) send(m Message) error {
	if err := w.enc.Encode(&m); err != nil {
		return err
	}
	if w.flush != nil {
		return w.flush()
	}
	return nil
}

// sendModel sends a model file in chunks.
func (w *messageWriter) sendModel(b []byte) error {
	for {
		n := min(len(b), ModelChunkBytes)
		if err := w.send(Message{Model: &ModelChunk{Data: b[:n], Last: n == len(b)}}); err != nil {
			return err
		}
		if b = b[n:]; len(b) == 0 {
			return nil
		}
	}
}

func newMessageWriter(w io.Writer) *messageWriter {
	bw := bufio.NewWriterSize(w, 64<<10)
	return &messageWriter{enc: gob.NewEncoder(bw), flush: bw.Flush}
}

type messageReader struct{ dec *gob.Decoder }

func newMessageReader(r io.Reader) *messageReader {
	return &messageReader{dec: gob.NewDecoder(bufio.NewReaderSize(r, 64<<10))}
}

func (r *messageReader) next() (Message, error) {
	var m Message
	err := r.dec.Decode(&m)
	return m, err
}

// readModel reads ModelChunk messages up to the last one; max bounds the file's size.
func (r *messageReader) readModel(max int64) ([]byte, error) {
	var b []byte
	for {
		m, err := r.next()
		if err != nil {
			return nil, err
		}
		if m.Model == nil {
			return nil, fmt.Errorf("protocol: expected a model chunk, got %s", m.kind())
		}
		if int64(len(b)+len(m.Model.Data)) > max {
			return nil, fmt.Errorf("protocol: model file over %d bytes", max)
		}
		b = append(b, m.Model.Data...)
		if m.Model.Last {
			return b, nil
		}
	}
}

// kind names a message's set field, for protocol errors.
func (m Message) kind() string {
	switch {
	case m.Job != nil:
		return "job"
	case m.Sample != nil:
		return "sample"
	case m.Predict != nil:
		return "predict"
	case m.End:
		return "end"
	case m.Progress != nil:
		return "progress"
	case m.Trained != nil:
		return "trained"
	case m.Predicted != nil:
		return "predicted"
	case m.Evaluated != nil:
		return "evaluated"
	case m.Finished != nil:
		return "finished"
	case m.Model != nil:
		return "model chunk"
	}
	return "empty message"
}
