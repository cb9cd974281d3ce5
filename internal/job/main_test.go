package job

import (
	"context"
	"io"
	"os"
	"testing"
)

// testWorkerFaultEnv makes the test binary's worker fail on purpose: "panic" panics at the first progress
// event it sends, mid-training.
const testWorkerFaultEnv = "WORKBENCH_TEST_WORKER_FAULT"

// TestMain lets the test binary stand in for `workbench worker`: the trainer starts this executable with
// WorkerEnv set.
func TestMain(m *testing.M) {
	if os.Getenv(WorkerEnv) == "1" {
		if os.Getenv(testWorkerFaultEnv) == "panic" {
			os.Exit(RunWorker(context.Background(), os.Stdin, panickingWriter{os.Stdout}))
		}
		os.Exit(WorkerMain())
	}
	os.Exit(m.Run())
}

// panickingWriter panics at its first write, which in a worker is the first training step's progress.
type panickingWriter struct{ io.Writer }

func (panickingWriter) Write([]byte) (int, error) { panic("injected worker fault") }
