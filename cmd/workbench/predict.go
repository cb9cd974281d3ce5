package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mriworkbench/workbench/ml/train"
	"github.com/mriworkbench/workbench/server"
	"github.com/mriworkbench/workbench/store"
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
	active, err := st.ActiveModel(ctx, p.ID)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("project %q has no trained model yet (run workbench train first)", p.Name)
	}
	if err != nil {
		return err
	}
	m, err := train.Load(st.ModelPath(active))
	if err != nil {
		return err
	}
	start := time.Now()
	trainer := server.NewTrainer(server.TrainerConfig{Store: st})
	defer trainer.Close()
	n, err := trainer.PredictProject(ctx, p.ID, m, active.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "model %d predicted %d unlabelled slices of project %q in %.2f s\n", active.ID, n, p.Name, time.Since(start).Seconds())
	if *areasPath != "" {
		if err := writeProjectAreas(ctx, st, p.ID, *areasPath); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "areas: %s\n", *areasPath)
	}
	return nil
}

func writeProjectAreas(ctx context.Context, st *store.Store, projectID int64, path string) error {
	a, err := server.ProjectAreas(ctx, st, projectID)
	if err != nil {
		return err
	}
	return writeAreasFile(a, path)
}

func writeAreasFile(a server.Areas, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := a.WriteCSV(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
