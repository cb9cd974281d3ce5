package store

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"math"
	"sync"
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
	Empty       bool    `json:"empty"` // the model found nothing on the slice (status StatusEmpty)
}

// SavePredictions stores a model's predictions in one transaction, replacing any it had for the same slices.
// Each prediction's ModelID is ignored in favour of modelID. Predictions of a volume deleted meanwhile are
// dropped with it.
func (s *Store) SavePredictions(ctx context.Context, modelID int64, preds []Prediction) error {
	m, err := s.Model(ctx, modelID)
	if err != nil {
		return err
	}
	packed, err := s.packPredictions(ctx, m.ProjectID, preds)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := modelByID(ctx, tx, modelID); err != nil {
			return err
		}
		return insertPredictions(ctx, tx, m.ProjectID, modelID, packed, s.stamp())
	})
}

// packedPrediction is a checked prediction, its mask packed for storage.
type packedPrediction struct {
	volumeID    int64
	slice       int
	mask        []byte
	uncertainty float64
}

// packPredictions checks predictions against their volumes (in the project) and packs their masks, outside
// any transaction: compressing is the slow part, and a write transaction holds up every label save.
func (s *Store) packPredictions(ctx context.Context, projectID int64, preds []Prediction) ([]packedPrediction, error) {
	if len(preds) == 0 {
		return nil, nil
	}
	p, err := s.Project(ctx, projectID)
	if err != nil {
		return nil, err
	}
	volumes := map[int64]VolumeMeta{}
	out := make([]packedPrediction, 0, len(preds))
	for _, pr := range preds {
		v, ok := volumes[pr.VolumeID]
		if !ok {
			if v, err = volumeByID(ctx, s.db, pr.VolumeID); err != nil {
				return nil, err
			}
			if v.ProjectID != projectID {
				return nil, invalid("volume %d is not in project %d", pr.VolumeID, projectID)
			}
			volumes[pr.VolumeID] = v
		}
		packed, err := checkMask(v.Geometry, len(p.Classes), pr.Slice, pr.Mask)
		if err != nil {
			return nil, err
		}
		if math.IsNaN(pr.Uncertainty) || math.IsInf(pr.Uncertainty, 0) {
			return nil, invalid("volume %d slice %d: uncertainty is not finite", pr.VolumeID, pr.Slice)
		}
		out = append(out, packedPrediction{volumeID: pr.VolumeID, slice: pr.Slice, mask: packed, uncertainty: pr.Uncertainty})
	}
	return out, nil
}

