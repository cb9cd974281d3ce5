// Package store keeps the workbench's state in SQLite (DATA/workbench.db) and its files under the data directory:
// immutable original uploads in DATA/volumes/, model files in DATA/models/, and the directory's identity in
// DATA/IDENTITY.
//
// Open applies the numbered migrations (NNNN_name.sql) in one transaction, tracking the schema version in
// PRAGMA user_version, and refuses a database written by a newer binary. Every connection runs in WAL mode with
// foreign keys on, a busy timeout, and write transactions that take the write lock at BEGIN.
//
// Errors: ErrNotFound, ErrConflict and ErrStaleVersion are wrapped with context (test with errors.Is); a stale
// label write returns a *StaleVersionError carrying the current version; invalid input returns a
// *ValidationError whose message is one user-facing line.
//
// Files: projects.go, volumes.go (originals and slice states), labels.go (versions), runs.go, models.go
// (model versions and their files), predictions.go (predictions, the review queue and the combined
// segmentation that exports read), identity.go (the data directory's identity, the checks Open makes before
// using a directory, and the names of stored files), backup.go (backup archives and restore).
//
// Runs and partial files are owned by the process that makes them (Process: pid, host, start identity), since
// a server and CLI commands may share a data directory: a run is taken for dead only when its owner on this
// host has exited or its heartbeat is older than the stale limit, and Open removes only the partial files of
// writers that are gone.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"
)

// Directories and files under the data directory.
const (
	dbFile     = "workbench.db"
	volumesDir = "volumes"
	modelsDir  = "models"
	tempPrefix = ".partial-" // files being written, named .partial-PID-RANDOM; see removePartialFiles
)

// partialMaxAge is the age after which a partial file is removed even if a process with its writer's pid runs
// (the pid was reused, or the writer is on another host): a live writer keeps its file's mtime fresh, and no
// write takes this long.
const partialMaxAge = time.Hour

var (
	// ErrNotFound: the project, volume, label, run or model does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a duplicate name, or a state change the current state forbids.
	ErrConflict = errors.New("conflict")
	// ErrStaleVersion: a label write based on a version that is no longer current.
	ErrStaleVersion = errors.New("stale label version")
	// ErrSchemaTooNew: the database was written by a newer workbench.
	ErrSchemaTooNew = errors.New("database schema is newer than this workbench")
)

// ValidationError is invalid input; its message is one line meant for the user.
type ValidationError struct{ Msg string }

func (e *ValidationError) Error() string { return e.Msg }

// OneLine keeps a message to the one line promised to users (CLI, HTTP bodies, run errors).
func OneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func invalid(format string, args ...any) error {
	return &ValidationError{Msg: fmt.Sprintf(format, args...)}
}

// StaleVersionError is returned by label writes whose base version is not the slice's current version.
type StaleVersionError struct {
	VolumeID int64
	Slice    int
	Base     int // the version the write was based on
	Current  int // the slice's current version (0: no label)
}

func (e *StaleVersionError) Error() string {
	return fmt.Sprintf("volume %d slice %d: edit based on version %d but the current version is %d: %v",
		e.VolumeID, e.Slice, e.Base, e.Current, ErrStaleVersion)
}

func (e *StaleVersionError) Unwrap() error { return ErrStaleVersion }

// Store is the workbench's database and data directory.
type Store struct {
	db      *sql.DB
	dataDir string
	// owner is this process, recorded on the runs it creates and on the partial files it writes.
	owner         Process
	runStaleAfter time.Duration
	info          OpenInfo // what Open found (identity.go)
	writeIdentity bool     // Open is to write DATA/IDENTITY after its transaction commits

	writes writeQueue // this process's write transactions take turns (labels.go)
}

// Option changes how Open opens a store.
type Option func(*openOptions)

type openOptions struct{ fullCheck bool }

// WithFullIntegrityCheck makes Open run PRAGMA integrity_check, which also checks every index against its
// table, instead of quick_check; it reads the whole database either way, and takes longer.
func WithFullIntegrityCheck() Option { return func(o *openOptions) { o.fullCheck = true } }

// Open opens (creating if needed) the data directory and its database, checks the database (PRAGMA
// quick_check, or integrity_check WithFullIntegrityCheck), migrates the schema to the latest of migrations
// (files NNNN_name.sql at the root of the FS) and checks the directory's identity (identity.go). A directory
// it refuses (its database lost, emptied, another directory's or damaged) gives a *RefusedError, and is left
// as it was.
func Open(dataDir string, migrations fs.FS, opts ...Option) (*Store, error) {
	var o openOptions
	for _, opt := range opts {
		opt(&o)
	}
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, fmt.Errorf("data directory %s: %w", dataDir, err)
	}
	steps, err := loadMigrations(migrations)
	if err != nil {
		return nil, err
	}
	if err := refuseLostDatabase(abs); err != nil {
		return nil, err
	}
	if err := checkWritable(abs); err != nil {
		return nil, err
	}
	for _, dir := range []string{abs, filepath.Join(abs, volumesDir), filepath.Join(abs, modelsDir)} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create data directory: %w", err)
		}
	}

	// Parameters in the DSN apply to every connection the pool opens, not just the first.
	params := url.Values{}
	params.Set("_journal_mode", "WAL")
	params.Set("_foreign_keys", "on")
	params.Set("_busy_timeout", "10000")
	// FULL (see synchronous): an acknowledged save survives a power cut.
	params.Set("_synchronous", synchronous)
	params.Set("_txlock", "immediate") // writers queue at BEGIN instead of failing on lock upgrade
	dsn := (&url.URL{Scheme: "file", Path: filepath.Join(abs, dbFile), RawQuery: params.Encode()}).String()
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	s := &Store{db: db, dataDir: abs, owner: CurrentProcess(), runStaleAfter: DefaultRunStaleAfter}
	if err := s.open(steps, o); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// open checks and migrates the database, then completes the identity and removes what crashed writers left.
