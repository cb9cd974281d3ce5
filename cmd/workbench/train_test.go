package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	workbench "github.com/mriworkbench/workbench"
	"github.com/mriworkbench/workbench/internal/job"
	"github.com/mriworkbench/workbench/nifti"
	"github.com/mriworkbench/workbench/store"
)

// TestMain lets the test binary stand in for the workbench binary: with WORKBENCH_TEST_MAIN=1 it runs the
// command line it was given, so tests can run `workbench serve` as a real process (and kill it) without a
// separate go build; with job.WorkerEnv set it is the training worker that serve and train start.
func TestMain(m *testing.M) {
	if os.Getenv(job.WorkerEnv) == "1" {
		os.Exit(job.WorkerMain())
	}
	if os.Getenv("WORKBENCH_TEST_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// importT2s imports the small t2s volume (49x54, 9 slices) with its cord and GM masks as wm,gm, labelling the
// even slices.
func importT2s(t *testing.T, data string) string {
	t.Helper()
	image := sharedData(t, "sct_testing_data", "t2s", "t2s.nii.gz")
	cord := sharedData(t, "sct_testing_data", "t2s", "t2s_seg.nii.gz")
	gm := sharedData(t, "sct_testing_data", "t2s", "t2s_gmseg_manual.nii.gz")
	mustRun(t, "import", "--data", data, "--project", "t2s", "--classes", "wm,gm", image,
		"--mask", "wm="+cord, "--mask", "gm="+gm, "--slices", "0,2,4,6,8")
	return image
}

// quick keeps test runs to a few fast steps on small crops.
const quick = `{"crop_w":32,"crop_h":32,"batch_size":2}`

// quickCV is quick with the k-fold evaluation that few labelled slices can opt into.
const quickCV = `{"crop_w":32,"crop_h":32,"batch_size":2,"cross_validate":30}`

// The CLI loop on real data: import, train with a time budget, predict, export, and segment a NIfTI file with
// the saved model; every output is a NIfTI file in the source's grid.
func TestTrainPredictExportSegment(t *testing.T) {
	data, out, seg := t.TempDir(), t.TempDir(), t.TempDir()
	image := importT2s(t, data)

	stdout := mustRun(t, "train", "--data", data, "--project", "t2s", "--time", "4s", "--settings", quickCV)
	for _, want := range []string{"run 1: smallunet, default preset, 4s budget, crop 32x32", "from scratch", "epoch 1 ",
		"model 1: predicted 4 unlabelled slices", "run 1 done", "model 1 is active", "3-fold over 5 slices; the model trained on all 5", "gm "} {
		if !strings.Contains(stdout, want) {
			t.Fatalf("train output lacks %q:\n%s", want, stdout)
		}
	}
	// A second run warm-starts from the first model; promoted by hand (a one-epoch model may well compare
	// worse), and without the evaluation, which it says.
	stdout = mustRun(t, "train", "--data", data, "--project", "t2s", "--epochs", "1", "--settings", quick, "--promote", "--no-evaluation")
	for _, want := range []string{"1 epochs, crop 32x32", "warm start from model 1", "model 2 is active",
		"not evaluated (--no-evaluation); the model trained on all 5 labelled slices"} {
		if !strings.Contains(stdout, want) || strings.Contains(stdout, "validation loss") || strings.Contains(stdout, "evaluating it") {
			t.Fatalf("second train output lacks %q (or has a validation or an evaluation):\n%s", want, stdout)
		}
	}

	areas := filepath.Join(out, "areas.csv")
	stdout = mustRun(t, "predict", "--data", data, "--project", "t2s", "--areas", areas)
	if !strings.Contains(stdout, "model 2 predicted 4 unlabelled slices") {
		t.Fatalf("predict output %q", stdout)
	}
	table, err := os.ReadFile(areas)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(table)), "\n")
	if len(lines) != 10 || lines[0] != "volume,slice,position_mm,status,wm_area_mm2,gm_area_mm2" ||
		!strings.HasPrefix(lines[1], "t2s,0,0.000,labelled,") || !strings.HasPrefix(lines[2], "t2s,1,7.500,predicted,") {
		t.Fatalf("areas table:\n%s", table)
	}

	mustRun(t, "export", "--data", data, "--project", "t2s", "--out", out)
	src, err := nifti.Read(image)
	if err != nil {
		t.Fatal(err)
	}
	readLike(t, filepath.Join(out, "t2s", "t2s_seg.nii.gz"), src) // exports go to a directory per volume

	stdout = mustRun(t, "segment", "--model", onlyMatch(t, filepath.Join(data, "models", "2-*.model")), "--input", image, "--output", seg)
	if !strings.Contains(stdout, "segmented 9 slices of t2s.nii.gz") {
		t.Fatalf("segment output %q", stdout)
	}
	classMap := readLike(t, filepath.Join(seg, "t2s_seg.nii.gz"), src)
	gm := readLike(t, filepath.Join(seg, "t2s_gm_seg.nii.gz"), src)
	for i, c := range classMap {
		if (c == 2) != (gm[i] == 1) {
			t.Fatalf("voxel %d: class %d but gm mask %d", i, c, gm[i])
		}
	}
	readLike(t, filepath.Join(seg, "t2s_wm_seg.nii.gz"), src)
	if table, err := os.ReadFile(filepath.Join(seg, "t2s_areas.csv")); err != nil || strings.Count(string(table), "\n") != 10 {
		t.Fatalf("segment areas: %q, %v", table, err)
	}
}