// insertPredictions stores packed predictions of the project's volumes under modelID, replacing any the model
// had for the same slices; those of volumes no longer in the project (deleted since they were packed) are
// left out.
func insertPredictions(ctx context.Context, tx *sql.Tx, projectID, modelID int64, preds []packedPrediction, now int64) error {
	if len(preds) == 0 {
		return nil
	}
	live := map[int64]bool{}
	rows, err := tx.QueryContext(ctx, `SELECT id FROM volumes WHERE project_id = ?`, projectID)
	if err != nil {
		return fmt.Errorf("save predictions: %w", err)
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return fmt.Errorf("save predictions: %w", err)
		}
		live[id] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("save predictions: %w", err)
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT OR REPLACE INTO predictions
		(model_id, volume_id, slice, mask, uncertainty, created_at) VALUES (?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("save predictions: %w", err)
	}
	defer stmt.Close()
	for _, pr := range preds {
		if !live[pr.volumeID] {
			continue
		}
		if _, err := stmt.ExecContext(ctx, modelID, pr.volumeID, pr.slice, pr.mask, pr.uncertainty, now); err != nil {
			return fmt.Errorf("save predictions: %w", err)
		}
	}
	return nil
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

// ReviewQueue returns up to limit unlabelled slices of the project that the active model predicted, in the
// QueueSpread order, slices where the model found nothing last. Empty when the project has no active model.
func (s *Store) ReviewQueue(ctx context.Context, projectID int64, limit int) ([]QueueItem, error) {
	return s.ReviewQueueBy(ctx, projectID, limit, QueueSpread)
}

// ReviewQueueBy is ReviewQueue in the given order (QueueSpread or QueueUncertainty, see OrderReviewQueue).
func (s *Store) ReviewQueueBy(ctx context.Context, projectID int64, limit int, order string) ([]QueueItem, error) {
	if _, err := s.Project(ctx, projectID); err != nil {
		return nil, err
	}
	// Candidates and labelled slices in one statement, one snapshot.
	rows, err := s.db.QueryContext(ctx, `
		SELECT 1, pr.volume_id, v.name, v.nx * v.ny, v.nz, pr.slice, pr.uncertainty, pr.mask
		FROM predictions pr
		JOIN models m ON m.id = pr.model_id AND m.active = 1 AND m.project_id = ?1
		JOIN volumes v ON v.id = pr.volume_id
		WHERE NOT EXISTS (SELECT 1 FROM current_labels c
			WHERE c.volume_id = pr.volume_id AND c.slice = pr.slice AND c.deleted = 0)
		UNION ALL
		SELECT 0, c.volume_id, NULL, NULL, NULL, c.slice, NULL, NULL FROM current_labels c
		JOIN volumes v ON v.id = c.volume_id AND v.project_id = ?1
		WHERE c.deleted = 0`, projectID)
	if err != nil {
		return nil, fmt.Errorf("review queue: %w", err)
	}
	defer rows.Close()
	var candidates []QueueItem
	labelled := map[int64][]int{}
	nz := map[int64]int{}
	for rows.Next() {
		var candidate bool
		var q QueueItem
		var name sql.NullString
		var sliceLen, slices sql.NullInt64
		var uncertainty sql.NullFloat64
		var packed []byte
		if err := rows.Scan(&candidate, &q.VolumeID, &name, &sliceLen, &slices, &q.Slice, &uncertainty, &packed); err != nil {
			return nil, fmt.Errorf("review queue: %w", err)
		}
		if !candidate {
			labelled[q.VolumeID] = append(labelled[q.VolumeID], q.Slice)
			continue
		}
		q.VolumeName, q.Uncertainty = name.String, uncertainty.Float64
		q.Empty = isEmptyMask(packed, int(sliceLen.Int64))
		nz[q.VolumeID] = int(slices.Int64)
		candidates = append(candidates, q)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("review queue: %w", err)
	}
	return OrderReviewQueue(candidates, labelled, nz, order, limit), nil
}

// emptyMasks holds, by slice length, the packed all-background mask: packing is deterministic, so a
// prediction where the model found nothing is recognised by comparing bytes, without unpacking its mask.
var emptyMasks sync.Map // int -> []byte

// emptyMask is the packed all-background mask of a slice of n pixels.
func emptyMask(n int) []byte {
	empty, ok := emptyMasks.Load(n)
	if !ok {
		empty, _ = emptyMasks.LoadOrStore(n, packMask(make([]uint8, n)))
	}
	return empty.([]byte)
}

// isEmptyMask reports whether a packed mask of a slice of n pixels is all background.
func isEmptyMask(packed []byte, n int) bool {
	return n > 0 && bytes.Equal(packed, emptyMask(n))
}

// VolumeSegmentation is a volume's class map and the status of each of its slices, from one snapshot.
type VolumeSegmentation struct {
	Volume   VolumeMeta
	Classes  []uint8  // canonical grid, axis 0 fastest, one slice after another
	Statuses []string // by slice, as SliceStates says (predicted and empty slices say so even when manualOnly left them out)
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
		SELECT 1, pr.slice, 0, pr.mask FROM predictions pr
		JOIN models m ON m.id = pr.model_id AND m.active = 1
		WHERE pr.volume_id = ?1`, volumeID)
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
		if isEmptyMask(packed, n) {
			out.Statuses[slice] = StatusEmpty
		}
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
