package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/mriworkbench/workbench/internal/atomicfile"
	"github.com/mriworkbench/workbench/nifti"
)

// Geometry places a volume's canonical RAS+ grid: axial slices are planes of constant axis 2, each
// Shape[0]*Shape[1] voxels with axis 0 fastest.
type Geometry struct {
	Shape       [3]int            `json:"shape"`
	Spacing     [3]float64        `json:"spacing"` // mm
	Affine      [4][4]float64     `json:"affine"`  // canonical voxel index -> world (RAS mm)
	Orientation nifti.Orientation `json:"orientation"`
}

// GeometryOf returns the geometry of a canonical volume read with the given orientation.
func GeometryOf(v *nifti.Volume, o nifti.Orientation) Geometry {
	return Geometry{Shape: v.Shape, Spacing: v.Spacing, Affine: v.Affine, Orientation: o}
}

// SliceLen is the number of voxels in an axial slice.
func (g Geometry) SliceLen() int { return g.Shape[0] * g.Shape[1] }

// IntensityStats summarise a volume's voxel values; P1 and P99 give the viewer's default window.
type IntensityStats struct {
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
	Std  float64 `json:"std"`
	P1   float64 `json:"p1"`
	P99  float64 `json:"p99"`
}

// VolumeMeta describes a stored volume.
type VolumeMeta struct {
	ID           int64  `json:"id"`
	ProjectID    int64  `json:"projectId"`
	Name         string `json:"name"`
	OriginalFile string `json:"originalFile"` // relative to the data directory, under volumes/
	OriginalName string `json:"originalName"` // the uploaded file's name
	SHA256       string `json:"sha256"`       // of the original file
	Geometry
	Stats     IntensityStats `json:"stats"`
	CreatedAt time.Time      `json:"createdAt"`
}

// Slice statuses, in the order a slice moves through them.
const (
	StatusUnlabelled = "unlabelled" // no label, no prediction from the active model
	StatusPredicted  = "predicted"  // no label, a prediction from the active model
	StatusEmpty      = "empty"      // no label, a prediction from the active model that found nothing
	StatusLabelled   = "labelled"   // a current label, not verified
	StatusVerified   = "verified"   // a current label marked verified
)

// SliceCounts counts a volume's slices by status; they add up to the number of slices.
type SliceCounts struct {
	Unlabelled int `json:"unlabelled"`
	Predicted  int `json:"predicted"` // with a structure found; Empty counts those where the model found nothing
	Empty      int `json:"empty"`
	Labelled   int `json:"labelled"`
	Verified   int `json:"verified"`
}

// VolumeSummary is a volume with its slice counts.
type VolumeSummary struct {
	VolumeMeta
	Counts SliceCounts `json:"counts"`
}

// SliceMask is a class-index mask for one axial slice.
type SliceMask struct {
	Slice int
	Mask  []uint8
}

// ImportRequest stores a new volume: its original file, verbatim, and its canonical geometry and statistics,
// with optional initial labels.
type ImportRequest struct {
	ProjectID    int64
	Name         string    // unique within the project
	OriginalName string    // e.g. "sub-01_T2w.nii.gz"; its extension is kept
	Original     io.Reader // the original file's bytes
	Geometry     Geometry
	Stats        IntensityStats
	Labels       []SliceMask // manual labels, version 1
	Author       string
}

var extPattern = regexp.MustCompile(`^(\.[a-z0-9]{1,8}){1,2}$`)

// storedExt returns the file extension to keep: ".nii.gz", ".nii", or a short lower-case one.
func storedExt(name string) string {
	lower := strings.ToLower(path.Base(filepath.ToSlash(name)))
	if strings.HasSuffix(lower, ".nii.gz") {
		return ".nii.gz"
	}
	if ext := path.Ext(lower); extPattern.MatchString(ext) {
		return ext
	}
	return ".bin"
}