func (s *Store) open(steps []migration, o openOptions) error {
	ctx := context.Background()
	if err := s.checkIntegrity(ctx, o.fullCheck); err != nil {
		return err
	}
	if err := s.migrate(steps); err != nil {
		return err
	}
	if s.writeIdentity {
		if err := writeIdentityFile(s.dataDir, s.info.Identity); err != nil {
			return fmt.Errorf("record identity: %w", err)
		}
	}
	for _, dir := range []string{s.dataDir, s.abs(volumesDir), s.abs(modelsDir)} {
		if err := removePartialFiles(dir); err != nil {
			return err
		}
	}
	return s.recoverModelFiles(ctx) // models.go: model files of saves a crash cut short
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// DataDir is the absolute path of the data directory.
func (s *Store) DataDir() string { return s.dataDir }

// removePartialFiles removes the partial files that a crash left behind: those whose writer (the pid in the
// name) no longer runs, and those older than partialMaxAge. Another live process's files stay, since it may be
// about to rename them into place.
func removePartialFiles(dir string) error { return removeStaleFiles(dir, tempPrefix) }

// removeStaleFiles removes the entries of dir named PREFIX + PID + "-..." (files, or a restore's staging
// directory) whose writer is gone, as removePartialFiles says.
func removeStaleFiles(dir, prefix string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read %s: %w", dir, err)
	}
	host, _ := os.Hostname()
	for _, e := range entries {
		name, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok {
			continue
		}
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) { // its writer renamed or removed it meanwhile
			continue
		}
		if err != nil {
			return fmt.Errorf("partial file: %w", err)
		}
		pidText, _, named := strings.Cut(name, "-")
		pid, err := strconv.Atoi(pidText)
		writerGone := named && err == nil && !(Process{PID: pid, Host: host}).Alive()
		if !writerGone && time.Since(info.ModTime()) < partialMaxAge {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove partial file: %w", err)
		}
	}
	return nil
}

type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads NNNN_name.sql files, which must be numbered 1, 2, 3... without gaps.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	var steps []migration // fs.Glob returns names sorted, so zero-padded numbers come in order
	for _, name := range names {
		num, _, ok := strings.Cut(name, "_")
		version, err := strconv.Atoi(num)
		if !ok || err != nil || len(num) != 4 {
			return nil, fmt.Errorf("migration %s: name must be NNNN_name.sql", name)
		}
		if version != len(steps)+1 {
			return nil, fmt.Errorf("migration %s: expected number %04d", name, len(steps)+1)
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
		steps = append(steps, migration{version: version, name: name, sql: string(body)})
	}
	if len(steps) == 0 {
		return nil, errors.New("no migrations found")
	}
	return steps, nil
}

// migrate applies the migrations newer than the database's user_version and checks the directory's identity
// (identify), all in one transaction: a refusal leaves the database as it was.
func (s *Store) migrate(steps []migration) error {
	ctx := context.Background()
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var current int
		if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&current); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if current > len(steps) {
			return fmt.Errorf("%w: database version %d, this workbench knows up to %d", ErrSchemaTooNew, current, len(steps))
		}
		for _, m := range steps[current:] {
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
		}
		// PRAGMA takes no bound parameters; the value is an integer we produced. Set only when it changes, so
		// that an Open of a current database writes nothing.
		if current != len(steps) {
			if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(steps))); err != nil {
				return fmt.Errorf("set schema version: %w", err)
			}
		}
		return s.identify(ctx, tx)
	})
}

// inTx runs fn in a write transaction, committing if it returns nil.
// A disk fault comes back as a *FaultError (faults.go).
func (s *Store) inTx(ctx context.Context, fn func(*sql.Tx) error) (err error) {
	defer func() { err = s.Fault(err) }()
	done, err := s.writes.wait(ctx)
	if err != nil {
		return err
	}
	defer done()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// isUnique reports whether err is a UNIQUE or PRIMARY KEY constraint violation.
func isUnique(err error) bool {
	var e sqlite3.Error
	return errors.As(err, &e) &&
		(e.ExtendedCode == sqlite3.ErrConstraintUnique || e.ExtendedCode == sqlite3.ErrConstraintPrimaryKey)
}

// Times are stored as Unix milliseconds.
func (s *Store) stamp() int64 { return time.Now().UnixMilli() }

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func fromNullMillis(ms sql.NullInt64) *time.Time {
	if !ms.Valid {
		return nil
	}
	t := fromMillis(ms.Int64)
	return &t
}

// rowScanner is what *sql.Row and *sql.Rows have in common.
type rowScanner interface{ Scan(dest ...any) error }

// notFound turns sql.ErrNoRows into a wrapped ErrNotFound naming what was looked up.
func notFound(err error, format string, args ...any) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrNotFound)
	}
	return err
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
