package store

import (
	"bytes"
	"compress/zlib"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// synchronous is SQLite's sync mode for every connection. FULL syncs the write-ahead log at each commit, so a
// label save acknowledged to its annotator survives a power cut; NORMAL syncs only at checkpoints and can lose
// the last commits to one. FULL costs about 0.7 ms more per save on this machine's disk (p50 2.5 ms against
// 1.8 ms, BenchmarkSaveLabel320), small next to a browser round trip. A variable only so that the benchmarks
// can measure NORMAL beside it.
var synchronous = "FULL"

// writeWait bounds how long a write transaction waits for its turn, as SQLite's busy timeout (the DSN's
// _busy_timeout) bounds the wait for another process's write lock.
const writeWait = 10 * time.Second

// writeQueue gives this process's write transactions the database's one write lock in turn, in arrival order.
// Left to SQLite, a writer that finds the lock taken sleeps and polls (1, 2, 5 ... 100 ms), so under 20
// annotators saving at once some saves waited 2 s while others passed them (BenchmarkSaveLabel320Annotators:
// p99 1.8 s without the queue, 50-65 ms with it). Writers in other processes still meet the busy timeout.
// The zero value is ready to use.
type writeQueue struct {
	once sync.Once
	turn chan struct{} // holds a token while a write transaction runs
}

// wait blocks until it is the caller's turn to write and returns the function that ends the turn.
func (q *writeQueue) wait(ctx context.Context) (done func(), err error) {
	q.once.Do(func() { q.turn = make(chan struct{}, 1) })
	done = func() { <-q.turn }
	select {
	case q.turn <- struct{}{}:
		return done, nil
	default:
	}
	timer := time.NewTimer(writeWait)
	defer timer.Stop()
	select { // blocked senders on a channel are served in arrival order
	case q.turn <- struct{}{}:
		return done, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("begin transaction: %w", ctx.Err())
	case <-timer.C:
		return nil, fmt.Errorf("begin transaction: database is busy: another write of this process took over %v", writeWait)
	}
}

// Label origins.
const (
	OriginManual       = "manual"       // painted by a person
	OriginPrediction   = "prediction"   // a model's prediction accepted as the label
	OriginInterpolated = "interpolated" // filled between labelled slices and accepted
	OriginAdjudicated  = "adjudicated"  // a reviewer's decision between several annotators' reads
	OriginConsensus    = "consensus"    // majority vote or STAPLE of several annotators' reads
)

// knownOrigin reports whether a label may be stored with this origin.
func knownOrigin(origin string) bool {
	switch origin {
	case OriginManual, OriginPrediction, OriginInterpolated, OriginAdjudicated, OriginConsensus:
		return true
	}
	return false
}

// Label is one version of an axial slice's class-index mask (Shape[0]*Shape[1] bytes, axis 0 fastest,
// 0 = background, i = Classes[i-1]). A Deleted label is a tombstone: the slice is unlabelled, Mask is nil.
type Label struct {
	VolumeID  int64     `json:"volumeId"`
	Slice     int       `json:"slice"`
	Version   int       `json:"version"`
	Mask      []uint8   `json:"mask,omitempty"`
	Author    string    `json:"author"`
	Origin    string    `json:"origin"`
	Verified  bool      `json:"verified"`
	Deleted   bool      `json:"deleted"`
	CreatedAt time.Time `json:"createdAt"`
}

// LabelWrite is a new version of a slice's label.
type LabelWrite struct {
	VolumeID    int64
	Slice       int
	BaseVersion int // the version this edit started from; 0 when the slice has never had a label
	Mask        []uint8
	Author      string
	Origin      string // OriginManual (default when empty) or another of the Origin constants
	Verified    bool
}

// packMask compresses a mask for storage; masks are mostly runs, so zlib shrinks them 50-100 times.
func packMask(mask []uint8) []byte {
	var buf bytes.Buffer
	w, _ := zlib.NewWriterLevel(&buf, zlib.BestSpeed)
	w.Write(mask) // writes to a bytes.Buffer cannot fail
	w.Close()
	return buf.Bytes()
}

func unpackMask(packed []byte) ([]uint8, error) {
	r, err := zlib.NewReader(bytes.NewReader(packed))
	if err != nil {
		return nil, fmt.Errorf("stored mask: %w", err)
	}
	mask, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("stored mask: %w", err)
	}
	return mask, nil
}

// checkMask validates a mask for a slice of a volume with the given number of classes and returns it packed.
func checkMask(g Geometry, classes, slice int, mask []uint8) ([]byte, error) {
	if slice < 0 || slice >= g.Shape[2] {
		return nil, invalid("slice %d is outside the volume's %d slices", slice, g.Shape[2])
	}
	if len(mask) != g.SliceLen() {
		return nil, invalid("mask has %d values, a %dx%d slice needs %d", len(mask), g.Shape[0], g.Shape[1], g.SliceLen())
	}
	for i, v := range mask {
		if int(v) > classes {
			return nil, invalid("mask value %d at voxel %d is not a class (the project has %d)", v, i, classes)
		}
	}
	return packMask(mask), nil
}