// readLike reads a written mask, failing unless it has the source's shape and affine and holds uint8 labels.
func readLike(t *testing.T, path string, src *nifti.Image) []uint8 {
	t.Helper()
	img, err := nifti.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if img.Shape() != src.Shape() || img.Affine() != src.Affine() || img.Header.Datatype != 2 {
		t.Fatalf("%s: shape %v affine %v datatype %d; source %v %v", filepath.Base(path), img.Shape(), img.Affine(),
			img.Header.Datatype, src.Shape(), src.Affine())
	}
	out := make([]uint8, len(img.Data))
	for i, v := range img.Data {
		out[i] = uint8(v)
	}
	return out
}

// Bad calls end with a non-zero exit and one line saying why.
func TestTrainPredictSegmentRefusals(t *testing.T) {
	data := t.TempDir()
	notModel := filepath.Join(t.TempDir(), "notes.model")
	writeFile(t, notModel, []byte("not a model"))
	mustRun(t, "import", "--data", data, "--project", "empty", "--classes", "gm",
		sharedData(t, "sct_testing_data", "t2s", "t2s.nii.gz"))
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"train", "--data", data}, "--project"},
		{[]string{"train", "--data", data, "--project", "nope"}, "nope"},
		{[]string{"train", "--data", data, "--project", "empty", "--epochs", "0"}, "--epochs"},
		{[]string{"train", "--data", data, "--project", "empty", "--time", "-1s"}, "--time"},
		{[]string{"train", "--data", data, "--project", "empty", "--preset", "fastest"}, "preset"},
		{[]string{"train", "--data", data, "--project", "empty", "--arch", "resnet"}, "architecture"},
		{[]string{"train", "--data", data, "--project", "empty", "--settings", "[1]"}, "JSON object"},
		{[]string{"train", "--data", data, "--project", "empty", "--epochs", "1"}, "no labelled slices"},
		{[]string{"train", "--data", data, "--project", "empty", "--memory", "64MiB"}, "over the training budget of 64 MiB"},
		{[]string{"train", "--data", data, "--project", "empty", "--memory", "8 parsecs"}, "flag -memory"},
		{[]string{"predict", "--data", data, "--project", "empty"}, "no trained model"},
		{[]string{"segment", "--model", notModel}, "required"},
		{[]string{"segment", "--model", notModel, "--input", "x.nii", "--output", t.TempDir()}, "not a workbench model"},
	} {
		r := invoke(t, c.args...)
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		if r.code == 0 || len(lines) != 1 || !strings.Contains(r.stderr, c.want) {
			t.Fatalf("%v: exit %d stderr %q, want one line mentioning %q", c.args, r.code, r.stderr, c.want)
		}
	}
	for _, cmd := range []string{"train", "predict", "segment"} {
		if r := invoke(t, cmd, "--help"); r.code != 0 || !strings.Contains(r.stderr, "usage: workbench "+cmd) {
			t.Fatalf("%s --help: exit %d, stderr %q", cmd, r.code, r.stderr)
		}
	}
}

// server is a `workbench serve` process started from the test binary.
type serveProcess struct {
	cmd    *exec.Cmd
	addr   string
	stderr *bytes.Buffer
}

func startServe(t *testing.T, data string) *serveProcess {
	t.Helper()
	return startServeAt(t, data, "127.0.0.1:0")
}

