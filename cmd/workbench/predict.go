package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"syscall"
	"time"

	"github.com/mriworkbench/workbench/internal/export"
	"github.com/mriworkbench/workbench/internal/job"
)

const predictUsage = "predict --project P [--areas FILE.csv] [--data DIR]"

func runPredict(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("predict", predictUsage, stderr)
	dataDir := dataFlag(fs)
	projectName := fs.String("project", "", "project name")
	areasPath := fs.String("areas", "", "also write the per-slice, per-class cross-sectional areas (mm^2) to this CSV file")
	if err := fs.parse(args); err != nil {
		return err
	}
	if *projectName == "" {
		return usageError{errNoProject.Error()}
	}
	if err := fs.noArguments(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	st, p, err := openProject(ctx, *dataDir, *projectName)
	if err != nil {
		return err
	}
	defer st.Close()
	start := time.Now()
	active, n, err := job.PredictActive(ctx, st, p.ID)
	if errors.Is(err, job.ErrNoModel) {
		return fmt.Errorf("project %q has no trained model yet (run workbench train first)", p.Name)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "model %d predicted %d unlabelled slices of project %q in %.2f s\n", active.ID, n, p.Name, time.Since(start).Seconds())
	if *areasPath != "" {
		a, err := export.ProjectAreas(ctx, st, p.ID)
		if err != nil {
			return err
		}
		if err := a.WriteCSVFile(*areasPath); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "areas: %s\n", *areasPath)
	}
	return nil
}