func validateAuthor(author string) error {
	if len(author) > 100 || strings.ContainsFunc(author, isControl) {
		return invalid("author name is longer than 100 characters or contains a control character")
	}
	return nil
}

// labelRow is a stored label version, its mask still packed.
type labelRow struct {
	version  int
	packed   []byte
	origin   string
	verified bool
	deleted  bool
}

// SaveLabel stores a new version of a slice's label, refusing (with a *StaleVersionError) when BaseVersion is
// not the slice's current version.
func (s *Store) SaveLabel(ctx context.Context, w LabelWrite) (Label, error) {
	if w.Origin == "" {
		w.Origin = OriginManual
	}
	if !knownOrigin(w.Origin) {
		return Label{}, invalid("label origin %q is not one of manual, prediction, interpolated, adjudicated, consensus", w.Origin)
	}
	return s.newVersion(ctx, w.VolumeID, w.Slice, w.BaseVersion, w.Author,
		func(v VolumeMeta, classes int, _ *labelRow) (labelRow, error) {
			packed, err := checkMask(v.Geometry, classes, w.Slice, w.Mask)
			return labelRow{packed: packed, origin: w.Origin, verified: w.Verified}, err
		})
}

// DeleteLabel stores a tombstone version: the slice becomes unlabelled, its history stays.
func (s *Store) DeleteLabel(ctx context.Context, volumeID int64, slice, baseVersion int, author string) (Label, error) {
	return s.newVersion(ctx, volumeID, slice, baseVersion, author,
		func(_ VolumeMeta, _ int, cur *labelRow) (labelRow, error) {
			if cur == nil {
				return labelRow{}, noLabel(volumeID, slice)
			}
			return labelRow{origin: cur.origin, deleted: true}, nil
		})
}

// SetVerified stores a new version with the same mask and the given verified flag.
func (s *Store) SetVerified(ctx context.Context, volumeID int64, slice, baseVersion int, verified bool, author string) (Label, error) {
	return s.newVersion(ctx, volumeID, slice, baseVersion, author,
		func(_ VolumeMeta, _ int, cur *labelRow) (labelRow, error) {
			if cur == nil {
				return labelRow{}, noLabel(volumeID, slice)
			}
			return labelRow{packed: cur.packed, origin: cur.origin, verified: verified}, nil
		})
}

func noLabel(volumeID int64, slice int) error {
	return fmt.Errorf("volume %d slice %d has no label: %w", volumeID, slice, ErrNotFound)
}

