package store

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestRunLifecycle(t *testing.T) {
	s := newStore(t)
	p := newProject(t, s, "p")
	if _, err := s.ActiveRun(ctx, p.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("ActiveRun with none: %v", err)
	}
	r, err := s.CreateRun(ctx, p.ID, json.RawMessage(`{"epochs":2}`))
	if err != nil || r.Status != RunQueued || r.StartedAt != nil || string(r.Settings) != `{"epochs":2}` {
		t.Fatalf("CreateRun %+v, %v", r, err)
	}
	if _, err := s.CreateRun(ctx, p.ID, nil); !errors.Is(err, ErrConflict) {
		t.Errorf("second run while one is queued: %v, want ErrConflict", err)
	}
	if _, err := s.FinishRun(ctx, r.ID, RunDone, "", nil); err != nil { // a queued run can be cancelled or ended
		t.Fatal(err)
	}
	r2, err := s.CreateRun(ctx, p.ID, nil)
	if err != nil {
		t.Fatalf("new run after the first finished: %v", err)
	}
	if active, err := s.ActiveRun(ctx, p.ID); err != nil || active.ID != r2.ID {
		t.Errorf("ActiveRun = %+v, %v", active, err)
	}
	started, err := s.StartRun(ctx, r2.ID)
	if err != nil || started.Status != RunRunning || started.StartedAt == nil {
		t.Fatalf("StartRun %+v, %v", started, err)
	}
	if _, err := s.StartRun(ctx, r2.ID); !errors.Is(err, ErrConflict) {
		t.Errorf("start a running run: %v", err)
	}
	if _, err := s.CreateRun(ctx, p.ID, nil); !errors.Is(err, ErrConflict) {
		t.Errorf("second run while one runs: %v", err)
	}
	m := createModel(t, s, p.ID, false)
	done, err := s.FinishRun(ctx, r2.ID, RunDone, "", &m.ID)
	if err != nil || done.Status != RunDone || done.FinishedAt == nil || done.ModelID == nil || *done.ModelID != m.ID {
		t.Fatalf("FinishRun %+v, %v", done, err)
	}
	if _, err := s.FinishRun(ctx, r2.ID, RunFailed, "again", nil); !errors.Is(err, ErrConflict) {
		t.Errorf("finish a finished run: %v", err)
	}
	r3, _ := s.CreateRun(ctx, p.ID, nil)
	if _, err := s.FinishRun(ctx, r3.ID, RunRunning, "", nil); !isValidation(err) {
		t.Errorf("finish with status running: %v", err)
	}
	failed, err := s.FinishRun(ctx, r3.ID, RunFailed, "out of memory", nil)
	if err != nil || failed.Error != "out of memory" {
		t.Errorf("failed run %+v, %v", failed, err)
	}

	runs, err := s.Runs(ctx, p.ID)
	if err != nil || len(runs) != 3 || runs[0].ID != r3.ID || runs[2].ID != r.ID {
		t.Errorf("Runs = %+v, %v (want newest first)", runs, err)
	}
	if _, err := s.Run(ctx, 999); !errors.Is(err, ErrNotFound) {
		t.Errorf("Run(999): %v", err)
	}
	if _, err := s.StartRun(ctx, 999); !errors.Is(err, ErrNotFound) {
		t.Errorf("StartRun(999): %v", err)
	}
	if _, err := s.Runs(ctx, 999); !errors.Is(err, ErrNotFound) {
		t.Errorf("Runs(999): %v", err)
	}
	if _, err := s.CreateRun(ctx, 999, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("CreateRun(999): %v", err)
	}
	if _, err := s.CreateRun(ctx, p.ID, json.RawMessage(`[`)); !isValidation(err) {
		t.Errorf("CreateRun with bad settings: %v", err)
	}
}