// ValidateVolumeName refuses names a volume cannot have: a volume's name names its export directory.
func ValidateVolumeName(name string) error {
	switch {
	case name == "":
		return invalid("volume name is empty")
	case name == "." || name == "..":
		return invalid("volume name %q cannot name a directory; rename the file", name)
	case name != strings.TrimSpace(name):
		return invalid("volume name %q has leading or trailing spaces", name)
	case len(name) > 200:
		return invalid("volume name is longer than 200 characters")
	case strings.ContainsAny(name, "/\\") || strings.ContainsFunc(name, isControl):
		return invalid("volume name %q contains a slash or a control character", name)
	}
	return nil
}

// ValidateGeometry refuses a geometry ImportVolume would refuse (a *ValidationError), for importers that check
// several volumes before storing any.
func ValidateGeometry(g Geometry) error { return validateGeometry(g) }

func validateGeometry(g Geometry) error {
	for _, n := range g.Shape {
		if n <= 0 {
			return invalid("volume shape %v has a non-positive size", g.Shape)
		}
	}
	if g.Shape[0] > 4096 || g.Shape[1] > 4096 || g.Shape[2] > 4096 {
		return invalid("volume shape %v is larger than 4096 along an axis", g.Shape)
	}
	for _, sp := range g.Spacing {
		if !(sp > 0) || math.IsInf(sp, 0) {
			return invalid("voxel spacing %v is not positive and finite", g.Spacing)
		}
	}
	for _, row := range g.Affine {
		for _, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return invalid("affine has a non-finite entry")
			}
		}
	}
	var seen [3]bool
	for _, p := range g.Orientation.Perm {
		if p < 0 || p > 2 || seen[p] {
			return invalid("orientation permutation %v is not a permutation of 0, 1, 2", g.Orientation.Perm)
		}
		seen[p] = true
	}
	return nil
}

