package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mriworkbench/workbench/internal/atomicfile"
)

// ModelVersion is one trained version of a project's model; its weights are in File (relative to the data
// directory, under models/).
type ModelVersion struct {
	ID        int64           `json:"id"`
	ProjectID int64           `json:"projectId"`
	RunID     *int64          `json:"runId,omitempty"`    // the run that trained it
	ParentID  *int64          `json:"parentId,omitempty"` // the model it was warm-started from
	File      string          `json:"file"`
	Arch      string          `json:"arch"`
	Settings  json.RawMessage `json:"settings"`
	Metrics   json.RawMessage `json:"metrics"`
	Active    bool            `json:"active"`
	// Candidate: trained but not made active, because it compared worse than the active model (see the
	// metrics' "promotion"); a reviewer may promote it.
	Candidate bool      `json:"candidate"`
	Status    string    `json:"status"` // ModelActive, ModelCandidate or ModelPrevious
	CreatedAt time.Time `json:"createdAt"`
}

// Model statuses (ModelVersion.Status).
const (
	ModelActive    = "active"    // the project's model: its predictions drive overlays, the queue and exports
	ModelCandidate = "candidate" // waits for a reviewer's promotion; its predictions are kept beside the active's
	ModelPrevious  = "previous"  // was active once, or was promoted past
)

// TrainingSlice is a labelled slice a model was trained on, with the label version it saw.
type TrainingSlice struct {
	VolumeID     int64 `json:"volumeId"`
	Slice        int   `json:"slice"`
	LabelVersion int   `json:"labelVersion"`
}

// NewModel is a model to store. Write writes the weights; the store puts them in a new file atomically.
type NewModel struct {
	ProjectID int64
	RunID     *int64
	ParentID  *int64
	Arch      string
	Settings  json.RawMessage
	Metrics   json.RawMessage
	// Predictions are the model's predictions (their ModelID is ignored), stored in the model's transaction;
	// those of a volume deleted meanwhile are dropped with it.
	Predictions []Prediction
	Activate    bool // make it the project's active model
	// Candidate keeps it beside the active model until a reviewer promotes it (not with Activate).
	Candidate bool
	// TrainedOn are the labelled slices it was trained on; those of volumes deleted meanwhile are left out.
	TrainedOn []TrainingSlice
	Write     func(io.Writer) error
}

// pendingPrefix marks a model file renamed into place by a transaction that has not committed yet: the
// marker models/.pending-NAME lives from just before the rename of models/NAME until just after the commit, so
// that Open can remove a file whose transaction a crash lost (recoverModelFiles).
const pendingPrefix = ".pending-"

// pauseBeforeModelCommitEnv is a test hook: when it names a file, CreateModel creates that file just before
// committing and then waits forever, so a test can kill the process at that point (kill -9 during activation).
const pauseBeforeModelCommitEnv = "WORKBENCH_TEST_PAUSE_BEFORE_MODEL_COMMIT"

