package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"
)

// Class is a segmentation class. Background is implicit (mask value 0); Classes[i] is mask value i+1.
type Class struct {
	Name  string `json:"name"`
	Color string `json:"color"` // "#rrggbb"
}

// MaxClasses is the most classes a project may have (keys 1-9 pick them in the painter).
const MaxClasses = 9

// The training crop. A project's CropW/CropH are the one stored crop: training uses them unless a run's
// settings override them. The default is the fast default preset's crop (small crops centred on the labelled
// structures; inference covers whole slices); the paper's 160x160 centre crops must be set. Sides are
// multiples of CropStep, the rule the training engine checks (its networks pool three times).
const (
	DefaultCrop = 48
	CropStep    = 8
	MaxCrop     = 1024
)

// Project is a set of volumes segmented into the same classes.
type Project struct {
	ID      int64   `json:"id"`
	Name    string  `json:"name"`
	Classes []Class `json:"classes"`
	// CropW and CropH are the training crop (see DefaultCrop).
	CropW int `json:"cropW"`
	CropH int `json:"cropH"`
	// Settings are training settings, owned by the trainer. They never hold the crop: crop_w and crop_h given
	// here are moved to CropW and CropH.
	Settings json.RawMessage `json:"settings"`
	// ReadsMode is ReadsSingle (one label per slice, everyone edits it), ReadsMulti (each annotator's label
	// is a read of its own; a reviewer adjudicates) or ReadsBlind (ReadsMulti, and annotators see the others'
	// reads of a slice only once a reviewer has opened them).
	ReadsMode string    `json:"readsMode"`
	CreatedAt time.Time `json:"createdAt"`
}

// ClassNames are the project's class names, class 1 first.
func (p Project) ClassNames() []string {
	names := make([]string, len(p.Classes))
	for i, c := range p.Classes {
		names[i] = c.Name
	}
	return names
}

// ProjectSummary is a project with counts for listings.
type ProjectSummary struct {
	Project
	Volumes        int `json:"volumes"`
	Slices         int `json:"slices"`         // axial slices over all volumes
	LabelledSlices int `json:"labelledSlices"` // slices with a current label (verified or not)
}

// ProjectUpdate changes a project; nil fields stay as they are.
type ProjectUpdate struct {
	Name *string
	// Classes replaces the class list. Position keeps meaning (entry i is mask value i+1): classes may be
	// renamed, recoloured and appended; trailing classes may be dropped only while no current label and no
	// prediction of the active model uses them (exports and review would otherwise show a class that no longer
	// exists).
	Classes []Class
	// CropW and CropH change the training crop; crop_w/crop_h in Settings do too (CropW/CropH win).
	CropW    *int
	CropH    *int
	Settings json.RawMessage
	// ReadsMode switches between one label per slice and several annotators' reads (ReadsSingle, ReadsMulti,
	// ReadsBlind). Reads already made are kept when switching back to single.
	ReadsMode *string
}

var (
	colorPattern = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)
	// Class names appear in CLI flags (--classes wm,gm, --mask gm=FILE) and export file names.
	classNamePattern = regexp.MustCompile(`^[\pL\pN][\pL\pN _.-]{0,39}$`)
)

