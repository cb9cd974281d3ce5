package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"
)

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

// VolumeSegmentation is a volume's class map and the status of each of its slices, from one snapshot.
type VolumeSegmentation struct {
	Volume   VolumeMeta
	Classes  []uint8  // canonical grid, axis 0 fastest, one slice after another
	Statuses []string // by slice, as SliceStates says (predicted slices say so even when manualOnly left them out)
}

// Segmentation reads a volume's class map on its canonical grid (axis 0 fastest, one slice after another) for
// export, each slice's current label, else (unless manualOnly) the active model's prediction, else background,
// and its slice statuses, in one statement, so
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
