package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// Run statuses. A project has at most one queued or running run.
const (
	RunQueued      = "queued"
	RunRunning     = "running"
	RunDone        = "done"
	RunFailed      = "failed"
	RunCancelled   = "cancelled"
	RunInterrupted = "interrupted" // its process stopped (or died) while it was queued or running
)

// DefaultRunStaleAfter is how long a queued or running run may go without a heartbeat before it counts as
// dead even if its owner process seems alive (hung, or on another host). The trainer beats every few seconds.
const DefaultRunStaleAfter = 30 * time.Second

// Run is a training run.
type Run struct {
	ID         int64           `json:"id"`
	ProjectID  int64           `json:"projectId"`
	Status     string          `json:"status"`
	Settings   json.RawMessage `json:"settings"`
	Error      string          `json:"error,omitempty"`
	ModelID    *int64          `json:"modelId,omitempty"` // the model it produced
	CreatedAt  time.Time       `json:"createdAt"`
	StartedAt  *time.Time      `json:"startedAt,omitempty"`
	FinishedAt *time.Time      `json:"finishedAt,omitempty"`
	// Owner is the process that created the run and trains it (nil for runs from before owners were kept).
	Owner *Process `json:"owner,omitempty"`
	// HeartbeatAt is the owner's last sign of life while the run is queued or running.
	HeartbeatAt *time.Time `json:"heartbeatAt,omitempty"`
}

// RunEvent is one progress event of a run; Seq numbers a run's events 1, 2, 3...
type RunEvent struct {
	Seq       int             `json:"seq"`
	Kind      string          `json:"kind"` // "iteration", "epoch", ...
	Data      json.RawMessage `json:"data"`
	CreatedAt time.Time       `json:"createdAt"`
}

// CreateRun queues a run owned by this process; ErrConflict if the project already has a queued or running one.
func (s *Store) CreateRun(ctx context.Context, projectID int64, settings json.RawMessage) (Run, error) {
	settings, err := normalizeSettings("run settings", settings)
	if err != nil {
		return Run{}, err
	}
	var id int64
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := projectByID(ctx, tx, projectID); err != nil {
			return err
		}
		now := s.stamp()
		res, err := tx.ExecContext(ctx, `INSERT INTO runs (project_id, status, settings, created_at,
			owner_pid, owner_host, owner_start, heartbeat_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			projectID, RunQueued, string(settings), now, s.owner.PID, s.owner.Host, s.owner.Start, now)
		if isUnique(err) {
			return fmt.Errorf("%w: project %d already has a queued or running training run", ErrConflict, projectID)
		}
		if err != nil {
			return fmt.Errorf("create run: %w", err)
		}
		id, _ = res.LastInsertId()
		return nil
	})
	if err != nil {
		return Run{}, err
	}
	return s.Run(ctx, id)
}

// StartRun moves a queued run of this process to running.
func (s *Store) StartRun(ctx context.Context, id int64) (Run, error) {
	now := s.stamp()
	return s.moveRun(ctx, id, []string{RunQueued}, `status = ?, started_at = ?, heartbeat_at = ?`, RunRunning, now, now)
}

// FinishRun ends a queued or running run of this process with status done, failed, cancelled or interrupted
// (the process is stopping), an error message (for failures and interruptions) and the model it produced, if
// any. A run of this process that another process marked interrupted (its heartbeat had gone stale) may still
// be finished, so its record says how it really ended.
func (s *Store) FinishRun(ctx context.Context, id int64, status, errMsg string, modelID *int64) (Run, error) {
	if status != RunDone && status != RunFailed && status != RunCancelled && status != RunInterrupted {
		return Run{}, invalid("a run cannot finish with status %q", status)
	}
	if modelID != nil {
		m, err := s.Model(ctx, *modelID)
		if err != nil {
			return Run{}, err
		}
		r, err := s.Run(ctx, id)
		if err != nil {
			return Run{}, err
		}
		if m.ProjectID != r.ProjectID {
			return Run{}, invalid("model %d belongs to another project than run %d", *modelID, id)
		}
	}
	return s.moveRun(ctx, id, []string{RunQueued, RunRunning, RunInterrupted}, `status = ?, error = ?, model_id = ?, finished_at = ?`,
		status, errMsg, modelID, s.stamp())
}

// HeartbeatRun records that this process still runs the run; ErrConflict when the run is no longer queued or
// running, or belongs to another process.
func (s *Store) HeartbeatRun(ctx context.Context, id int64) error {
	res, err := s.db.ExecContext(ctx, `UPDATE runs SET heartbeat_at = ?
		WHERE id = ? AND status IN (?, ?) AND owner_pid = ? AND owner_host = ? AND owner_start = ?`,
		s.stamp(), id, RunQueued, RunRunning, s.owner.PID, s.owner.Host, s.owner.Start)
	if err != nil {
		return fmt.Errorf("run %d heartbeat: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		r, err := s.Run(ctx, id)
		if err != nil {
			return err
		}
		return fmt.Errorf("%w: run %d is %s and not this process's", ErrConflict, id, r.Status)
	}
	return nil
}

// SetRunStaleAfter changes how long a run may go without a heartbeat before it counts as dead
// (DefaultRunStaleAfter); call it before the store is used concurrently.
func (s *Store) SetRunStaleAfter(d time.Duration) { s.runStaleAfter = d }

// RunStaleAfter is how long a run may go without a heartbeat; owners beat well within it.
func (s *Store) RunStaleAfter() time.Duration { return s.runStaleAfter }

// moveRun applies set to a run of this process whose status is one of from, in one transaction. A run from an
// interrupted state can only be moved by its owner (see FinishRun).
func (s *Store) moveRun(ctx context.Context, id int64, from []string, set string, args ...any) (Run, error) {
	var out Run
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		r, err := runByID(ctx, tx, id)
		if err != nil {
			return err
		}
		allowed := false
		for _, st := range from {
			allowed = allowed || r.Status == st
		}
		if !allowed || (r.Status == RunInterrupted && r.Owner == nil) {
			return fmt.Errorf("%w: run %d is %s", ErrConflict, id, r.Status)
		}
		if r.Owner != nil && *r.Owner != s.owner {
			return fmt.Errorf("%w: run %d belongs to another process (%s)", ErrConflict, id, r.Owner)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE runs SET `+set+` WHERE id = ?`, append(args, id)...); err != nil {
			return fmt.Errorf("update run %d: %w", id, err)
		}
		out, err = runByID(ctx, tx, id)
		return err
	})
	return out, err
}