func TestFinishRunWithModelOfAnotherProject(t *testing.T) {
	s := newStore(t)
	p, q := newProject(t, s, "p"), newProject(t, s, "q")
	r, _ := s.CreateRun(ctx, p.ID, nil)
	m := createModel(t, s, q.ID, false)
	if _, err := s.FinishRun(ctx, r.ID, RunDone, "", &m.ID); !isValidation(err) {
		t.Errorf("model of another project: %v", err)
	}
	missing := int64(999)
	if _, err := s.FinishRun(ctx, r.ID, RunDone, "", &missing); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown model: %v", err)
	}
}

// startProcess starts a process that lives until the test ends.
func startProcess(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

// deadPID is the pid of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// setOwner makes a run look like another process's, with its last heartbeat at the given time.
func setOwner(t *testing.T, s *Store, runID int64, p Process, heartbeat time.Time) {
	t.Helper()
	if _, err := s.db.Exec(`UPDATE runs SET owner_pid = ?, owner_host = ?, owner_start = ?, heartbeat_at = ? WHERE id = ?`,
		p.PID, p.Host, p.Start, heartbeat.UnixMilli(), runID); err != nil {
		t.Fatal(err)
	}
}

func TestProcessAlive(t *testing.T) {
	me := CurrentProcess()
	if !me.Alive() || me.PID != os.Getpid() || me.Host == "" {
		t.Fatalf("this process %+v is not alive", me)
	}
	live := startProcess(t)
	other := Process{PID: live.Process.Pid, Host: me.Host, Start: processStart(live.Process.Pid)}
	if !other.Alive() {
		t.Errorf("live process %+v reads dead", other)
	}
	if me.Start != "" {
		// The same pid with another start time is a reused pid: the owner is gone.
		reused := other
		reused.Start += "0"
		if reused.Alive() {
			t.Errorf("a reused pid %+v reads alive", reused)
		}
	}
	if (Process{PID: deadPID(t), Host: me.Host}).Alive() {
		t.Error("an exited process reads alive")
	}
	// A killed child not yet reaped (a zombie) runs nothing.
	zombie := exec.Command("sleep", "600")
	if err := zombie.Start(); err != nil {
		t.Fatal(err)
	}
	defer zombie.Wait()
	zombie.Process.Signal(os.Kill)
	deadline := time.Now().Add(5 * time.Second)
	for (Process{PID: zombie.Process.Pid, Host: me.Host}).Alive() {
		if time.Now().After(deadline) {
			t.Fatal("a killed, unreaped process still reads alive")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !(Process{PID: deadPID(t), Host: "elsewhere.invalid"}).Alive() {
		t.Error("a process on another host reads dead: only its heartbeat can tell")
	}
}

// Only runs whose process is gone are marked interrupted: a dead owner, a stale heartbeat, or no owner at all
// (runs from before owners were kept). Runs of live processes, this one included, stay.
func TestMarkInterruptedRuns(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	host := CurrentProcess().Host
	live := startProcess(t)
	liveOwner := Process{PID: live.Process.Pid, Host: host, Start: processStart(live.Process.Pid)}
	now := time.Now()
	cases := []struct {
		name      string
		owner     *Process
		heartbeat time.Time
		start     bool
		marked    bool
	}{
		{"this process, running", nil, now, true, false},
		{"live process, running", &liveOwner, now, true, false},
		{"live process, queued", &liveOwner, now, false, false},
		{"dead process", &Process{PID: deadPID(t), Host: host}, now, true, true},
		{"live process, stale heartbeat", &liveOwner, now.Add(-time.Hour), true, true},
		{"other host, fresh heartbeat", &Process{PID: 1, Host: "elsewhere.invalid"}, now, true, false},
		{"other host, stale heartbeat", &Process{PID: 1, Host: "elsewhere.invalid"}, now.Add(-time.Hour), false, true},
		{"no owner", &Process{}, now, true, true},
	}
	runs := make([]Run, len(cases))
	want := 0
	for i, c := range cases {
		p := newProject(t, s, c.name)
		runs[i], _ = s.CreateRun(ctx, p.ID, nil)
		if c.start {
			if _, err := s.StartRun(ctx, runs[i].ID); err != nil {
				t.Fatal(err)
			}
		}
		switch {
		case c.owner == nil:
		case c.owner.PID == 0:
			if _, err := s.db.Exec(`UPDATE runs SET owner_pid = NULL, owner_host = NULL, owner_start = NULL,
				heartbeat_at = NULL WHERE id = ?`, runs[i].ID); err != nil {
				t.Fatal(err)
			}
		default:
			setOwner(t, s, runs[i].ID, *c.owner, c.heartbeat)
		}
		if c.marked {
			want++
		}
	}
	finished, _ := s.CreateRun(ctx, newProject(t, s, "finished").ID, nil)
	s.FinishRun(ctx, finished.ID, RunCancelled, "", nil)

	n, err := s.MarkInterruptedRuns(ctx)
	if err != nil || n != want {
		t.Fatalf("MarkInterruptedRuns = %d, %v; want %d", n, err, want)
	}
	for i, c := range cases {
		r, _ := s.Run(ctx, runs[i].ID)
		if got := r.Status == RunInterrupted; got != c.marked || (got && (r.FinishedAt == nil || r.Error == "")) {
			t.Errorf("%s: run after MarkInterruptedRuns: %+v", c.name, r)
		}
	}
	if r, _ := s.Run(ctx, finished.ID); r.Status != RunCancelled {
		t.Errorf("finished run changed: %+v", r)
	}
	// A project whose run was interrupted can run again; its live runs still block.
	if _, err := s.CreateRun(ctx, runs[3].ProjectID, nil); err != nil {
		t.Errorf("a new run after the interruption: %v", err)
	}
	if _, err := s.CreateRun(ctx, runs[1].ProjectID, nil); !errors.Is(err, ErrConflict) {
		t.Errorf("a second run beside a live process's: %v", err)
	}
	if n, _ := s.MarkInterruptedRuns(ctx); n != 0 {
		t.Errorf("second call marked %d, want none", n)
	}
	checkIntegrity(t, s)
}

// A heartbeat (or a progress event) keeps a run alive; a run without one goes stale. The limits leave
// hundreds of milliseconds of slack, so a loaded machine does not make the test flaky.
func TestRunHeartbeat(t *testing.T) {
	s := newStore(t)
	s.SetRunStaleAfter(400 * time.Millisecond)
	silent, _ := s.CreateRun(ctx, newProject(t, s, "silent").ID, nil)
	s.StartRun(ctx, silent.ID)
	time.Sleep(600 * time.Millisecond)

	beating, _ := s.CreateRun(ctx, newProject(t, s, "beating").ID, nil)
	started, _ := s.StartRun(ctx, beating.ID)
	time.Sleep(5 * time.Millisecond)
	if err := s.HeartbeatRun(ctx, beating.ID); err != nil {
		t.Fatal(err)
	}
	beat, _ := s.Run(ctx, beating.ID)
	if beat.HeartbeatAt == nil || !beat.HeartbeatAt.After(*started.HeartbeatAt) {
		t.Fatalf("heartbeat not recorded: %v after %v", beat.HeartbeatAt, started.HeartbeatAt)
	}
	// Progress events count as a heartbeat too.
	time.Sleep(5 * time.Millisecond)
	if _, err := s.AppendRunEvents(ctx, beating.ID, []RunEvent{{Kind: "iteration"}}); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Run(ctx, beating.ID); !r.HeartbeatAt.After(*beat.HeartbeatAt) {
		t.Fatalf("a progress event did not count as a heartbeat: %v", r.HeartbeatAt)
	}
	if n, err := s.MarkInterruptedRuns(ctx); err != nil || n != 1 {
		t.Fatalf("MarkInterruptedRuns = %d, %v; want the silent run only", n, err)
	}
	if r, _ := s.Run(ctx, silent.ID); r.Status != RunInterrupted || !strings.Contains(r.Error, "no sign of life") {
		t.Fatalf("silent run %+v", r)
	}
	if r, _ := s.Run(ctx, beating.ID); r.Status != RunRunning {
		t.Fatalf("beating run %+v", r)
	}
	if err := s.HeartbeatRun(ctx, silent.ID); !errors.Is(err, ErrConflict) {
		t.Errorf("heartbeat of an interrupted run: %v", err)
	}
	// The owner of a run marked interrupted while it was in fact alive can still record how it ended.
	if r, err := s.FinishRun(ctx, silent.ID, RunFailed, "slow", nil); err != nil || r.Status != RunFailed {
		t.Errorf("owner finishing its interrupted run: %+v, %v", r, err)
	}
}

// Only the owner moves its run: another process can neither start nor finish it, nor beat for it.
func TestRunOwnedByAnotherProcess(t *testing.T) {
	s := newStore(t)
	live := startProcess(t)
	other := Process{PID: live.Process.Pid, Host: CurrentProcess().Host, Start: processStart(live.Process.Pid)}
	r, _ := s.CreateRun(ctx, newProject(t, s, "p").ID, nil)
	setOwner(t, s, r.ID, other, time.Now())
	if _, err := s.StartRun(ctx, r.ID); !errors.Is(err, ErrConflict) {
		t.Errorf("start another process's run: %v", err)
	}
	if _, err := s.FinishRun(ctx, r.ID, RunInterrupted, "stop", nil); !errors.Is(err, ErrConflict) {
		t.Errorf("finish another process's run: %v", err)
	}
	if err := s.HeartbeatRun(ctx, r.ID); !errors.Is(err, ErrConflict) {
		t.Errorf("heartbeat for another process's run: %v", err)
	}
	if got, _ := s.Run(ctx, r.ID); got.Status != RunQueued || got.Owner == nil || *got.Owner != other {
		t.Errorf("run after refused moves: %+v", got)
	}
}

func TestRunEvents(t *testing.T) {
	s := newStore(t)
	p := newProject(t, s, "p")
	r, _ := s.CreateRun(ctx, p.ID, nil)
	got, err := s.AppendRunEvents(ctx, r.ID, []RunEvent{
		{Kind: "iteration", Data: json.RawMessage(`{"loss":0.9}`)},
		{Kind: "iteration", Seq: 77, Data: json.RawMessage(`{"loss":0.8}`)},
	})
	if err != nil || len(got) != 2 || got[0].Seq != 1 || got[1].Seq != 2 || got[0].CreatedAt.IsZero() {
		t.Fatalf("AppendRunEvents = %+v, %v", got, err)
	}
	if got, err = s.AppendRunEvents(ctx, r.ID, []RunEvent{{Kind: "epoch"}}); err != nil || got[0].Seq != 3 || string(got[0].Data) != "{}" {
		t.Fatalf("third event %+v, %v", got, err)
	}
	all, err := s.RunEvents(ctx, r.ID, 0)
	if err != nil || len(all) != 3 || all[1].Kind != "iteration" || string(all[1].Data) != `{"loss":0.8}` || all[2].Kind != "epoch" {
		t.Errorf("RunEvents(0) = %+v, %v", all, err)
	}
	if tail, _ := s.RunEvents(ctx, r.ID, 2); len(tail) != 1 || tail[0].Seq != 3 {
		t.Errorf("RunEvents(2) = %+v", tail)
	}
	if _, err := s.AppendRunEvents(ctx, r.ID, []RunEvent{{Kind: "x", Data: json.RawMessage(`{"a":1}`)}, {Kind: ""}}); !isValidation(err) {
		t.Errorf("event without kind: %v", err)
	}
	if _, err := s.AppendRunEvents(ctx, r.ID, []RunEvent{{Kind: "x", Data: json.RawMessage(`{`)}}); !isValidation(err) {
		t.Errorf("event with bad JSON: %v", err)
	}
	if all, _ := s.RunEvents(ctx, r.ID, 0); len(all) != 3 {
		t.Errorf("a refused batch stored events: %d", len(all))
	}
	if _, err := s.AppendRunEvents(ctx, 999, []RunEvent{{Kind: "x"}}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown run: %v", err)
	}
	if _, err := s.RunEvents(ctx, 999, 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown run: %v", err)
	}
}
