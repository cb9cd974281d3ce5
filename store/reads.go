package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Reads modes of a project (Project.ReadsMode).
const (
	ReadsSingle = "single"
	ReadsMulti  = "multi"
	ReadsBlind  = "blind"
)

func validReadsMode(m string) bool { return m == ReadsSingle || m == ReadsMulti || m == ReadsBlind }

// Read is one version of one annotator's label of a slice, in a project with several annotators per slice.
// Reads are versioned per annotator: each edits only its own, so two annotators never conflict.
type Read struct {
	VolumeID  int64     `json:"volumeId"`
	Slice     int       `json:"slice"`
	Annotator string    `json:"annotator"`
	Version   int       `json:"version"`
	Mask      []uint8   `json:"mask,omitempty"`
	Deleted   bool      `json:"deleted"`
	CreatedAt time.Time `json:"createdAt"`
}

// SaveRead stores a new version of the annotator's read of a slice on top of base (0: none yet); mask nil
// deletes the read.
func (s *Store) SaveRead(ctx context.Context, volumeID int64, slice, base int, annotator string, mask []uint8) (Read, error) {
	if annotator == "" {
		return Read{}, invalid("a read needs an annotator")
	}
	if err := validateAuthor(annotator); err != nil {
		return Read{}, err
	}
	var out Read
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		v, err := volumeByID(ctx, tx, volumeID)
		if err != nil {
			return err
		}
		p, err := projectByID(ctx, tx, v.ProjectID)
		if err != nil {
			return err
		}
		var packed []byte
		if mask != nil {
			if packed, err = checkMask(v.Geometry, len(p.Classes), slice, mask); err != nil {
				return err
			}
		} else if slice < 0 || slice >= v.Shape[2] {
			return invalid("slice %d is outside the volume's %d slices", slice, v.Shape[2])
		}
		var current int
		var deleted bool
		err = tx.QueryRowContext(ctx, `SELECT version, deleted FROM annotator_reads WHERE volume_id = ? AND slice = ? AND annotator = ?
			ORDER BY version DESC LIMIT 1`, volumeID, slice, annotator).Scan(&current, &deleted)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("read annotator read: %w", err)
		}
		if base != current {
			return &StaleVersionError{VolumeID: volumeID, Slice: slice, Base: base, Current: current}
		}
		if mask == nil && (current == 0 || deleted) {
			return fmt.Errorf("%w: %s has no read of slice %d", ErrNotFound, annotator, slice)
		}
		now := s.stamp()
		_, err = tx.ExecContext(ctx, `INSERT INTO annotator_reads (volume_id, slice, annotator, version, mask, deleted, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, volumeID, slice, annotator, current+1, packed, mask == nil, now)
		if isUnique(err) {
			return &StaleVersionError{VolumeID: volumeID, Slice: slice, Base: base, Current: current + 1}
		}
		if err != nil {
			return fmt.Errorf("save read: %w", err)
		}
		out = Read{VolumeID: volumeID, Slice: slice, Annotator: annotator, Version: current + 1, Mask: mask,
			Deleted: mask == nil, CreatedAt: fromMillis(now)}
		return nil
	})
	return out, err
}

const readColumns = `r.volume_id, r.slice, r.annotator, r.version, r.mask, r.deleted, r.created_at`

func scanRead(row rowScanner) (Read, error) {
	var r Read
	var packed []byte
	var created int64
	if err := row.Scan(&r.VolumeID, &r.Slice, &r.Annotator, &r.Version, &packed, &r.Deleted, &created); err != nil {
		return Read{}, err
	}
	r.CreatedAt = fromMillis(created)
	if packed != nil {
		mask, err := unpackMask(packed)
		if err != nil {
			return Read{}, err
		}
		r.Mask = mask
	}
	return r, nil
}

func (s *Store) queryReads(ctx context.Context, query string, args ...any) ([]Read, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read reads: %w", err)
	}
	defer rows.Close()
	var out []Read
	for rows.Next() {
		r, err := scanRead(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// currentReads selects each annotator's newest version of a read.
const currentReads = `SELECT ` + readColumns + ` FROM annotator_reads r WHERE r.version =
	(SELECT MAX(h.version) FROM annotator_reads h WHERE h.volume_id = r.volume_id AND h.slice = r.slice AND h.annotator = r.annotator)`

// AnnotatorRead is the annotator's current read of a slice (possibly a deletion); ErrNotFound when it never
// read the slice.
func (s *Store) AnnotatorRead(ctx context.Context, volumeID int64, slice int, annotator string) (Read, error) {
	reads, err := s.queryReads(ctx, currentReads+` AND r.volume_id = ? AND r.slice = ? AND r.annotator = ?`, volumeID, slice, annotator)
	if err != nil {
		return Read{}, err
	}
	if len(reads) == 0 {
		return Read{}, fmt.Errorf("%w: %s has no read of slice %d", ErrNotFound, annotator, slice)
	}
	return reads[0], nil
}

// ReadHistory is every version of the annotator's read of a slice, oldest first.
func (s *Store) ReadHistory(ctx context.Context, volumeID int64, slice int, annotator string) ([]Read, error) {
	return s.queryReads(ctx, `SELECT `+readColumns+` FROM annotator_reads r WHERE r.volume_id = ? AND r.slice = ? AND r.annotator = ?
		ORDER BY r.version`, volumeID, slice, annotator)
}

// SliceReads are the live current reads of a slice, one per annotator, by annotator name.
func (s *Store) SliceReads(ctx context.Context, volumeID int64, slice int) ([]Read, error) {
	return s.queryReads(ctx, currentReads+` AND r.volume_id = ? AND r.slice = ? AND r.deleted = 0 ORDER BY r.annotator`, volumeID, slice)
}

// ProjectReads are the live current reads of every slice of a project, by volume, slice and annotator.
func (s *Store) ProjectReads(ctx context.Context, projectID int64) ([]Read, error) {
	return s.queryReads(ctx, currentReads+` AND r.deleted = 0 AND r.volume_id IN (SELECT id FROM volumes WHERE project_id = ?)
		ORDER BY r.volume_id, r.slice, r.annotator`, projectID)
}

// ReadSummary is what a volume's slice has in reads: who read it, and whether a reviewer has opened them.
type ReadSummary struct {
	Slice      int      `json:"slice"`
	Annotators []string `json:"annotators"`
	Revealed   bool     `json:"revealed"`
}

// VolumeReads summarises the reads of every slice of a volume that has any, by slice.
func (s *Store) VolumeReads(ctx context.Context, volumeID int64) ([]ReadSummary, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT r.slice, r.annotator, EXISTS (SELECT 1 FROM read_reveals x WHERE x.volume_id = r.volume_id AND x.slice = r.slice)
		FROM (`+currentReads+` AND r.volume_id = ? AND r.deleted = 0) r ORDER BY r.slice, r.annotator`, volumeID)
	if err != nil {
		return nil, fmt.Errorf("read reads: %w", err)
	}
	defer rows.Close()
	out := []ReadSummary{}
	for rows.Next() {
		var z int
		var who string
		var revealed bool
		if err := rows.Scan(&z, &who, &revealed); err != nil {
			return nil, err
		}
		if n := len(out); n == 0 || out[n-1].Slice != z {
			out = append(out, ReadSummary{Slice: z, Revealed: revealed})
		}
		out[len(out)-1].Annotators = append(out[len(out)-1].Annotators, who)
	}
	return out, rows.Err()
}

