package job

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mriworkbench/workbench/store"
)

// workerWithEnv runs the test binary as the worker with more environment.
func workerWithEnv(env ...string) WorkerCommand {
	return func() *exec.Cmd {
		cmd := selfWorker()
		cmd.Env = append(os.Environ(), env...)
		return cmd
	}
}

// workerPIDs lists the live worker processes this test process started.
func workerPIDs(t *testing.T) []int {
	t.Helper()
	dirs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, dir := range dirs {
		stat, err := os.ReadFile(dir + "/stat")
		if err != nil {
			continue
		}
		// Fields after the parenthesised command name: state, ppid, ...
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) < 2 || fields[0] == "Z" || fields[1] != strconv.Itoa(os.Getpid()) {
			continue
		}
		if cmdline, _ := os.ReadFile(dir + "/cmdline"); bytes.HasSuffix(cmdline, []byte("\x00worker\x00")) {
			pid, _ := strconv.Atoi(filepath.Base(dir))
			pids = append(pids, pid)
		}
	}
	return pids
}

// waitRunEnd polls the store until the run is no longer queued or running.
func waitRunEnd(t *testing.T, st *store.Store, runID int64) store.Run {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		r, err := st.Run(context.Background(), runID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != store.RunQueued && r.Status != store.RunRunning {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %d still %s after 60 s", runID, r.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// assertNoModel fails unless the project has no model and no running run, and no worker is left.
func assertNoModel(t *testing.T, st *store.Store, projectID int64) {
	t.Helper()
	if models, err := st.Models(context.Background(), projectID); err != nil || len(models) != 0 {
		t.Fatalf("models after a failed run: %+v, %v", models, err)
	}
	if _, err := st.ActiveRun(context.Background(), projectID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the project still has an active run: %v", err)
	}
	if pids := workerPIDs(t); len(pids) != 0 {
		t.Fatalf("workers left running: %v", pids)
	}
}

// A worker that panics mid-training fails its run with the panic's message; the trainer's process goes on,
// and the project trains again.
func TestWorkerPanicFailsTheRun(t *testing.T) {
	st := openStore(t)
	p, _ := t2sProject(t, st, "panic", 0, 4)
	tr, _ := newTrainerWith(t, st, WorkerConfig{Command: workerWithEnv(testWorkerFaultEnv + "=panic")})
	out, err := tr.Train(context.Background(), p.ID, fast)
	if err == nil || !strings.Contains(err.Error(), "injected worker fault") {
		t.Fatalf("Train: %v", err)
	}
	if out.Run.Status != store.RunFailed || out.Run.Error != "the training process crashed: panic: injected worker fault" {
		t.Fatalf("run %+v", out.Run)
	}
	assertNoModel(t, st, p.ID)
	healthy, _ := newTrainer(t, st)
	if out, err := healthy.Train(context.Background(), p.ID, fast); err != nil || out.Run.Status != store.RunDone {
		t.Fatalf("next run: %+v, %v", out.Run, err)
	}
}

// A worker killed by SIGKILL, as the kernel's out-of-memory killer does, fails its run with that reason.
func TestKilledWorkerFailsTheRun(t *testing.T) {
	st := openStore(t)
	p, _ := t2sProject(t, st, "killed", 0, 4, 8)
	tr, events := newTrainer(t, st)
	run := startTraining(t, tr, events, p.ID)
	pids := workerPIDs(t)
	if len(pids) != 1 {
		t.Fatalf("worker processes %v, want one", pids)
	}
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	r := waitRunEnd(t, st, run.ID)
	if r.Status != store.RunFailed || !strings.Contains(r.Error, "ran out of memory (killed by the kernel") {
		t.Fatalf("run after its worker was killed: %+v", r)
	}
	assertNoModel(t, st, p.ID)
}

// A worker over its own memory limit (set far below what the run needs, as a wrong estimate would leave it)
// fails the run with "out of memory" instead of taking the machine's memory.
func TestWorkerMemoryLimitFailsTheRun(t *testing.T) {
	st := openStore(t)
	p, _ := t2sProject(t, st, "oom", 0, 4, 8)
	tr, _ := newTrainerWith(t, st, WorkerConfig{MemoryLimit: 64 << 20})
	// About 1.8 GiB at its peak (BenchmarkWorkerPeakMemory), far over 64 MiB plus the address-space slack.
	big := Request{Settings: []byte(`{"epochs":1,"budget_seconds":0,"crop_w":256,"crop_h":256,"batch_size":8}`)}
	out, err := tr.Train(context.Background(), p.ID, big)
	if err == nil || out.Run.Status != store.RunFailed || !strings.Contains(out.Run.Error, "the training process ran out of memory (its limit is 64 MiB)") {
		t.Fatalf("run over the worker's limit: %+v, %v", out.Run, err)
	}
	assertNoModel(t, st, p.ID)
}

// Cancel stops the worker after its current step: the run is cancelled, no model is stored, and no worker is
// left.
func TestCancelStopsTheWorker(t *testing.T) {
	st := openStore(t)
	p, _ := t2sProject(t, st, "cancel", 0, 4, 8)
	tr, events := newTrainer(t, st)
	run := startTraining(t, tr, events, p.ID)
	r, err := tr.Cancel(context.Background(), run.ID)
	if err != nil || r.Status != store.RunCancelled || r.Error != "cancelled on request" {
		t.Fatalf("cancelled run %+v, %v", r, err)
	}
	assertNoModel(t, st, p.ID)
}

// A run whose estimated memory exceeds the budget is refused before it is created, with a message that names
// the setting to lower; the settings report the budget and the estimate.
func TestMemoryBudgetRefusesARun(t *testing.T) {
	st := openStore(t)
	p, _ := t2sProject(t, st, "budget", 0, 4, 8)
	tr, _ := newTrainerWith(t, st, WorkerConfig{MemoryBudget: 2 << 30})
	for _, c := range []struct{ settings, want string }{
		{`{"batch_size":20000,"crop_w":1024,"crop_h":1024}`, "lower batch_size, and crop_w and crop_h (not even 8x8 crops fit"},
		{`{"batch_size":400,"crop_w":1024,"crop_h":1024}`, "lower crop_w and crop_h (to about 32x32 at this batch_size)"},
		{`{"batch_size":64,"crop_w":256,"crop_h":256}`, "lower batch_size to "},
		{`{"arch":"unet","batch_size":8,"crop_w":32,"crop_h":32,"width":256}`, "even one crop does not fit; lower width"},
	} {
		_, err := tr.Start(context.Background(), p.ID, Request{Settings: []byte(c.settings)})
		var ve *store.ValidationError
		if !errors.As(err, &ve) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "over the training budget of 2.0 GiB") {
			t.Fatalf("%s: %v, want a validation error saying %q", c.settings, err, c.want)
		}
		// The batch it names fits the budget, one more does not.
		if m := regexp.MustCompile(`batch_size to (\d+) or less`).FindStringSubmatch(err.Error()); m != nil {
			n, _ := strconv.Atoi(m[1])
			for batch, fits := range map[int]bool{n: true, n + 1: false} {
				rs, _ := ResolveSettings(p, Request{Settings: fmt.Appendf(nil, `{"batch_size":%d,"crop_w":256,"crop_h":256}`, batch)})
				if est, err := tr.estimateMemory(context.Background(), rs.Train, p.ID); err != nil || (est.Bytes <= est.Budget) != fits {
					t.Fatalf("batch %d: estimate %d against budget %d (%v), fits %v", batch, est.Bytes, est.Budget, err, !fits)
				}
			}
		}
	}
	if runs, err := st.Runs(context.Background(), p.ID); err != nil || len(runs) != 0 {
		t.Fatalf("refused runs were created: %+v, %v", runs, err)
	}
	s, err := tr.Settings(context.Background(), p.ID)
	if err != nil || s.Memory == nil || s.Memory.Budget != 2<<30 || s.Memory.Bytes <= 0 || s.Memory.Bytes > s.Memory.Budget {
		t.Fatalf("settings memory %+v, %v", s.Memory, err)
	}
	d := s.Settings.Train
	if want := s.Memory.Fixed[d.Arch] + int64(s.Memory.PerCropPixel[d.Arch]*float64(d.BatchSize*d.CropW*d.CropH)); want != s.Memory.Bytes {
		t.Fatalf("estimate %d, its model gives %d", s.Memory.Bytes, want)
	}
}

// A worker refuses a job in another protocol version, saying which versions meet.
func TestWorkerRefusesAnotherProtocolVersion(t *testing.T) {
	var in, out bytes.Buffer
	if err := newMessageWriter(&in).send(Message{Job: &WorkerJob{Version: ProtocolVersion + 1}}); err != nil {
		t.Fatal(err)
	}
	if code := RunWorker(context.Background(), &in, &out); code != exitProtocol {
		t.Fatalf("exit status %d, want %d", code, exitProtocol)
	}
	r := newMessageReader(&out)
	m, err := r.next()
	if err != nil || m.Finished == nil || m.Finished.Status != WorkerFailed || !strings.Contains(m.Finished.Error, fmt.Sprintf("protocol version %d, this worker speaks version %d", ProtocolVersion+1, ProtocolVersion)) {
		t.Fatalf("answer %+v, %v", m.Finished, err)
	}
	if m, err := r.next(); !errors.Is(err, io.EOF) {
		t.Fatalf("after Finished: %s, %v", m.kind(), err)
	}
}