// CreateModel writes the model file and stores it with its row, its predictions and (with Activate) its
// activation in one transaction: the file is written to a temporary file and synced first, and renamed into
// place just before the commit. On failure, or after a crash at any point, none of it remains and the
// project's previous active model and its predictions are untouched.
func (s *Store) CreateModel(ctx context.Context, nm NewModel) (ModelVersion, error) {
	if nm.Arch == "" || len(nm.Arch) > 64 || strings.ContainsFunc(nm.Arch, isControl) {
		return ModelVersion{}, invalid("model architecture %q is empty, too long or has control characters", nm.Arch)
	}
	if nm.Write == nil {
		return ModelVersion{}, invalid("model has no weights to write")
	}
	if nm.Activate && nm.Candidate {
		return ModelVersion{}, invalid("a model is either activated or kept as a candidate, not both")
	}
	settings, err := normalizeSettings("model settings", nm.Settings)
	if err != nil {
		return ModelVersion{}, err
	}
	metrics, err := normalizeSettings("model metrics", nm.Metrics)
	if err != nil {
		return ModelVersion{}, err
	}
	packed, err := s.packPredictions(ctx, nm.ProjectID, nm.Predictions)
	if err != nil {
		return ModelVersion{}, err
	}
	tmp, _, err := s.writePartialFunc(modelsDir, nm.Write)
	if err != nil {
		return ModelVersion{}, err
	}
	defer os.Remove(tmp) // a no-op once renamed

	var id int64
	var final, marker string
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := projectByID(ctx, tx, nm.ProjectID); err != nil {
			return err
		}
		if nm.RunID != nil {
			if r, err := runByID(ctx, tx, *nm.RunID); err != nil {
				return err
			} else if r.ProjectID != nm.ProjectID {
				return invalid("run %d belongs to another project", *nm.RunID)
			}
		}
		if nm.ParentID != nil {
			if m, err := modelByID(ctx, tx, *nm.ParentID); err != nil {
				return err
			} else if m.ProjectID != nm.ProjectID {
				return invalid("parent model %d belongs to another project", *nm.ParentID)
			}
		}
		// The file name needs the row id, so insert with the (unique) temporary name and set it after.
		res, err := tx.ExecContext(ctx, `INSERT INTO models (project_id, run_id, parent_id, file, arch, settings, metrics, candidate, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			nm.ProjectID, nm.RunID, nm.ParentID, tmp, nm.Arch, string(settings), string(metrics), nm.Candidate, s.stamp())
		if err != nil {
			return fmt.Errorf("insert model: %w", err)
		}
		id, _ = res.LastInsertId()
		final = storedFileName(modelsDir, id, ".model")
		if _, err := tx.ExecContext(ctx, `UPDATE models SET file = ? WHERE id = ?`, final, id); err != nil {
			return fmt.Errorf("insert model: %w", err)
		}
		if err := insertPredictions(ctx, tx, nm.ProjectID, id, packed, s.stamp()); err != nil {
			return err
		}
		if err := insertTrainingSlices(ctx, tx, nm.ProjectID, id, nm.TrainedOn); err != nil {
			return err
		}
		if nm.Activate {
			if err := activate(ctx, tx, nm.ProjectID, id); err != nil {
				return err
			}
		}
		marker = s.abs(path.Join(modelsDir, pendingPrefix+path.Base(final)))
		if err := os.WriteFile(marker, nil, 0o444); err != nil {
			marker = ""
			return fmt.Errorf("store model file: %w", err)
		}
		// The rename syncs the directory, which makes the marker durable with it.
		if err := atomicfile.Rename(tmp, s.abs(final)); err != nil {
			return fmt.Errorf("store model file: %w", err)
		}
		pauseBeforeModelCommit()
		return nil
	})
	if err != nil {
		if final != "" {
			os.Remove(s.abs(final))
		}
	}
	if marker != "" {
		os.Remove(marker) // committed: the row holds the file; rolled back: the file is gone
	}
	if err != nil {
		return ModelVersion{}, err
	}
	return s.Model(ctx, id)
}

// pauseBeforeModelCommit is the test hook of pauseBeforeModelCommitEnv.
func pauseBeforeModelCommit() {
	if flag := os.Getenv(pauseBeforeModelCommitEnv); flag != "" {
		os.WriteFile(flag, nil, 0o644)
		select {}
	}
}

// recoverModelFiles removes the model files of transactions that a crash cut short (see pendingPrefix): each
// marker's file stays only if a model row names it. It holds the write lock while it looks, so a live writer's
// transaction has either committed or not begun.
func (s *Store) recoverModelFiles(ctx context.Context) error {
	dir := s.abs(modelsDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read %s: %w", modelsDir, err)
	}
	if !slices.ContainsFunc(entries, func(e os.DirEntry) bool { return strings.HasPrefix(e.Name(), pendingPrefix) }) {
		return nil
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("read %s: %w", modelsDir, err)
		}
		for _, e := range entries {
			name, ok := strings.CutPrefix(e.Name(), pendingPrefix)
			if !ok {
				continue
			}
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM models WHERE file = ?`, path.Join(modelsDir, name)).Scan(&n); err != nil {
				return fmt.Errorf("recover model files: %w", err)
			}
			if n == 0 {
				if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("remove the model file of an unfinished save: %w", err)
				}
			}
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("recover model files: %w", err)
			}
		}
		return atomicfile.SyncDir(dir)
	})
}

