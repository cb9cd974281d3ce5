package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"strings"
	"time"

	"github.com/mriworkbench/workbench/internal/atomicfile"
)

// Model is a trained model version; its weights are in File (relative to the data directory, under models/).
type Model struct {
	ID        int64           `json:"id"`
	ProjectID int64           `json:"projectId"`
	RunID     *int64          `json:"runId,omitempty"`    // the run that trained it
	ParentID  *int64          `json:"parentId,omitempty"` // the model it was warm-started from
	File      string          `json:"file"`
	Arch      string          `json:"arch"`
	Settings  json.RawMessage `json:"settings"`
	Metrics   json.RawMessage `json:"metrics"`
	Active    bool            `json:"active"`
	CreatedAt time.Time       `json:"createdAt"`
}

// NewModel is a model to store. Write writes the weights; the store puts them in a new file atomically.
type NewModel struct {
	ProjectID int64
	RunID     *int64
	ParentID  *int64
	Arch      string
	Settings  json.RawMessage
	Metrics   json.RawMessage
	Activate  bool // make it the project's active model
	Write     func(io.Writer) error
}

// Prediction is a model's class-index mask for one slice and its uncertainty (higher: less sure).
type Prediction struct {
	ModelID     int64   `json:"modelId"`
	VolumeID    int64   `json:"volumeId"`
	Slice       int     `json:"slice"`
	Mask        []uint8 `json:"mask,omitempty"`
	Uncertainty float64 `json:"uncertainty"`
}

// QueueItem is an unlabelled slice to review.
type QueueItem struct {
	VolumeID    int64   `json:"volumeId"`
	VolumeName  string  `json:"volumeName"`
	Slice       int     `json:"slice"`
	Uncertainty float64 `json:"uncertainty"`
}

// CreateModel writes the model file (temporary file, fsync, rename) and inserts its row in one transaction;
// on failure neither remains.
func (s *Store) CreateModel(ctx context.Context, nm NewModel) (Model, error) {
	if nm.Arch == "" || len(nm.Arch) > 64 || strings.ContainsFunc(nm.Arch, isControl) {
		return Model{}, invalid("model architecture %q is empty, too long or has control characters", nm.Arch)
	}
	if nm.Write == nil {
		return Model{}, invalid("model has no weights to write")
	}
	settings, err := normalizeSettings("model settings", nm.Settings)
	if err != nil {
		return Model{}, err
	}
	metrics, err := normalizeSettings("model metrics", nm.Metrics)
	if err != nil {
		return Model{}, err
	}
	tmp, _, err := s.writePartialFunc(modelsDir, nm.Write)
	if err != nil {
		return Model{}, err
	}
	defer os.Remove(tmp) // a no-op once renamed

	var id int64
	var final string
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
		res, err := tx.ExecContext(ctx, `INSERT INTO models (project_id, run_id, parent_id, file, arch, settings, metrics, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			nm.ProjectID, nm.RunID, nm.ParentID, tmp, nm.Arch, string(settings), string(metrics), s.stamp())
		if err != nil {
			return fmt.Errorf("insert model: %w", err)
		}
		id, _ = res.LastInsertId()
		final = path.Join(modelsDir, fmt.Sprintf("%d.model", id))
		if _, err := tx.ExecContext(ctx, `UPDATE models SET file = ? WHERE id = ?`, final, id); err != nil {
			return fmt.Errorf("insert model: %w", err)
		}
		if nm.Activate {
			if err := activate(ctx, tx, nm.ProjectID, id); err != nil {
				return err
			}
		}
		if err := atomicfile.Rename(tmp, s.abs(final)); err != nil {
			return fmt.Errorf("store model file: %w", err)
		}
		return nil
	})
	if err != nil {
		if final != "" {
			os.Remove(s.abs(final))
		}
		return Model{}, err
	}
	return s.Model(ctx, id)
}

func activate(ctx context.Context, tx *sql.Tx, projectID, modelID int64) error {
	// Clear first: the partial unique index allows one active model per project at any moment.
	if _, err := tx.ExecContext(ctx, `UPDATE models SET active = 0 WHERE project_id = ? AND active = 1`, projectID); err != nil {
		return fmt.Errorf("activate model: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE models SET active = 1 WHERE id = ?`, modelID); err != nil {
		return fmt.Errorf("activate model: %w", err)
	}
	return nil
}

const modelColumns = `m.id, m.project_id, m.run_id, m.parent_id, m.file, m.arch, m.settings, m.metrics, m.active, m.created_at`

