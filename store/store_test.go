package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/mriworkbench/workbench/nifti"
)

var ctx = context.Background()

const testMigrations = "../migrations"

func openStore(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir, os.DirFS(testMigrations))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newStore(t *testing.T) *Store { return openStore(t, t.TempDir()) }

var wmgm = []Class{{Name: "wm", Color: "#FFFF00"}, {Name: "gm", Color: "#ff0000"}}

func newProject(t *testing.T, s *Store, name string) Project {
	t.Helper()
	p, err := s.CreateProject(ctx, name, wmgm, nil)
	if err != nil {
		t.Fatalf("CreateProject: %v", err)
	}
	return p
}

// testGeometry is a small 4x3 grid with 5 axial slices.
var testGeometry = Geometry{
	Shape:       [3]int{4, 3, 5},
	Spacing:     [3]float64{0.5, 0.5, 2},
	Affine:      [4][4]float64{{0.5, 0, 0, -1}, {0, 0.5, 0, -2}, {0, 0, 2, -3}, {0, 0, 0, 1}},
	Orientation: nifti.Orientation{Perm: [3]int{0, 2, 1}, Flip: [3]bool{false, true, false}},
}

// filled returns a slice mask of testGeometry filled with class c, with voxel 0 set to class first.
func filled(first, c uint8) []uint8 {
	m := bytes.Repeat([]uint8{c}, testGeometry.SliceLen())
	m[0] = first
	return m
}

func importVolume(t *testing.T, s *Store, projectID int64, name string, labels ...SliceMask) VolumeMeta {
	t.Helper()
	v, err := s.ImportVolume(ctx, ImportRequest{
		ProjectID: projectID, Name: name, OriginalName: name + ".nii.gz",
		Original: strings.NewReader("original bytes of " + name), Geometry: testGeometry,
		Stats: IntensityStats{Min: 0, Max: 10, Mean: 5, Std: 2, P1: 0.5, P99: 9.5}, Labels: labels, Author: "importer",
	})
	if err != nil {
		t.Fatalf("ImportVolume: %v", err)
	}
	return v
}

