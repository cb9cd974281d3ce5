package main

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	workbench "github.com/mriworkbench/workbench"
	"github.com/mriworkbench/workbench/store"
)

// kill -9 during model activation: a `workbench train` process paused inside the transaction that stores its
// model, predictions and activation (the file already renamed into place, the commit not yet made) is killed.
// On reopening, the previous model is still active with all of its predictions, the new model left no row, no
// file and no temporary file, and the database is intact; the next run stores the whole new state.
func TestKilledDuringActivationKeepsThePreviousModel(t *testing.T) {
	data := t.TempDir()
	importT2s(t, data)
	mustRun(t, "train", "--data", data, "--project", "t2s", "--epochs", "1", "--settings", quick)
	before := modelState(t, data)
	if len(before.models) != 1 || before.active != before.models[0] || before.predictions != 4 {
		t.Fatalf("after the first run: %+v", before)
	}

	paused := filepath.Join(t.TempDir(), "paused")
	cmd := exec.Command(os.Args[0], "train", "--data", data, "--project", "t2s", "--epochs", "1", "--settings", quick)
	cmd.Env = append(os.Environ(), "WORKBENCH_TEST_MAIN=1", "WORKBENCH_TEST_PAUSE_BEFORE_MODEL_COMMIT="+paused)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(paused); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("train never reached the model's commit; stderr %s", stderr.String())
		}
	}
	renamed, _ := filepath.Glob(filepath.Join(data, "models", "[0-9]*.model"))
	markers, _ := filepath.Glob(filepath.Join(data, "models", ".pending-*"))
	if len(renamed) != 2 || len(markers) != 1 {
		t.Fatalf("while paused before the commit, models/ holds %v and %v: want the old file, the renamed new one and its marker",
			renamed, markers)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	after := modelState(t, data)
	if after.active != before.active || after.predictions != before.predictions || len(after.models) != 1 {
		t.Fatalf("after kill -9 during activation: %+v, want %+v", after, before)
	}
	entries, err := os.ReadDir(filepath.Join(data, "models"))
	if err != nil || len(entries) != 1 || entries[0].Name() != before.file {
		t.Fatalf("models/ after reopening: %v %v, want only %s", entries, err, before.file)
	}
	for _, dir := range []string{data, filepath.Join(data, "volumes")} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".partial-") || strings.HasPrefix(e.Name(), ".pending-") {
				t.Fatalf("temporary file left: %s", filepath.Join(dir, e.Name()))
			}
		}
	}
	checkDatabase(t, data)

	// The killed run is taken for interrupted; the next run delivers the whole new state.
	stdout := mustRun(t, "train", "--data", data, "--project", "t2s", "--epochs", "1", "--settings", quick)
	if !strings.Contains(stdout, "model 2 is active") {
		t.Fatalf("train after the kill:\n%s", stdout)
	}
	if next := modelState(t, data); len(next.models) != 2 || next.active == before.active || next.predictions != 4 {
		t.Fatalf("after the next run: %+v", next)
	}
}

// storedModels is what a data directory's store says of project t2s's models.
type storedModels struct {
	models      []int64
	active      int64
	file        string // the active model's file name
	predictions int    // of the active model, in the review queue
}

func modelState(t *testing.T, data string) storedModels {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(data, workbench.Migrations())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p, err := st.ProjectByName(ctx, "t2s")
	if err != nil {
		t.Fatal(err)
	}
	var out storedModels
	models, err := st.Models(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range models {
		out.models = append(out.models, m.ID)
	}
	active, err := st.ActiveModel(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	out.active, out.file = active.ID, filepath.Base(active.File)
	queue, err := st.ReviewQueue(ctx, p.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	out.predictions = len(queue)
	return out
}

// checkDatabase runs SQLite's integrity check on a data directory's database.
func checkDatabase(t *testing.T, data string) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(data, "workbench.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var check string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check: %q %v", check, err)
	}
}