func startServeAt(t *testing.T, data, addr string, extra ...string) *serveProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"serve", "--data", data, "--addr", addr}, extra...)...)
	cmd.Env = append(os.Environ(), "WORKBENCH_TEST_MAIN=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	m := regexp.MustCompile(`https?://(\S+)`).FindStringSubmatch(line)
	if err != nil || m == nil {
		t.Fatalf("serve did not start: %q %v; stderr %s", line, err, stderr.String())
	}
	go io.Copy(io.Discard, stdout)
	return &serveProcess{cmd: cmd, addr: m[1], stderr: &stderr}
}

func (s *serveProcess) getJSON(t *testing.T, path string, dst any) {
	t.Helper()
	resp, err := http.Get("http://" + s.addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(dst); err != nil {
		t.Fatal(err)
	}
}

// Killing the server (SIGKILL) in the middle of training: on restart the run is interrupted, the previous
// model is still the active one, no partial model file remains and SQLite's integrity check passes.
func TestServeKilledDuringTraining(t *testing.T) {
	data := t.TempDir()
	importT2s(t, data)
	mustRun(t, "train", "--data", data, "--project", "t2s", "--epochs", "1", "--settings", quick)

	srv := startServe(t, data)
	body := `{"settings":{"epochs":0,"budget_seconds":300,"crop_w":32,"crop_h":32,"batch_size":2}}`
	resp, err := http.Post("http://"+srv.addr+"/api/projects/1/train", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var run store.Run
	json.NewDecoder(resp.Body).Decode(&run)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("train: %s", resp.Status)
	}
	// Wait until progress is stored: training is under way.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var detail struct {
			store.Run
			Events []store.RunEvent `json:"events"`
		}
		srv.getJSON(t, fmt.Sprintf("/api/runs/%d", run.ID), &detail)
		if detail.Status == store.RunRunning && len(detail.Events) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run did not get going: %+v", detail.Run)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The CLI sees the server's run and refuses to start a second one.
	r := invoke(t, "train", "--data", data, "--project", "t2s", "--epochs", "1")
	if r.code == 0 || !strings.Contains(r.stderr, fmt.Sprintf("already training: run %d is running", run.ID)) {
		t.Fatalf("train while the server trains: exit %d, stderr %q", r.code, r.stderr)
	}
	srv.cmd.Process.Signal(syscall.SIGKILL)
	srv.cmd.Wait()

	srv = startServe(t, data)
	var after store.Run
	srv.getJSON(t, fmt.Sprintf("/api/runs/%d", run.ID), &after)
	if after.Status != store.RunInterrupted || after.ModelID != nil {
		t.Fatalf("run after restart: %+v", after)
	}
	var models []store.ModelVersion
	srv.getJSON(t, "/api/projects/1/models", &models)
	if len(models) != 1 || !models[0].Active || models[0].ID != 1 {
		t.Fatalf("models after restart: %+v", models)
	}
	srv.cmd.Process.Signal(syscall.SIGTERM)
	if err := srv.cmd.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v; stderr %s", err, srv.stderr)
	}
	if !strings.Contains(srv.stderr.String(), "1 training run(s) were interrupted") {
		t.Fatalf("restart did not report the interrupted run: %q", srv.stderr)
	}
	entries, err := os.ReadDir(filepath.Join(data, "models"))
	if err != nil || len(entries) != 1 || !regexp.MustCompile(`^1-[0-9a-f]{16}\.model$`).MatchString(entries[0].Name()) {
		t.Fatalf("models directory: %v %v", entries, err)
	}
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

// startTrain runs `workbench train` as its own process until the test ends, and waits for its run to start.
func startTrain(t *testing.T, data string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "train", "--data", data, "--project", "t2s", "--time", "300s", "--settings", quick)
	cmd.Env = append(os.Environ(), "WORKBENCH_TEST_MAIN=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "run 1: ") {
		t.Fatalf("train did not start: %q %v; stderr %s", line, err, stderr.String())
	}
	go io.Copy(io.Discard, stdout)
	return cmd
}