func scanModel(row rowScanner) (Model, error) {
	var m Model
	var runID, parentID sql.NullInt64
	var settings, metrics string
	var created int64
	if err := row.Scan(&m.ID, &m.ProjectID, &runID, &parentID, &m.File, &m.Arch, &settings, &metrics, &m.Active, &created); err != nil {
		return Model{}, err
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

func modelByID(ctx context.Context, q querier, id int64) (Model, error) {
	m, err := scanModel(q.QueryRowContext(ctx, `SELECT `+modelColumns+` FROM models m WHERE m.id = ?`, id))
	return m, notFound(err, "model %d", id)
}

// Model returns the model with the given id.
func (s *Store) Model(ctx context.Context, id int64) (Model, error) { return modelByID(ctx, s.db, id) }

// ModelPath is the absolute path of a model's file.
func (s *Store) ModelPath(m Model) string { return s.abs(m.File) }

// Models lists a project's models, newest first.
func (s *Store) Models(ctx context.Context, projectID int64) ([]Model, error) {
	if _, err := s.Project(ctx, projectID); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+modelColumns+` FROM models m WHERE m.project_id = ? ORDER BY m.id DESC`, projectID)
	if err != nil {
		return nil, fmt.Errorf("list models: %w", err)
	}
	defer rows.Close()
	var out []Model
	for rows.Next() {
		m, err := scanModel(rows)
		if err != nil {
			return nil, fmt.Errorf("list models: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
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
func (s *Store) ActiveModel(ctx context.Context, projectID int64) (Model, error) {
	m, err := scanModel(s.db.QueryRowContext(ctx, `SELECT `+modelColumns+` FROM models m
		WHERE m.project_id = ? AND m.active = 1`, projectID))
	return m, notFound(err, "active model of project %d", projectID)
}

// SetModelMetrics replaces a model's evaluation metrics (a JSON object).
func (s *Store) SetModelMetrics(ctx context.Context, modelID int64, metrics json.RawMessage) error {
	metrics, err := normalizeSettings("model metrics", metrics)
	if err != nil {
		return err
	}
	res, err := s.db.ExecContext(ctx, `UPDATE models SET metrics = ? WHERE id = ?`, string(metrics), modelID)
	if err != nil {
		return fmt.Errorf("set model metrics: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("model %d: %w", modelID, ErrNotFound)
	}
	return nil
}

// SavePredictions stores a model's predictions in one transaction, replacing any it had for the same slices.
// Each prediction's ModelID is ignored in favour of modelID.
func (s *Store) SavePredictions(ctx context.Context, modelID int64, preds []Prediction) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		m, err := modelByID(ctx, tx, modelID)
		if err != nil {
			return err
		}
		p, err := projectByID(ctx, tx, m.ProjectID)
		if err != nil {
			return err
		}
		volumes := map[int64]VolumeMeta{}
		now := s.stamp()
		for _, pr := range preds {
			v, ok := volumes[pr.VolumeID]
			if !ok {
				if v, err = volumeByID(ctx, tx, pr.VolumeID); err != nil {
					return err
				}
				if v.ProjectID != m.ProjectID {
					return invalid("volume %d is not in model %d's project", pr.VolumeID, modelID)
				}
				volumes[pr.VolumeID] = v
			}
			packed, err := checkMask(v.Geometry, len(p.Classes), pr.Slice, pr.Mask)
			if err != nil {
				return err
			}
			if math.IsNaN(pr.Uncertainty) || math.IsInf(pr.Uncertainty, 0) {
				return invalid("volume %d slice %d: uncertainty is not finite", pr.VolumeID, pr.Slice)
			}
			if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO predictions
				(model_id, volume_id, slice, mask, uncertainty, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
				modelID, pr.VolumeID, pr.Slice, packed, pr.Uncertainty, now); err != nil {
				return fmt.Errorf("save predictions: %w", err)
			}
		}
		return nil
	})
}

func scanPrediction(row rowScanner) (Prediction, error) {
	var p Prediction
	var packed []byte
	if err := row.Scan(&p.ModelID, &p.VolumeID, &p.Slice, &packed, &p.Uncertainty); err != nil {
		return Prediction{}, err
	}
	mask, err := unpackMask(packed)
	p.Mask = mask
	return p, err
}

// Prediction returns a model's prediction for one slice.
func (s *Store) Prediction(ctx context.Context, modelID, volumeID int64, slice int) (Prediction, error) {
	p, err := scanPrediction(s.db.QueryRowContext(ctx, `SELECT model_id, volume_id, slice, mask, uncertainty
		FROM predictions WHERE model_id = ? AND volume_id = ? AND slice = ?`, modelID, volumeID, slice))
	return p, notFound(err, "model %d prediction for volume %d slice %d", modelID, volumeID, slice)
}

// Predictions returns a model's predictions for a volume, by slice.
func (s *Store) Predictions(ctx context.Context, modelID, volumeID int64) ([]Prediction, error) {
	if _, err := s.Model(ctx, modelID); err != nil {
		return nil, err
	}
	if _, err := s.Volume(ctx, volumeID); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT model_id, volume_id, slice, mask, uncertainty
		FROM predictions WHERE model_id = ? AND volume_id = ? ORDER BY slice`, modelID, volumeID)
	if err != nil {
		return nil, fmt.Errorf("read predictions: %w", err)
	}
	defer rows.Close()
	var out []Prediction
	for rows.Next() {
		p, err := scanPrediction(rows)
		if err != nil {
			return nil, fmt.Errorf("read predictions: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// ReviewQueue returns up to limit unlabelled slices of the project that the active model predicted, most
// uncertain first. Empty when the project has no active model.
func (s *Store) ReviewQueue(ctx context.Context, projectID int64, limit int) ([]QueueItem, error) {
	if _, err := s.Project(ctx, projectID); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `
		SELECT pr.volume_id, v.name, pr.slice, pr.uncertainty
		FROM predictions pr
		JOIN models m ON m.id = pr.model_id AND m.active = 1 AND m.project_id = ?
		JOIN volumes v ON v.id = pr.volume_id
		WHERE NOT EXISTS (SELECT 1 FROM current_labels c
			WHERE c.volume_id = pr.volume_id AND c.slice = pr.slice AND c.deleted = 0)
		ORDER BY pr.uncertainty DESC, pr.volume_id, pr.slice
		LIMIT ?`, projectID, limit)
	if err != nil {
		return nil, fmt.Errorf("review queue: %w", err)
	}
	defer rows.Close()
	var out []QueueItem
	for rows.Next() {
		var q QueueItem
		if err := rows.Scan(&q.VolumeID, &q.VolumeName, &q.Slice, &q.Uncertainty); err != nil {
			return nil, fmt.Errorf("review queue: %w", err)
		}
		out = append(out, q)
	}
	return out, rows.Err()
}

// SegmentationVolume returns a volume's class map on its canonical grid (axis 0 fastest, one slice after
// another) for export: each slice's current label, else (unless manualOnly) the active model's prediction,
// else background. See Segmentation.
func (s *Store) SegmentationVolume(ctx context.Context, volumeID int64, manualOnly bool) ([]uint8, error) {
	seg, err := s.Segmentation(ctx, volumeID, manualOnly)
	return seg.Classes, err
}

// VolumeSegmentation is a volume's class map and the status of each of its slices, from one snapshot.
type VolumeSegmentation struct {
	Volume   VolumeMeta
	Classes  []uint8  // canonical grid, axis 0 fastest, one slice after another
	Statuses []string // by slice, as SliceStatuses (predicted slices say so even when manualOnly left them out)
}

// Segmentation reads a volume's class map (as SegmentationVolume) and its slice statuses in one statement, so
// labels, the active model and its predictions are seen at one moment even while a user saves a label or
// picks another active model.
func (s *Store) Segmentation(ctx context.Context, volumeID int64, manualOnly bool) (VolumeSegmentation, error) {
	v, err := s.Volume(ctx, volumeID)
	if err != nil {
		return VolumeSegmentation{}, err
	}
	n, nz := v.SliceLen(), v.Shape[2]
	out := VolumeSegmentation{Volume: v, Classes: make([]uint8, n*nz), Statuses: make([]string, nz)}
	for i := range out.Statuses {
		out.Statuses[i] = StatusUnlabelled
	}
	rows, err := s.db.QueryContext(ctx, `
		SELECT 0, c.slice, c.verified, c.mask FROM current_labels c WHERE c.volume_id = ?1 AND c.deleted = 0
		UNION ALL
		SELECT 1, pr.slice, 0, CASE WHEN ?2 THEN NULL ELSE pr.mask END FROM predictions pr
		JOIN models m ON m.id = pr.model_id AND m.active = 1
		WHERE pr.volume_id = ?1`, volumeID, manualOnly)
	if err != nil {
		return VolumeSegmentation{}, fmt.Errorf("segmentation of volume %d: %w", volumeID, err)
	}
	defer rows.Close()
	labelled := make([]bool, nz)
	predicted := map[int][]byte{} // packed; filled in after every label is known, since labels win
	for rows.Next() {
		var prediction, verified bool
		var slice int
		var packed []byte
		if err := rows.Scan(&prediction, &slice, &verified, &packed); err != nil {
			return VolumeSegmentation{}, fmt.Errorf("segmentation of volume %d: %w", volumeID, err)
		}
		if slice < 0 || slice >= nz {
			continue
		}
		if prediction {
			predicted[slice] = packed
			continue
		}
		mask, err := unpackMask(packed)
		if err != nil {
			return VolumeSegmentation{}, err
		}
		copy(out.Classes[slice*n:(slice+1)*n], mask)
		labelled[slice] = true
		out.Statuses[slice] = StatusLabelled
		if verified {
			out.Statuses[slice] = StatusVerified
		}
	}
	if err := rows.Err(); err != nil {
		return VolumeSegmentation{}, fmt.Errorf("segmentation of volume %d: %w", volumeID, err)
	}
	for slice, packed := range predicted {
		if labelled[slice] {
			continue
		}
		out.Statuses[slice] = StatusPredicted
		if manualOnly {
			continue
		}
		mask, err := unpackMask(packed)
		if err != nil {
			return VolumeSegmentation{}, err
		}
		copy(out.Classes[slice*n:(slice+1)*n], mask)
	}
	return out, nil
}