func validateProjectName(name string) error {
	switch {
	case name == "":
		return invalid("project name is empty")
	case name != strings.TrimSpace(name):
		return invalid("project name %q has leading or trailing spaces", name)
	case len(name) > 100:
		return invalid("project name is longer than 100 characters")
	case strings.ContainsAny(name, "/\\") || strings.ContainsFunc(name, isControl):
		return invalid("project name %q contains a slash or a control character", name)
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// normalizeClasses validates classes and returns them with lower-case colours.
func normalizeClasses(classes []Class) ([]Class, error) {
	if len(classes) < 1 || len(classes) > MaxClasses {
		return nil, invalid("a project needs 1 to %d classes, got %d", MaxClasses, len(classes))
	}
	out := make([]Class, len(classes))
	seen := map[string]bool{"background": true}
	for i, c := range classes {
		if !classNamePattern.MatchString(c.Name) {
			return nil, invalid("class name %q: use 1-40 letters, digits, spaces, '.', '_' or '-', starting with a letter or digit", c.Name)
		}
		key := strings.ToLower(c.Name)
		if seen[key] {
			if key == "background" {
				return nil, invalid("class name %q is reserved (background is implicit)", c.Name)
			}
			return nil, invalid("class name %q is used twice", c.Name)
		}
		seen[key] = true
		if !colorPattern.MatchString(c.Color) {
			return nil, invalid("class %q: colour %q is not #rrggbb", c.Name, c.Color)
		}
		out[i] = Class{Name: c.Name, Color: strings.ToLower(c.Color)}
	}
	return out, nil
}

func validateCrop(w, h int) error {
	for _, v := range []int{w, h} {
		if v < CropStep || v > MaxCrop || v%CropStep != 0 {
			return invalid("crop size %dx%d: each side must be a multiple of %d from %d to %d", w, h, CropStep, CropStep, MaxCrop)
		}
	}
	return nil
}

// takeCrop moves the crop_w and crop_h keys of settings (a JSON object) into *w and *h, so the crop is stored
// once, and returns the settings without them.
func takeCrop(settings json.RawMessage, w, h *int) (json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(settings, &obj); err != nil {
		return nil, invalid("settings must be a JSON object")
	}
	found := false
	for key, dst := range map[string]*int{"crop_w": w, "crop_h": h} {
		raw, ok := obj[key]
		if !ok {
			continue
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return nil, invalid("setting %s must be an integer", key)
		}
		delete(obj, key)
		found = true
	}
	if !found {
		return settings, nil
	}
	out, err := json.Marshal(obj)
	return out, err
}

// normalizeSettings returns settings as a JSON object ("{}" when empty).
func normalizeSettings(what string, raw json.RawMessage) (json.RawMessage, error) {
	if len(raw) == 0 {
		return json.RawMessage("{}"), nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return nil, invalid("%s must be a JSON object", what)
	}
	return raw, nil
}

// CreateProject creates a project, with the default crop unless settings hold crop_w/crop_h.
func (s *Store) CreateProject(ctx context.Context, name string, classes []Class, settings json.RawMessage) (Project, error) {
	if err := validateProjectName(name); err != nil {
		return Project{}, err
	}
	classes, err := normalizeClasses(classes)
	if err != nil {
		return Project{}, err
	}
	if settings, err = normalizeSettings("project settings", settings); err != nil {
		return Project{}, err
	}
	cropW, cropH := DefaultCrop, DefaultCrop
	if settings, err = takeCrop(settings, &cropW, &cropH); err != nil {
		return Project{}, err
	}
	if err := validateCrop(cropW, cropH); err != nil {
		return Project{}, err
	}
	classJSON, _ := json.Marshal(classes)
	res, err := s.db.ExecContext(ctx,
		`INSERT INTO projects (name, classes, crop_w, crop_h, settings, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		name, string(classJSON), cropW, cropH, string(settings), s.stamp())
	if isUnique(err) {
		return Project{}, fmt.Errorf("%w: project %q already exists", ErrConflict, name)
	}
	if err != nil {
		return Project{}, fmt.Errorf("create project: %w", err)
	}
	id, _ := res.LastInsertId()
	return s.Project(ctx, id)
}

const projectColumns = `p.id, p.name, p.classes, p.crop_w, p.crop_h, p.settings, p.reads_mode, p.created_at`

func scanProject(row rowScanner, extra ...any) (Project, error) {
	var p Project
	var classes, settings string
	var created int64
	if err := row.Scan(append([]any{&p.ID, &p.Name, &classes, &p.CropW, &p.CropH, &settings, &p.ReadsMode, &created}, extra...)...); err != nil {
		return Project{}, err
	}
	if err := json.Unmarshal([]byte(classes), &p.Classes); err != nil {
		return Project{}, fmt.Errorf("project %d: classes: %w", p.ID, err)
	}
	p.Settings = json.RawMessage(settings)
	p.CreatedAt = fromMillis(created)
	return p, nil
}

// Project returns the project with the given id.
func (s *Store) Project(ctx context.Context, id int64) (Project, error) {
	return projectByID(ctx, s.db, id)
}

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func projectByID(ctx context.Context, q querier, id int64) (Project, error) {
	p, err := scanProject(q.QueryRowContext(ctx, `SELECT `+projectColumns+` FROM projects p WHERE p.id = ?`, id))
	return p, notFound(err, "project %d", id)
}

// ProjectByName returns the project with the given name.
func (s *Store) ProjectByName(ctx context.Context, name string) (Project, error) {
	p, err := scanProject(s.db.QueryRowContext(ctx, `SELECT `+projectColumns+` FROM projects p WHERE p.name = ?`, name))
	return p, notFound(err, "project %q", name)
}

// Projects lists all projects by name, with their volume, slice and labelled-slice counts.
func (s *Store) Projects(ctx context.Context) ([]ProjectSummary, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT `+projectColumns+`,
			(SELECT COUNT(*) FROM volumes v WHERE v.project_id = p.id),
			(SELECT COALESCE(SUM(v.nz), 0) FROM volumes v WHERE v.project_id = p.id),
			(SELECT COUNT(*) FROM current_labels c JOIN volumes v ON v.id = c.volume_id
				WHERE v.project_id = p.id AND c.deleted = 0)
		FROM projects p ORDER BY p.name`)
	if err != nil {
		return nil, fmt.Errorf("list projects: %w", err)
	}
	defer rows.Close()
	var out []ProjectSummary
	for rows.Next() {
		var ps ProjectSummary
		if ps.Project, err = scanProject(rows, &ps.Volumes, &ps.Slices, &ps.LabelledSlices); err != nil {
			return nil, fmt.Errorf("list projects: %w", err)
		}
		out = append(out, ps)
	}
	return out, rows.Err()
}

// UpdateProject applies the non-nil fields of u and returns the updated project.
func (s *Store) UpdateProject(ctx context.Context, id int64, u ProjectUpdate) (Project, error) {
	var out Project
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		p, err := projectByID(ctx, tx, id)
		if err != nil {
			return err
		}
		if u.Name != nil {
			if err := validateProjectName(*u.Name); err != nil {
				return err
			}
			p.Name = *u.Name
		}
		if u.Classes != nil {
			classes, err := normalizeClasses(u.Classes)
			if err != nil {
				return err
			}
			if len(classes) < len(p.Classes) {
				if err := checkClassesUnused(ctx, tx, id, len(classes)); err != nil {
					return err
				}
			}
			p.Classes = classes
		}
		if u.Settings != nil {
			if p.Settings, err = normalizeSettings("project settings", u.Settings); err != nil {
				return err
			}
			if p.Settings, err = takeCrop(p.Settings, &p.CropW, &p.CropH); err != nil {
				return err
			}
		}
		if u.CropW != nil {
			p.CropW = *u.CropW
		}
		if u.CropH != nil {
			p.CropH = *u.CropH
		}
		if err := validateCrop(p.CropW, p.CropH); err != nil {
			return err
		}
		if u.ReadsMode != nil {
			if !validReadsMode(*u.ReadsMode) {
				return invalid("readsMode %q: want single, multi or blind", *u.ReadsMode)
			}
			p.ReadsMode = *u.ReadsMode
		}
		classJSON, _ := json.Marshal(p.Classes)
		_, err = tx.ExecContext(ctx, `UPDATE projects SET name = ?, classes = ?, crop_w = ?, crop_h = ?, settings = ?, reads_mode = ? WHERE id = ?`,
			p.Name, string(classJSON), p.CropW, p.CropH, string(p.Settings), p.ReadsMode, id)
		if isUnique(err) {
			return fmt.Errorf("%w: project %q already exists", ErrConflict, p.Name)
		}
		if err != nil {
			return fmt.Errorf("update project %d: %w", id, err)
		}
		out = p
		return nil
	})
	return out, err
}