// post sends a JSON POST to the server and returns the status and body.
func (s *serveProcess) post(t *testing.T, path, body string) (int, string) {
	t.Helper()
	resp, err := http.Post("http://"+s.addr+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A server and CLI trains share a data directory: a server started while a CLI train runs leaves that run
// alone and refuses a second one; once the CLI train is killed (SIGKILL) the server takes the project at once;
// a graceful server stop marks its own run interrupted, so the next CLI train starts right away.
func TestTrainProcessesShareADataDirectory(t *testing.T) {
	data := t.TempDir()
	importT2s(t, data)
	cli := startTrain(t, data)

	srv := startServe(t, data)
	var run store.Run
	srv.getJSON(t, "/api/runs/1", &run)
	if run.Status != store.RunRunning || run.Owner == nil || run.Owner.PID != cli.Process.Pid {
		t.Fatalf("the CLI's run after serve started: %+v", run)
	}
	body := `{"settings":{"epochs":0,"budget_seconds":300,"crop_w":32,"crop_h":32,"batch_size":2}}`
	if code, msg := srv.post(t, "/api/projects/1/train", body); code != http.StatusConflict || !strings.Contains(msg, "run 1 is running") {
		t.Fatalf("train beside the CLI's run: %d %s", code, msg)
	}

	cli.Process.Signal(syscall.SIGKILL)
	cli.Wait()
	if code, msg := srv.post(t, "/api/projects/1/train", body); code != http.StatusAccepted {
		t.Fatalf("train after the CLI was killed: %d %s", code, msg)
	}
	srv.getJSON(t, "/api/runs/1", &run)
	if run.Status != store.RunInterrupted || !strings.Contains(run.Error, "stopped") {
		t.Fatalf("the killed CLI's run: %+v", run)
	}

	srv.cmd.Process.Signal(syscall.SIGTERM)
	if err := srv.cmd.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v; stderr %s", err, srv.stderr)
	}
	stdout := mustRun(t, "train", "--data", data, "--project", "t2s", "--epochs", "1", "--settings", quick)
	if !strings.Contains(stdout, "run 3 done") {
		t.Fatalf("train after the server stopped:\n%s", stdout)
	}
	st, err := store.Open(data, workbench.Migrations())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r2, err := st.Run(context.Background(), 2)
	if err != nil || r2.Status != store.RunInterrupted || !strings.Contains(r2.Error, "workbench stopped") {
		t.Fatalf("the server's run after a graceful stop: %+v, %v", r2, err)
	}
}

// train --init-model: a model of other classes is refused in one line with nothing stored; another project's
// model file is fine-tuned and the run says so; --promote makes a run's model active whatever it compares.
func TestTrainFromAModelFile(t *testing.T) {
	data := t.TempDir()
	importT2s(t, data)
	mustRun(t, "train", "--data", data, "--project", "t2s", "--epochs", "1", "--settings", quick)
	model, err := filepath.Glob(filepath.Join(data, "models", "1-*.model"))
	if err != nil || len(model) != 1 {
		t.Fatalf("model file %v (%v)", model, err)
	}
	mustRun(t, "import", "--data", data, "--project", "cord", "--classes", "cord",
		sharedData(t, "sct_testing_data", "t2s", "t2s.nii.gz"), "--mask", "cord="+sharedData(t, "sct_testing_data", "t2s", "t2s_seg.nii.gz"),
		"--slices", "0,4,8")
	r := invoke(t, "train", "--data", data, "--project", "cord", "--epochs", "1", "--settings", quick, "--init-model", model[0])
	if r.code == 0 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.Contains(r.stderr, "the initial model has 2 classes (wm, gm), the project 1 (cord)") {
		t.Fatalf("init model of other classes: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := invoke(t, "train", "--data", data, "--project", "cord", "--from-scratch", "--init-model", model[0]); r.code == 0 || !strings.Contains(r.stderr, "exclude each other") {
		t.Fatalf("--from-scratch with --init-model: exit %d, stderr %q", r.code, r.stderr)
	}
	mustRun(t, "import", "--data", data, "--project", "again", "--classes", "wm,gm",
		sharedData(t, "sct_testing_data", "t2s", "t2s.nii.gz"), "--mask", "wm="+sharedData(t, "sct_testing_data", "t2s", "t2s_seg.nii.gz"),
		"--mask", "gm="+sharedData(t, "sct_testing_data", "t2s", "t2s_gmseg_manual.nii.gz"), "--slices", "1,3,5")
	out := mustRun(t, "train", "--data", data, "--project", "again", "--epochs", "1", "--settings", quick, "--init-model", model[0], "--promote")
	if !strings.Contains(out, "fine-tuning "+filepath.Base(model[0])+" (sha256 ") || !strings.Contains(out, "promoted") || !strings.Contains(out, "is active") {
		t.Fatalf("train --init-model --promote:\n%s", out)
	}
	st, err := store.Open(data, workbench.Migrations())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	runs, err := st.Runs(t.Context(), 3)
	if err != nil || len(runs) != 1 || !strings.Contains(string(runs[0].Settings), `"initModel":{"name":"`+filepath.Base(model[0])) ||
		!strings.Contains(string(runs[0].Settings), `"promote":true`) {
		t.Fatalf("runs of project again: %+v (%v)", runs, err)
	}
}