// MarkInterruptedRuns marks interrupted every queued or running run whose process is gone: its owner on this
// host is no longer running, or its heartbeat is older than the stale limit (SetRunStaleAfter), or it has no
// owner. Runs of live processes, this one included, are left alone. It returns how many it marked; serve calls
// it at start, and the trainer before refusing a project whose run seems to be going.
func (s *Store) MarkInterruptedRuns(ctx context.Context) (int, error) {
	marked := 0
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+runColumns+` FROM runs r WHERE r.status IN (?, ?)`, RunQueued, RunRunning)
		if err != nil {
			return err
		}
		var dead []Run
		var why []string
		now := time.Now()
		for rows.Next() {
			r, err := scanRun(rows)
			if err != nil {
				rows.Close()
				return err
			}
			if msg := s.deadRun(r, now); msg != "" {
				dead, why = append(dead, r), append(why, msg)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for i, r := range dead {
			if _, err := tx.ExecContext(ctx, `UPDATE runs SET status = ?, error = ?, finished_at = ? WHERE id = ?`,
				RunInterrupted, why[i], s.stamp(), r.ID); err != nil {
				return err
			}
		}
		marked = len(dead)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("mark interrupted runs: %w", err)
	}
	return marked, nil
}

// deadRun says why a queued or running run can no longer be going, or "" if it may be.
func (s *Store) deadRun(r Run, now time.Time) string {
	switch {
	case r.Owner == nil || r.HeartbeatAt == nil:
		return "the process running it stopped"
	case !r.Owner.Alive():
		return fmt.Sprintf("the process running it (%s) stopped", r.Owner)
	case now.Sub(*r.HeartbeatAt) > s.runStaleAfter:
		return fmt.Sprintf("the process running it (%s) gave no sign of life for %s", r.Owner,
			now.Sub(*r.HeartbeatAt).Round(time.Second))
	}
	return ""
}

const runColumns = `r.id, r.project_id, r.status, r.settings, r.error, r.model_id, r.created_at, r.started_at, r.finished_at,
	r.owner_pid, r.owner_host, r.owner_start, r.heartbeat_at`

