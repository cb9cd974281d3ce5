package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
)

// AlreadyLabelledError refuses labels for slices that have a label already (unless replacing); it names them
// all, and is an ErrConflict.
type AlreadyLabelledError struct {
	VolumeID int64
	Slices   []int
}

func (e *AlreadyLabelledError) Error() string {
	names := make([]string, len(e.Slices))
	for i, z := range e.Slices {
		names[i] = strconv.Itoa(z)
	}
	if len(names) == 1 {
		return fmt.Sprintf("volume %d: slice %s already has a label", e.VolumeID, names[0])
	}
	return fmt.Sprintf("volume %d: slices %s already have labels", e.VolumeID, strings.Join(names, ", "))
}

func (e *AlreadyLabelledError) Unwrap() error { return ErrConflict }

// SaveSliceLabels stores manual labels for several slices of a volume in one transaction: all of them or, on
// any refusal, none. Slices with a current label are refused together (*AlreadyLabelledError) unless
// replace, which stores a new version on top of each (the history keeps the old ones); a deleted label
// counts as none. It returns the new versions, without their masks.
func (s *Store) SaveSliceLabels(ctx context.Context, volumeID int64, labels []SliceMask, author string, replace bool) ([]Label, error) {
	if err := validateAuthor(author); err != nil {
		return nil, err
	}
	var out []Label
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		v, err := volumeByID(ctx, tx, volumeID)
		if err != nil {
			return err
		}
		p, err := projectByID(ctx, tx, v.ProjectID)
		if err != nil {
			return err
		}
		packed := make([][]byte, len(labels))
		current := make([]int, len(labels))
		seen := map[int]bool{}
		var labelled []int
		for i, l := range labels {
			if seen[l.Slice] {
				return invalid("slice %d is labelled twice", l.Slice)
			}
			seen[l.Slice] = true
			if packed[i], err = checkMask(v.Geometry, len(p.Classes), l.Slice, l.Mask); err != nil {
				return err
			}
			cur, err := currentLabelRow(ctx, tx, volumeID, l.Slice)
			if err != nil {
				return err
			}
			if cur != nil {
				current[i] = cur.version
				if !cur.deleted {
					labelled = append(labelled, l.Slice)
				}
			}
		}
		if len(labelled) > 0 && !replace {
			return &AlreadyLabelledError{VolumeID: volumeID, Slices: labelled}
		}
		now := s.stamp()
		for i, l := range labels {
			if _, err := tx.ExecContext(ctx, `
				INSERT INTO labels (volume_id, slice, version, mask, author, origin, verified, deleted, created_at)
				VALUES (?, ?, ?, ?, ?, ?, 0, 0, ?)`,
				volumeID, l.Slice, current[i]+1, packed[i], author, OriginManual, now); err != nil {
				return fmt.Errorf("save label: %w", err)
			}
			out = append(out, Label{VolumeID: volumeID, Slice: l.Slice, Version: current[i] + 1, Author: author,
				Origin: OriginManual, CreatedAt: fromMillis(now)})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
