package main

import (
	"fmt"
	"io"
	"os"

	"github.com/mriworkbench/workbench/internal/job"
)

// runWorker is the training process that `serve` and `train` start for each run (internal, not for users): it
// reads one job on stdin and answers on stdout in the protocol of internal/job (README.md, "Training worker").
// Its exit status is the run's outcome, so it ends the process itself.
func runWorker(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("worker", "worker  (internal: the training process of serve and train; speaks the job protocol on stdin/stdout)", stderr)
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := fs.noArguments(); err != nil {
		return err
	}
	if info, err := os.Stdout.Stat(); err == nil && info.Mode()&os.ModeCharDevice != 0 {
		return usageError{"worker is the training process that serve and train start; it speaks a binary protocol, not to a terminal"}
	}
	os.Exit(job.WorkerMain())
	return nil
}

// trainingWorker is how serve and train start a run's worker: this binary's worker command.
func trainingWorker() (job.WorkerCommand, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this program to start its training process: %w", err)
	}
	return job.ExecutableWorker(exe), nil
}