// newVersion inserts the version that next derives from the slice's live label (nil when it has none or it
// was deleted), in one transaction, after checking the base version.
func (s *Store) newVersion(ctx context.Context, volumeID int64, slice, base int, author string,
	next func(v VolumeMeta, classes int, cur *labelRow) (labelRow, error)) (Label, error) {
	if err := validateAuthor(author); err != nil {
		return Label{}, err
	}
	var out Label
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		v, err := volumeByID(ctx, tx, volumeID)
		if err != nil {
			return err
		}
		p, err := projectByID(ctx, tx, v.ProjectID)
		if err != nil {
			return err
		}
		if slice < 0 || slice >= v.Shape[2] {
			return invalid("slice %d is outside the volume's %d slices", slice, v.Shape[2])
		}
		cur, err := currentLabelRow(ctx, tx, volumeID, slice)
		if err != nil {
			return err
		}
		current := 0
		if cur != nil {
			current = cur.version
		}
		if base != current {
			return &StaleVersionError{VolumeID: volumeID, Slice: slice, Base: base, Current: current}
		}
		live := cur
		if cur != nil && cur.deleted {
			live = nil
		}
		row, err := next(v, len(p.Classes), live)
		if err != nil {
			return err
		}
		now := s.stamp()
		_, err = tx.ExecContext(ctx, `
			INSERT INTO labels (volume_id, slice, version, mask, author, origin, verified, deleted, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			volumeID, slice, current+1, row.packed, author, row.origin, row.verified, row.deleted, now)
		if isUnique(err) { // another writer got there first despite the write lock (e.g. a second process)
			return &StaleVersionError{VolumeID: volumeID, Slice: slice, Base: base, Current: current + 1}
		}
		if err != nil {
			return fmt.Errorf("save label: %w", err)
		}
		out = Label{VolumeID: volumeID, Slice: slice, Version: current + 1, Author: author, Origin: row.origin,
			Verified: row.verified, Deleted: row.deleted, CreatedAt: fromMillis(now)}
		if !row.deleted {
			out.Mask, err = unpackMask(row.packed)
		}
		return err
	})
	return out, err
}

// currentLabelRow returns the slice's current version, or nil when it never had a label.
func currentLabelRow(ctx context.Context, q querier, volumeID int64, slice int) (*labelRow, error) {
	var r labelRow
	err := q.QueryRowContext(ctx, `
		SELECT version, mask, origin, verified, deleted FROM labels
		WHERE volume_id = ? AND slice = ? ORDER BY version DESC LIMIT 1`, volumeID, slice).
		Scan(&r.version, &r.packed, &r.origin, &r.verified, &r.deleted)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read label: %w", err)
	}
	return &r, nil
}

const labelColumns = `l.volume_id, l.slice, l.version, l.mask, l.author, l.origin, l.verified, l.deleted, l.created_at`

// labelMetaColumns reads a label without its mask (scanLabel then leaves Mask nil).
const labelMetaColumns = `l.volume_id, l.slice, l.version, NULL, l.author, l.origin, l.verified, l.deleted, l.created_at`

func scanLabel(row rowScanner) (Label, error) {
	var l Label
	var packed []byte
	var created int64
	if err := row.Scan(&l.VolumeID, &l.Slice, &l.Version, &packed, &l.Author, &l.Origin, &l.Verified, &l.Deleted, &created); err != nil {
		return Label{}, err
	}
	l.CreatedAt = fromMillis(created)
	if packed != nil {
		mask, err := unpackMask(packed)
		if err != nil {
			return Label{}, err
		}
		l.Mask = mask
	}
	return l, nil
}

func (s *Store) queryLabels(ctx context.Context, query string, args ...any) ([]Label, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read labels: %w", err)
	}
	defer rows.Close()
	var out []Label
	for rows.Next() {
		l, err := scanLabel(rows)
		if err != nil {
			return nil, fmt.Errorf("read labels: %w", err)
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// Label returns a slice's current label version, which may be a tombstone (Deleted, no mask: the slice is
// unlabelled, and the next SaveLabel is based on this version). ErrNotFound if the slice never had a label.
func (s *Store) Label(ctx context.Context, volumeID int64, slice int) (Label, error) {
	if _, err := s.Volume(ctx, volumeID); err != nil {
		return Label{}, err
	}
	l, err := scanLabel(s.db.QueryRowContext(ctx, `SELECT `+labelColumns+` FROM labels l
		WHERE l.volume_id = ? AND l.slice = ? ORDER BY l.version DESC LIMIT 1`, volumeID, slice))
	return l, notFound(err, "volume %d slice %d label", volumeID, slice)
}

// LabelVersion returns one version of a slice's label.
func (s *Store) LabelVersion(ctx context.Context, volumeID int64, slice, version int) (Label, error) {
	l, err := scanLabel(s.db.QueryRowContext(ctx, `SELECT `+labelColumns+` FROM labels l
		WHERE l.volume_id = ? AND l.slice = ? AND l.version = ?`, volumeID, slice, version))
	return l, notFound(err, "volume %d slice %d label version %d", volumeID, slice, version)
}

// Labels returns the current labels of a volume's labelled slices, by slice.
func (s *Store) Labels(ctx context.Context, volumeID int64) ([]Label, error) {
	if _, err := s.Volume(ctx, volumeID); err != nil {
		return nil, err
	}
	return s.queryLabels(ctx, `SELECT `+labelColumns+` FROM current_labels l
		WHERE l.volume_id = ? AND l.deleted = 0 ORDER BY l.slice`, volumeID)
}

// LabelHistory returns every version of a slice's label, newest first, without masks (LabelVersion reads one
// version's mask): a long history costs no decompression.
func (s *Store) LabelHistory(ctx context.Context, volumeID int64, slice int) ([]Label, error) {
	if _, err := s.Volume(ctx, volumeID); err != nil {
		return nil, err
	}
	return s.queryLabels(ctx, `SELECT `+labelMetaColumns+` FROM labels l
		WHERE l.volume_id = ? AND l.slice = ? ORDER BY l.version DESC`, volumeID, slice)
}

// ProjectLabels returns the current labels of every labelled slice of a project's volumes, by volume and
// slice: the training set.
func (s *Store) ProjectLabels(ctx context.Context, projectID int64) ([]Label, error) {
	if _, err := s.Project(ctx, projectID); err != nil {
		return nil, err
	}
	return s.queryLabels(ctx, `SELECT `+labelColumns+` FROM current_labels l JOIN volumes v ON v.id = l.volume_id
		WHERE v.project_id = ? AND l.deleted = 0 ORDER BY l.volume_id, l.slice`, projectID)
}
