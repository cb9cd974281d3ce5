package e2e

import (
	"os"
	"testing"

	"github.com/mriworkbench/workbench/internal/job"
)

// TestMain lets the test binary stand in for `workbench worker`: the server's trainer starts this executable
// with job.WorkerEnv set for every training run.
func TestMain(m *testing.M) {
	if os.Getenv(job.WorkerEnv) == "1" {
		os.Exit(job.WorkerMain())
	}
	os.Exit(m.Run())
}