func scanRun(row rowScanner) (Run, error) {
	var r Run
	var settings string
	var modelID, started, finished, ownerPID, heartbeat sql.NullInt64
	var ownerHost, ownerStart sql.NullString
	var created int64
	if err := row.Scan(&r.ID, &r.ProjectID, &r.Status, &settings, &r.Error, &modelID, &created, &started, &finished,
		&ownerPID, &ownerHost, &ownerStart, &heartbeat); err != nil {
		return Run{}, err
	}
	if ownerPID.Valid {
		r.Owner = &Process{PID: int(ownerPID.Int64), Host: ownerHost.String, Start: ownerStart.String}
	}
	r.HeartbeatAt = fromNullMillis(heartbeat)
	r.Settings = json.RawMessage(settings)
	if modelID.Valid {
		r.ModelID = &modelID.Int64
	}
	r.CreatedAt = fromMillis(created)
	r.StartedAt = fromNullMillis(started)
	r.FinishedAt = fromNullMillis(finished)
	return r, nil
}

func runByID(ctx context.Context, q querier, id int64) (Run, error) {
	r, err := scanRun(q.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs r WHERE r.id = ?`, id))
	return r, notFound(err, "run %d", id)
}

// Run returns the run with the given id.
func (s *Store) Run(ctx context.Context, id int64) (Run, error) { return runByID(ctx, s.db, id) }

// Runs lists a project's runs, newest first.
func (s *Store) Runs(ctx context.Context, projectID int64) ([]Run, error) {
	if _, err := s.Project(ctx, projectID); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+runColumns+` FROM runs r WHERE r.project_id = ? ORDER BY r.id DESC`, projectID)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("list runs: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// ActiveRun returns the project's queued or running run; ErrNotFound if none.
func (s *Store) ActiveRun(ctx context.Context, projectID int64) (Run, error) {
	r, err := scanRun(s.db.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs r
		WHERE r.project_id = ? AND r.status IN (?, ?)`, projectID, RunQueued, RunRunning))
	return r, notFound(err, "active run of project %d", projectID)
}

// AppendRunEvents stores events after a run's previous ones, numbering them, and returns them with Seq and
// CreatedAt set (any Seq given is ignored).
func (s *Store) AppendRunEvents(ctx context.Context, runID int64, events []RunEvent) ([]RunEvent, error) {
	out := make([]RunEvent, len(events))
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := runByID(ctx, tx, runID); err != nil {
			return err
		}
		var last int
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM run_events WHERE run_id = ?`, runID).Scan(&last); err != nil {
			return fmt.Errorf("append run events: %w", err)
		}
		now := s.stamp()
		for i, e := range events {
			if e.Kind == "" {
				return invalid("run event without a kind")
			}
			if len(e.Data) == 0 {
				e.Data = json.RawMessage("{}")
			}
			if !json.Valid(e.Data) {
				return invalid("run event %q: data is not JSON", e.Kind)
			}
			e.Seq, e.CreatedAt = last+i+1, fromMillis(now)
			if _, err := tx.ExecContext(ctx, `INSERT INTO run_events (run_id, seq, kind, data, created_at) VALUES (?, ?, ?, ?, ?)`,
				runID, e.Seq, e.Kind, string(e.Data), now); err != nil {
				return fmt.Errorf("append run events: %w", err)
			}
			out[i] = e
		}
		// Progress is a sign of life: it spares the owner a separate heartbeat write.
		if _, err := tx.ExecContext(ctx, `UPDATE runs SET heartbeat_at = ? WHERE id = ? AND status IN (?, ?)
			AND owner_pid = ? AND owner_host = ? AND owner_start = ?`,
			now, runID, RunQueued, RunRunning, s.owner.PID, s.owner.Host, s.owner.Start); err != nil {
			return fmt.Errorf("append run events: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RunEvents returns a run's events with Seq > afterSeq, in order.
func (s *Store) RunEvents(ctx context.Context, runID int64, afterSeq int) ([]RunEvent, error) {
	if _, err := s.Run(ctx, runID); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT seq, kind, data, created_at FROM run_events
		WHERE run_id = ? AND seq > ? ORDER BY seq`, runID, afterSeq)
	if err != nil {
		return nil, fmt.Errorf("read run events: %w", err)
	}
	defer rows.Close()
	var out []RunEvent
	for rows.Next() {
		var e RunEvent
		var data string
		var created int64
		if err := rows.Scan(&e.Seq, &e.Kind, &data, &created); err != nil {
			return nil, fmt.Errorf("read run events: %w", err)
		}
		e.Data, e.CreatedAt = json.RawMessage(data), fromMillis(created)
		out = append(out, e)
	}
	return out, rows.Err()
}