// ImportVolume stores a volume atomically: the original is written to a temporary file, the rows and labels
// are inserted in one transaction, and the file is renamed into volumes/ before commit; on any failure no row
// and no file remain.
func (s *Store) ImportVolume(ctx context.Context, req ImportRequest) (VolumeMeta, error) {
	if err := ValidateVolumeName(req.Name); err != nil {
		return VolumeMeta{}, err
	}
	if err := validateGeometry(req.Geometry); err != nil {
		return VolumeMeta{}, err
	}
	if err := validateAuthor(req.Author); err != nil {
		return VolumeMeta{}, err
	}
	if req.Original == nil {
		return VolumeMeta{}, invalid("volume %q has no file", req.Name)
	}
	if ext := path.Ext(strings.TrimSuffix(strings.ToLower(req.OriginalName), ".gz")); ext == ".hdr" || ext == ".img" {
		// One stored file must be the whole image: half of a pair cannot be read back.
		return VolumeMeta{}, invalid("%s is half of an Analyze/NIfTI pair: store it as a single .nii file", req.OriginalName)
	}
	tmp, sum, err := s.writePartial(volumesDir, req.Original)
	if err != nil {
		return VolumeMeta{}, err
	}
	defer os.Remove(tmp) // a no-op once renamed

	var id int64
	var final string
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		p, err := projectByID(ctx, tx, req.ProjectID)
		if err != nil {
			return err
		}
		g := req.Geometry
		spacing, _ := json.Marshal(g.Spacing)
		affine, _ := json.Marshal(g.Affine)
		orientation, _ := json.Marshal(g.Orientation)
		stats, err := json.Marshal(req.Stats)
		if err != nil {
			return invalid("volume %q: intensity statistics are not finite", req.Name)
		}
		now := s.stamp()
		// The file name needs the row id, so insert with a unique placeholder and set it after.
		res, err := tx.ExecContext(ctx, `
			INSERT INTO volumes (project_id, name, original_file, original_name, sha256, nx, ny, nz,
				spacing, affine, orientation, stats, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			p.ID, req.Name, filepath.Base(tmp), path.Base(filepath.ToSlash(req.OriginalName)), sum,
			g.Shape[0], g.Shape[1], g.Shape[2], string(spacing), string(affine), string(orientation), string(stats), now)
		if isUnique(err) {
			return fmt.Errorf("%w: volume %q already exists in project %q", ErrConflict, req.Name, p.Name)
		}
		if err != nil {
			return fmt.Errorf("insert volume: %w", err)
		}
		id, _ = res.LastInsertId()
		final = storedFileName(volumesDir, id, storedExt(req.OriginalName))
		if _, err := tx.ExecContext(ctx, `UPDATE volumes SET original_file = ? WHERE id = ?`, final, id); err != nil {
			return fmt.Errorf("insert volume: %w", err)
		}
		seen := map[int]bool{}
		for _, l := range req.Labels {
			if seen[l.Slice] {
				return invalid("volume %q: slice %d is labelled twice", req.Name, l.Slice)
			}
			seen[l.Slice] = true
			packed, err := checkMask(g, len(p.Classes), l.Slice, l.Mask)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `
				INSERT INTO labels (volume_id, slice, version, mask, author, origin, verified, deleted, created_at)
				VALUES (?, ?, 1, ?, ?, ?, 0, 0, ?)`, id, l.Slice, packed, req.Author, OriginManual, now); err != nil {
				return fmt.Errorf("insert label: %w", err)
			}
		}
		if err := atomicfile.Rename(tmp, s.abs(final)); err != nil {
			return fmt.Errorf("store volume file: %w", err)
		}
		return nil
	})
	if err != nil {
		if final != "" {
			os.Remove(s.abs(final)) // renamed but not committed
		}
		return VolumeMeta{}, err
	}
	return s.Volume(ctx, id)
}

// writePartial copies r into a new read-only temporary file in dir (relative to the data directory), synced
// to disk, and returns its absolute path and the SHA-256 of its content.
func (s *Store) writePartial(dir string, r io.Reader) (tmpPath, sum string, err error) {
	return s.writePartialFunc(dir, func(w io.Writer) error {
		_, err := io.Copy(w, r)
		return err
	})
}

func (s *Store) writePartialFunc(dir string, write func(io.Writer) error) (tmpPath, sum string, err error) {
	h := sha256.New()
	// The writer's pid in the name tells Open (in any process) whether the file is still being written.
	// Stored files are immutable: read-only.
	tmpPath, err = atomicfile.WriteTemp(s.abs(dir), fmt.Sprintf("%s%d-*", tempPrefix, os.Getpid()), 0o444,
		func(w io.Writer) error { return write(io.MultiWriter(w, h)) })
	if err != nil {
		return "", "", fmt.Errorf("write file: %w", err)
	}
	return tmpPath, hex.EncodeToString(h.Sum(nil)), nil
}

// abs turns a path relative to the data directory into an absolute one.
func (s *Store) abs(rel string) string { return filepath.Join(s.dataDir, filepath.FromSlash(rel)) }

// OriginalPath is the absolute path of a volume's original file.
func (s *Store) OriginalPath(v VolumeMeta) string { return s.abs(v.OriginalFile) }

const volumeColumns = `v.id, v.project_id, v.name, v.original_file, v.original_name, v.sha256, v.nx, v.ny, v.nz,
	v.spacing, v.affine, v.orientation, v.stats, v.created_at`

func scanVolume(row rowScanner, extra ...any) (VolumeMeta, error) {
	var v VolumeMeta
	var spacing, affine, orientation, stats string
	var created int64
	dest := []any{&v.ID, &v.ProjectID, &v.Name, &v.OriginalFile, &v.OriginalName, &v.SHA256,
		&v.Shape[0], &v.Shape[1], &v.Shape[2], &spacing, &affine, &orientation, &stats, &created}
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return VolumeMeta{}, err
	}
	for _, f := range []struct {
		text string
		dst  any
	}{{spacing, &v.Spacing}, {affine, &v.Affine}, {orientation, &v.Orientation}, {stats, &v.Stats}} {
		if err := json.Unmarshal([]byte(f.text), f.dst); err != nil {
			return VolumeMeta{}, fmt.Errorf("volume %d: %w", v.ID, err)
		}
	}
	v.CreatedAt = fromMillis(created)
	return v, nil
}

// Volume returns the volume with the given id.
func (s *Store) Volume(ctx context.Context, id int64) (VolumeMeta, error) {
	return volumeByID(ctx, s.db, id)
}

func volumeByID(ctx context.Context, q querier, id int64) (VolumeMeta, error) {
	v, err := scanVolume(q.QueryRowContext(ctx, `SELECT `+volumeColumns+` FROM volumes v WHERE v.id = ?`, id))
	return v, notFound(err, "volume %d", id)
}

// Volumes lists a project's volumes by name with their slice counts.
func (s *Store) Volumes(ctx context.Context, projectID int64) ([]VolumeSummary, error) {
	if _, err := s.Project(ctx, projectID); err != nil {
		return nil, err
	}
	// Empty predictions are told by their packed mask, which depends on the slice length: the statement gets
	// the empty mask of each slice length of the project's volumes (a volume imported meanwhile has no
	// predictions yet).
	args, empties, err := s.emptyMasksOf(ctx, projectID)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `WITH empty(n, mask) AS (`+empties+`)
		SELECT `+volumeColumns+`,
			(SELECT COUNT(*) FROM current_labels c WHERE c.volume_id = v.id AND c.deleted = 0 AND c.verified = 0),
			(SELECT COUNT(*) FROM current_labels c WHERE c.volume_id = v.id AND c.deleted = 0 AND c.verified = 1),
			(SELECT COUNT(*) FROM predictions pr JOIN models m ON m.id = pr.model_id AND m.active = 1
				WHERE pr.volume_id = v.id AND NOT EXISTS (SELECT 1 FROM current_labels c
					WHERE c.volume_id = v.id AND c.slice = pr.slice AND c.deleted = 0)),
			(SELECT COUNT(*) FROM predictions pr JOIN models m ON m.id = pr.model_id AND m.active = 1
				JOIN empty e ON e.n = v.nx * v.ny AND e.mask = pr.mask
				WHERE pr.volume_id = v.id AND NOT EXISTS (SELECT 1 FROM current_labels c
					WHERE c.volume_id = v.id AND c.slice = pr.slice AND c.deleted = 0))
		FROM volumes v WHERE v.project_id = ? ORDER BY v.name`, append(args, projectID)...)
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	defer rows.Close()
	var out []VolumeSummary
	for rows.Next() {
		var vs VolumeSummary
		c := &vs.Counts
		if vs.VolumeMeta, err = scanVolume(rows, &c.Labelled, &c.Verified, &c.Predicted, &c.Empty); err != nil {
			return nil, fmt.Errorf("list volumes: %w", err)
		}
		c.Predicted -= c.Empty
		c.Unlabelled = vs.Shape[2] - c.Labelled - c.Verified - c.Predicted - c.Empty
		out = append(out, vs)
	}
	return out, rows.Err()
}

// emptyMasksOf returns a VALUES clause of (slice length, packed empty mask) for each slice length of the
// project's volumes, and its arguments; with no volume, a clause that yields no row.
func (s *Store) emptyMasksOf(ctx context.Context, projectID int64) ([]any, string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT nx * ny FROM volumes WHERE project_id = ?`, projectID)
	if err != nil {
		return nil, "", fmt.Errorf("list volumes: %w", err)
	}
	defer rows.Close()
	var args []any
	var values []string
	for rows.Next() {
		var n int
		if err := rows.Scan(&n); err != nil {
			return nil, "", fmt.Errorf("list volumes: %w", err)
		}
		args = append(args, n, emptyMask(n))
		values = append(values, "(?, ?)")
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list volumes: %w", err)
	}
	if len(values) == 0 {
		return nil, "SELECT NULL, NULL WHERE 0", nil
	}
	return args, "VALUES " + strings.Join(values, ", "), nil
}

