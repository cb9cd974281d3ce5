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
	RunInterrupted = "interrupted" // the server stopped while it was queued or running
)

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
}

// RunEvent is one progress event of a run; Seq numbers a run's events 1, 2, 3...
type RunEvent struct {
	Seq       int             `json:"seq"`
	Kind      string          `json:"kind"` // "iteration", "epoch", ...
	Data      json.RawMessage `json:"data"`
	CreatedAt time.Time       `json:"createdAt"`
}

// CreateRun queues a run; ErrConflict if the project already has a queued or running one.
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
		res, err := tx.ExecContext(ctx, `INSERT INTO runs (project_id, status, settings, created_at) VALUES (?, ?, ?, ?)`,
			projectID, RunQueued, string(settings), s.stamp())
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

// StartRun moves a queued run to running.
func (s *Store) StartRun(ctx context.Context, id int64) (Run, error) {
	return s.moveRun(ctx, id, []string{RunQueued}, `status = ?, started_at = ?`, RunRunning, s.stamp())
}

// FinishRun ends a queued or running run with status done, failed or cancelled, an error message (for
// failures) and the model it produced, if any.
func (s *Store) FinishRun(ctx context.Context, id int64, status, errMsg string, modelID *int64) (Run, error) {
	if status != RunDone && status != RunFailed && status != RunCancelled {
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
	return s.moveRun(ctx, id, []string{RunQueued, RunRunning}, `status = ?, error = ?, model_id = ?, finished_at = ?`,
		status, errMsg, modelID, s.stamp())
}

// moveRun applies set to a run whose status is one of from, in one transaction.
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
		if !allowed {
			return fmt.Errorf("%w: run %d is %s", ErrConflict, id, r.Status)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE runs SET `+set+` WHERE id = ?`, append(args, id)...); err != nil {
			return fmt.Errorf("update run %d: %w", id, err)
		}
		out, err = runByID(ctx, tx, id)
		return err
	})
	return out, err
}

// MarkInterruptedRuns marks every queued or running run interrupted, and returns how many; called at startup,
// when no run can still be alive.
func (s *Store) MarkInterruptedRuns(ctx context.Context) (int, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE runs SET status = ?, error = ?, finished_at = ? WHERE status IN (?, ?)`,
		RunInterrupted, "the server stopped during the run", s.stamp(), RunQueued, RunRunning)
	if err != nil {
		return 0, fmt.Errorf("mark interrupted runs: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

const runColumns = `r.id, r.project_id, r.status, r.settings, r.error, r.model_id, r.created_at, r.started_at, r.finished_at`

func scanRun(row rowScanner) (Run, error) {
	var r Run
	var settings string
	var modelID, started, finished sql.NullInt64
	var created int64
	if err := row.Scan(&r.ID, &r.ProjectID, &r.Status, &settings, &r.Error, &modelID, &created, &started, &finished); err != nil {
		return Run{}, err
	}
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