func activate(ctx context.Context, tx *sql.Tx, projectID, modelID int64) error {
	// Clear first: the partial unique index allows one active model per project at any moment.
	if _, err := tx.ExecContext(ctx, `UPDATE models SET active = 0 WHERE project_id = ? AND active = 1`, projectID); err != nil {
		return fmt.Errorf("activate model: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE models SET active = 1, candidate = 0 WHERE id = ?`, modelID); err != nil {
		return fmt.Errorf("activate model: %w", err)
	}
	return nil
}

// insertTrainingSlices records the slices a model was trained on, leaving out those of volumes no longer in
// the project.
func insertTrainingSlices(ctx context.Context, tx *sql.Tx, projectID, modelID int64, slices []TrainingSlice) error {
	if len(slices) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT OR REPLACE INTO model_training_slices (model_id, volume_id, slice, label_version)
		SELECT ?, id, ?, ? FROM volumes WHERE id = ? AND project_id = ?`)
	if err != nil {
		return fmt.Errorf("record training slices: %w", err)
	}
	defer stmt.Close()
	for _, ts := range slices {
		if ts.Slice < 0 || ts.LabelVersion <= 0 {
			return invalid("training slice %d of volume %d at label version %d", ts.Slice, ts.VolumeID, ts.LabelVersion)
		}
		if _, err := stmt.ExecContext(ctx, modelID, ts.Slice, ts.LabelVersion, ts.VolumeID, projectID); err != nil {
			return fmt.Errorf("record training slices: %w", err)
		}
	}
	return nil
}

// TrainingSlices are the labelled slices a model was trained on, by volume and slice; empty for models
// stored before they were recorded.
func (s *Store) TrainingSlices(ctx context.Context, modelID int64) ([]TrainingSlice, error) {
	if _, err := s.Model(ctx, modelID); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT volume_id, slice, label_version FROM model_training_slices
		WHERE model_id = ? ORDER BY volume_id, slice`, modelID)
	if err != nil {
		return nil, fmt.Errorf("training slices: %w", err)
	}
	defer rows.Close()
	var out []TrainingSlice
	for rows.Next() {
		var ts TrainingSlice
		if err := rows.Scan(&ts.VolumeID, &ts.Slice, &ts.LabelVersion); err != nil {
			return nil, fmt.Errorf("training slices: %w", err)
		}
		out = append(out, ts)
	}
	return out, rows.Err()
}

// PromoteModel makes a candidate model the project's active one (its predictions become the project's); a
// model that is not a candidate is a conflict naming its status.
func (s *Store) PromoteModel(ctx context.Context, projectID, modelID int64) (ModelVersion, error) {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		m, err := modelByID(ctx, tx, modelID)
		if err != nil {
			return err
		}
		if m.ProjectID != projectID {
			return fmt.Errorf("model %d in project %d: %w", modelID, projectID, ErrNotFound)
		}
		if !m.Candidate {
			return fmt.Errorf("%w: model %d is %s, not a candidate", ErrConflict, modelID, m.Status)
		}
		return activate(ctx, tx, projectID, modelID)
	})
	if err != nil {
		return ModelVersion{}, err
	}
	return s.Model(ctx, modelID)
}

const modelColumns = `m.id, m.project_id, m.run_id, m.parent_id, m.file, m.arch, m.settings, m.metrics, m.active, m.candidate, m.created_at`