// RevealReads records that a reviewer opened a slice's reads: in blind mode, annotators may now see them.
func (s *Store) RevealReads(ctx context.Context, volumeID int64, slice int, reviewer string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO read_reveals (volume_id, slice, revealed_by, revealed_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (volume_id, slice) DO NOTHING`, volumeID, slice, reviewer, s.stamp())
		return err
	})
}

// ReadsRevealed reports whether a reviewer has opened the slice's reads.
func (s *Store) ReadsRevealed(ctx context.Context, volumeID int64, slice int) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM read_reveals WHERE volume_id = ? AND slice = ?`, volumeID, slice).Scan(&n)
	return n > 0, err
}

// VolumeAnnotatorReads are the annotator's current reads of every slice of a volume (deletions included),
// without masks.
func (s *Store) VolumeAnnotatorReads(ctx context.Context, volumeID int64, annotator string) ([]Read, error) {
	return s.queryReads(ctx, `SELECT r.volume_id, r.slice, r.annotator, r.version, NULL, r.deleted, r.created_at
		FROM annotator_reads r WHERE r.volume_id = ? AND r.annotator = ? AND r.version =
		(SELECT MAX(h.version) FROM annotator_reads h WHERE h.volume_id = r.volume_id AND h.slice = r.slice AND h.annotator = r.annotator)
		ORDER BY r.slice`, volumeID, annotator)
}