// checkClassesUnused refuses when a current label or a prediction of the active model in the project has a
// value above maxClass.
func checkClassesUnused(ctx context.Context, q querier, projectID int64, maxClass int) error {
	rows, err := q.QueryContext(ctx, `
		SELECT 0, v.name, c.slice, c.mask FROM current_labels c JOIN volumes v ON v.id = c.volume_id
		WHERE v.project_id = ?1 AND c.deleted = 0
		UNION ALL
		SELECT 1, v.name, pr.slice, pr.mask FROM predictions pr JOIN volumes v ON v.id = pr.volume_id
		JOIN models m ON m.id = pr.model_id AND m.active = 1
		WHERE m.project_id = ?1`, projectID)
	if err != nil {
		return fmt.Errorf("check class use: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var prediction bool
		var volume string
		var slice int
		var packed []byte
		if err := rows.Scan(&prediction, &volume, &slice, &packed); err != nil {
			return fmt.Errorf("check class use: %w", err)
		}
		mask, err := unpackMask(packed)
		if err != nil {
			return err
		}
		for _, v := range mask {
			if int(v) <= maxClass {
				continue
			}
			if prediction {
				return fmt.Errorf("%w: cannot remove class %d: the active model predicts it on volume %q slice %d; "+
					"train a model without it or make another model active first", ErrConflict, v, volume, slice)
			}
			return fmt.Errorf("%w: cannot remove class %d: volume %q slice %d uses it", ErrConflict, v, volume, slice)
		}
	}
	return rows.Err()
}

// DeleteProject removes a project with its volumes, labels, runs, models and predictions, then their files.
// It is refused (ErrConflict) while a run of the project is queued or running, so a job never writes into a
// project that no longer exists.
func (s *Store) DeleteProject(ctx context.Context, id int64) error {
	if _, err := s.Project(ctx, id); err != nil {
		return err
	}
	if run, err := s.ActiveRun(ctx, id); err == nil {
		return fmt.Errorf("project %d has run %d in progress: %w", id, run.ID, ErrConflict)
	} else if !errors.Is(err, ErrNotFound) {
		return err
	}
	var files []string
	rows, err := s.db.QueryContext(ctx, `SELECT original_file FROM volumes WHERE project_id = ?
		UNION ALL SELECT file FROM models WHERE project_id = ?`, id, id)
	if err != nil {
		return fmt.Errorf("project %d files: %w", id, err)
	}
	for rows.Next() {
		var f string
		if err := rows.Scan(&f); err != nil {
			rows.Close()
			return err
		}
		files = append(files, f)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	res, err := s.db.ExecContext(ctx, `DELETE FROM projects WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete project %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("project %d: %w", id, ErrNotFound)
	}
	// Rows go first: a crash between the two leaves orphan files, never rows pointing at missing files.
	for _, f := range files {
		if err := os.Remove(s.abs(f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", f, err)
		}
	}
	return nil
}