func scanModel(row rowScanner) (ModelVersion, error) {
	var m ModelVersion
	var runID, parentID sql.NullInt64
	var settings, metrics string
	var created int64
	if err := row.Scan(&m.ID, &m.ProjectID, &runID, &parentID, &m.File, &m.Arch, &settings, &metrics, &m.Active, &m.Candidate, &created); err != nil {
		return ModelVersion{}, err
	}
	switch {
	case m.Active:
		m.Status = ModelActive
	case m.Candidate:
		m.Status = ModelCandidate
	default:
		m.Status = ModelPrevious
	}
	if runID.Valid {
		m.RunID = &runID.Int64
	}
	if parentID.Valid {
		m.ParentID = &parentID.Int64
	}
	m.Settings, m.Metrics = json.RawMessage(settings), json.RawMessage(metrics)
	m.CreatedAt = fromMillis(created)
	return m, nil
}

func modelByID(ctx context.Context, q querier, id int64) (ModelVersion, error) {
	m, err := scanModel(q.QueryRowContext(ctx, `SELECT `+modelColumns+` FROM models m WHERE m.id = ?`, id))
	return m, notFound(err, "model %d", id)
}

// Model returns the model version with the given id.
func (s *Store) Model(ctx context.Context, id int64) (ModelVersion, error) {
	return modelByID(ctx, s.db, id)
}

// ModelPath is the absolute path of a model's file.
func (s *Store) ModelPath(m ModelVersion) string { return s.abs(m.File) }

// Models lists a project's models, newest first.
func (s *Store) Models(ctx context.Context, projectID int64) ([]ModelVersion, error) {
	if _, err := s.Project(ctx, projectID); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+modelColumns+` FROM models m WHERE m.project_id = ? ORDER BY m.id DESC`, projectID)
	if err != nil {
		return nil, fmt.Errorf("list models: %w", err)
	}
	defer rows.Close()
	var out []ModelVersion
	for rows.Next() {
		m, err := scanModel(rows)
		if err != nil {
			return nil, fmt.Errorf("list models: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// UpdateModelMetrics rewrites a model's metrics with update (given the stored ones) in one transaction, so
// that a result that comes after the model (its cross-validation) is merged with what is there. A model
// deleted meanwhile is ErrNotFound.
func (s *Store) UpdateModelMetrics(ctx context.Context, modelID int64, update func(json.RawMessage) (json.RawMessage, error)) (ModelVersion, error) {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		m, err := modelByID(ctx, tx, modelID)
		if err != nil {
			return err
		}
		metrics, err := update(m.Metrics)
		if err != nil {
			return err
		}
		if !json.Valid(metrics) {
			return invalid("model %d: the new metrics are not JSON", modelID)
		}
		_, err = tx.ExecContext(ctx, `UPDATE models SET metrics = ? WHERE id = ?`, string(metrics), modelID)
		return err
	})
	if err != nil {
		return ModelVersion{}, err
	}
	return s.Model(ctx, modelID)
}

// SetActiveModel makes a model of the project its only active one (e.g. to roll back).
func (s *Store) SetActiveModel(ctx context.Context, projectID, modelID int64) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		m, err := modelByID(ctx, tx, modelID)
		if err != nil {
			return err
		}
		if m.ProjectID != projectID {
			return fmt.Errorf("model %d in project %d: %w", modelID, projectID, ErrNotFound)
		}
		return activate(ctx, tx, projectID, modelID)
	})
}

// ActiveModel returns the project's active model; ErrNotFound if none.
func (s *Store) ActiveModel(ctx context.Context, projectID int64) (ModelVersion, error) {
	m, err := scanModel(s.db.QueryRowContext(ctx, `SELECT `+modelColumns+` FROM models m
		WHERE m.project_id = ? AND m.active = 1`, projectID))
	return m, notFound(err, "active model of project %d", projectID)
}