// DeleteVolume deletes a volume, its labels and predictions, and its original file.
func (s *Store) DeleteVolume(ctx context.Context, id int64) error {
	v, err := s.Volume(ctx, id)
	if err != nil {
		return err
	}
	res, err := s.db.ExecContext(ctx, `DELETE FROM volumes WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete volume %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("volume %d: %w", id, ErrNotFound)
	}
	if err := os.Remove(s.OriginalPath(v)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove volume file: %w", err)
	}
	return nil
}

// SliceState is what a viewer needs to know of one axial slice, without its masks.
type SliceState struct {
	Slice  int    `json:"slice"`
	Status string `json:"status"` // StatusUnlabelled, StatusLabelled, StatusPredicted, StatusEmpty or StatusVerified
	// LabelVersion is the slice's current label version, a deletion's tombstone included (the next label
	// write is based on it); 0 if the slice never had a label.
	LabelVersion int    `json:"labelVersion"`
	Verified     bool   `json:"verified"`
	Deleted      bool   `json:"deleted"`          // the current version is a tombstone: no live label
	Origin       string `json:"origin,omitempty"` // of the current version
	Author       string `json:"author,omitempty"` // of the current version
	// Uncertainty is the active model's prediction's uncertainty; nil without one.
	Uncertainty     *float64 `json:"uncertainty,omitempty"`
	emptyPrediction bool     // the active model's prediction found nothing
}

// Labelled reports whether the slice has a live (not deleted) label.
func (st SliceState) Labelled() bool { return st.LabelVersion > 0 && !st.Deleted }

// SliceStates returns the state of each axial slice of a volume (index = slice), read in one statement (one
// consistent snapshot) without decompressing any mask.
func (s *Store) SliceStates(ctx context.Context, volumeID int64) ([]SliceState, error) {
	v, err := s.Volume(ctx, volumeID)
	if err != nil {
		return nil, err
	}
	out := make([]SliceState, v.Shape[2])
	for i := range out {
		out[i] = SliceState{Slice: i, Status: StatusUnlabelled}
	}
	rows, err := s.db.QueryContext(ctx, `
		SELECT l.slice, l.version, l.verified, l.deleted, l.origin, l.author, NULL, NULL FROM labels l
		WHERE l.volume_id = ?1 AND l.version = (SELECT MAX(h.version) FROM labels h
			WHERE h.volume_id = ?1 AND h.slice = l.slice)
		UNION ALL
		SELECT pr.slice, NULL, NULL, NULL, NULL, NULL, pr.uncertainty, pr.mask = ?2 FROM predictions pr
		JOIN models m ON m.id = pr.model_id AND m.active = 1
		WHERE pr.volume_id = ?1`, volumeID, emptyMask(v.SliceLen()))
	if err != nil {
		return nil, fmt.Errorf("slice states: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var slice int
		var version sql.NullInt64
		var verified, deleted sql.NullBool
		var origin, author sql.NullString
		var uncertainty sql.NullFloat64
		var empty sql.NullBool
		if err := rows.Scan(&slice, &version, &verified, &deleted, &origin, &author, &uncertainty, &empty); err != nil {
			return nil, fmt.Errorf("slice states: %w", err)
		}
		if slice < 0 || slice >= len(out) {
			continue
		}
		st := &out[slice]
		if uncertainty.Valid {
			u := uncertainty.Float64
			st.Uncertainty, st.emptyPrediction = &u, empty.Bool
		} else {
			st.LabelVersion, st.Verified, st.Deleted = int(version.Int64), verified.Bool, deleted.Bool
			st.Origin, st.Author = origin.String, author.String
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("slice states: %w", err)
	}
	for i := range out {
		out[i].Status = out[i].status()
	}
	return out, nil
}

// status is the slice's status: a live label decides, else the active model's prediction.
func (st SliceState) status() string {
	switch {
	case st.Labelled() && st.Verified:
		return StatusVerified
	case st.Labelled():
		return StatusLabelled
	case st.Uncertainty != nil && st.emptyPrediction:
		return StatusEmpty
	case st.Uncertainty != nil:
		return StatusPredicted
	}
	return StatusUnlabelled
}