func tables(t *testing.T, s *Store) []string {
	t.Helper()
	rows, err := s.db.Query(`SELECT name FROM sqlite_schema WHERE type IN ('table', 'view', 'index') AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		names = append(names, n)
	}
	return names
}

func userVersion(t *testing.T, s *Store) int {
	t.Helper()
	var v int
	if err := s.db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestOpenCreatesLayoutAndMigratesOnce(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	for _, sub := range []string{"workbench.db", "volumes", "models"} {
		if _, err := os.Stat(filepath.Join(dir, sub)); err != nil {
			t.Errorf("%s missing: %v", sub, err)
		}
	}
	if !filepath.IsAbs(s.DataDir()) {
		t.Errorf("DataDir %q is not absolute", s.DataDir())
	}
	migrations, _ := filepath.Glob(filepath.Join(testMigrations, "*.sql"))
	if got := userVersion(t, s); got != len(migrations) {
		t.Errorf("user_version = %d, want %d", got, len(migrations))
	}
	p := newProject(t, s, "kept")
	before := tables(t, s)
	s.Close()

	s2 := openStore(t, dir) // reopening applies nothing and keeps the data
	if got := tables(t, s2); strings.Join(got, ",") != strings.Join(before, ",") {
		t.Errorf("schema changed on reopen: %v -> %v", before, got)
	}
	if _, err := s2.Project(ctx, p.ID); err != nil {
		t.Errorf("project lost on reopen: %v", err)
	}
	if got := userVersion(t, s2); got != len(migrations) {
		t.Errorf("user_version after reopen = %d", got)
	}
}

func TestOpenPathWithSpecialCharacters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "my data #1?x=y")
	s := openStore(t, dir)
	newProject(t, s, "p")
	if _, err := os.Stat(filepath.Join(dir, "workbench.db")); err != nil {
		t.Errorf("database not at %s: %v", dir, err)
	}
}

func TestBrokenMigrationLeavesDatabaseUntouched(t *testing.T) {
	// The real migrations, then a broken one.
	good, _ := filepath.Glob(filepath.Join(testMigrations, "*.sql"))
	broken := fstest.MapFS{}
	for _, path := range good {
		body, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		broken[filepath.Base(path)] = &fstest.MapFile{Data: body}
	}
	brokenName := fmt.Sprintf("%04d_broken.sql", len(good)+1)
	broken[brokenName] = &fstest.MapFile{Data: []byte("CREATE TABLE half_done (x INTEGER);\nCREATE TABLE oops (;")}

	// On an empty database: no migration stays.
	dir := t.TempDir()
	if _, err := Open(dir, broken); err == nil || !strings.Contains(err.Error(), brokenName) {
		t.Fatalf("Open with a broken migration: err = %v, want one naming %s", err, brokenName)
	}
	s := openStore(t, dir) // the failed attempt left version 0: the good migration applies now
	if got := strings.Join(tables(t, s), ","); strings.Contains(got, "half_done") || !strings.Contains(got, "labels") {
		t.Errorf("tables after failed then good migration: %s", got)
	}
	s.Close()

	// On a migrated database with data: version, schema and data unchanged.
	dir2 := t.TempDir()
	s2 := openStore(t, dir2)
	newProject(t, s2, "p")
	before := tables(t, s2)
	s2.Close()
	if _, err := Open(dir2, broken); err == nil {
		t.Fatal("Open with a broken migration succeeded")
	}
	s3 := openStore(t, dir2)
	if got := tables(t, s3); strings.Join(got, ",") != strings.Join(before, ",") {
		t.Errorf("schema changed by a failed migration: %v -> %v", before, got)
	}
	if got := userVersion(t, s3); got != len(good) {
		t.Errorf("user_version = %d after failed migration, want %d", got, len(good))
	}
	if _, err := s3.ProjectByName(ctx, "p"); err != nil {
		t.Errorf("data lost: %v", err)
	}
}

func TestFirstOpenOfBrokenSchemaCreatesNothing(t *testing.T) {
	dir := t.TempDir()
	broken := fstest.MapFS{"0001_a.sql": {Data: []byte("CREATE TABLE a (x INTEGER); CREATE TABLE b (;")}}
	if _, err := Open(dir, broken); err == nil {
		t.Fatal("Open succeeded")
	}
	s, err := Open(dir, fstest.MapFS{"0001_a.sql": {Data: []byte("CREATE TABLE a (x INTEGER);")}})
	if err != nil {
		t.Fatalf("Open after failed migration: %v", err)
	}
	defer s.Close()
	if got := tables(t, s); strings.Join(got, ",") != "a" {
		t.Errorf("tables = %v, want [a]", got)
	}
}

func TestRefusesNewerDatabase(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	if _, err := s.db.Exec(`PRAGMA user_version = 99`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := Open(dir, os.DirFS(testMigrations))
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open newer database: err = %v, want ErrSchemaTooNew", err)
	}
}

func TestMigrationNamesChecked(t *testing.T) {
	for name, fsys := range map[string]fstest.MapFS{
		"gap":     {"0001_a.sql": {Data: []byte("SELECT 1;")}, "0003_c.sql": {Data: []byte("SELECT 1;")}},
		"unnamed": {"1_a.sql": {Data: []byte("SELECT 1;")}},
		"none":    {},
	} {
		if _, err := Open(t.TempDir(), fsys); err == nil {
			t.Errorf("%s: Open succeeded", name)
		}
	}
}

func TestEveryConnectionHasPragmas(t *testing.T) {
	s := newStore(t)
	// Hold several connections at once so the pool opens new ones.
	var conns []interface{ Close() error }
	for i := range 3 {
		c, err := s.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		var fk, busy int
		var journal string
		if err := c.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk); err != nil {
			t.Fatal(err)
		}
		c.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&journal)
		c.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&busy)
		if fk != 1 || journal != "wal" || busy <= 0 {
			t.Errorf("connection %d: foreign_keys=%d journal_mode=%s busy_timeout=%d", i, fk, journal, busy)
		}
	}
	for _, c := range conns {
		c.Close()
	}
}

func TestForeignKeysEnforced(t *testing.T) {
	s := newStore(t)
	_, err := s.db.Exec(`INSERT INTO volumes (project_id, name, original_file, original_name, sha256, nx, ny, nz,
		spacing, affine, orientation, stats, created_at) VALUES (999, 'v', 'f', 'f', '', 1, 1, 1, '[]', '[]', '{}', '{}', 0)`)
	if err == nil || !strings.Contains(err.Error(), "FOREIGN KEY") {
		t.Errorf("insert volume of missing project: err = %v, want a FOREIGN KEY failure", err)
	}
	p := newProject(t, s, "p")
	importVolume(t, s, p.ID, "v", SliceMask{Slice: 1, Mask: filled(1, 2)})
	if _, err := s.db.Exec(`DELETE FROM projects WHERE id = ?`, p.ID); err != nil {
		t.Fatal(err)
	}
	var n int
	s.db.QueryRow(`SELECT (SELECT COUNT(*) FROM volumes) + (SELECT COUNT(*) FROM labels)`).Scan(&n)
	if n != 0 {
		t.Errorf("deleting a project left %d volume and label rows (cascade)", n)
	}
}

// checkIntegrity runs SQLite's own consistency checks.
func checkIntegrity(t *testing.T, s *Store) {
	t.Helper()
	var res string
	if err := s.db.QueryRow(`PRAGMA integrity_check`).Scan(&res); err != nil || res != "ok" {
		t.Errorf("integrity_check = %q, %v", res, err)
	}
	rows, err := s.db.Query(`PRAGMA foreign_key_check`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if rows.Next() {
		t.Error("foreign_key_check reports violations")
	}
}

// Migration 0002 on a database of version 1: each project keeps the crop it trained with, now in crop_w/crop_h
// (the settings' crop if valid, else its preset's), the settings lose their copy, and a run left running by a
// version-1 process (no owner) is marked interrupted.
func TestMigrationMovesCropAndOwnsRuns(t *testing.T) {
	first, err := os.ReadFile(filepath.Join(testMigrations, "0001_init.sql"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	v1, err := Open(dir, fstest.MapFS{"0001_init.sql": {Data: first}})
	if err != nil {
		t.Fatal(err)
	}
	for _, settings := range []string{`{}`, `{"preset":"paper"}`, `{"crop_w":96,"crop_h":64,"epochs":2}`,
		`{"preset":"paper","crop_w":81}`} {
		if _, err := v1.db.Exec(`INSERT INTO projects (name, classes, settings, created_at) VALUES (?, '[]', ?, 0)`,
			settings, settings); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := v1.db.Exec(`INSERT INTO runs (project_id, status, created_at) VALUES (1, 'running', 0)`); err != nil {
		t.Fatal(err)
	}
	v1.Close()

	s := openStore(t, dir)
	want := []struct {
		w, h     int
		settings string
	}{{48, 48, `{}`}, {160, 160, `{"preset":"paper"}`}, {96, 64, `{"epochs":2}`}, {160, 160, `{"preset":"paper"}`}}
	for i, w := range want {
		var cw, ch int
		var settings string
		if err := s.db.QueryRow(`SELECT crop_w, crop_h, settings FROM projects WHERE id = ?`, i+1).Scan(&cw, &ch, &settings); err != nil {
			t.Fatal(err)
		}
		if cw != w.w || ch != w.h || settings != w.settings {
			t.Errorf("project %d: crop %dx%d settings %s, want %dx%d %s", i+1, cw, ch, settings, w.w, w.h, w.settings)
		}
	}
	if n, err := s.MarkInterruptedRuns(ctx); err != nil || n != 1 {
		t.Errorf("MarkInterruptedRuns after the migration: %d, %v", n, err)
	}
	checkIntegrity(t, s)
}
