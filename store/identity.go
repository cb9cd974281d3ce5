package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"
	"github.com/mriworkbench/workbench/internal/atomicfile"
)

// A data directory has an identity: a random id recorded twice, in DATA/IDENTITY and in the database's identity
// table (migration 0003). Open compares them, and refuses a directory whose database is missing, empty or
// another directory's while stored files or an IDENTITY remain: a store opened on such a database would take
// the files for nobody's. Stored files also carry a random part in their names (storedFileName), so even a
// database whose ids start again at 1 cannot name an existing file.

const identityFile = "IDENTITY"

// Identity names a data directory.
type Identity struct {
	ID        string    `json:"id"` // 32 hex digits, random
	CreatedAt time.Time `json:"created_at"`
}

// identityDoc is the IDENTITY file's content; kind says what the file is to someone who opens it.
type identityDoc struct {
	Kind string `json:"kind"`
	Identity
}

const identityKind = "workbench data directory"

func newIdentity() Identity {
	return Identity{ID: randomHex(16), CreatedAt: time.Now().UTC().Truncate(time.Second)}
}

// randomHex returns n random bytes as 2n hex digits.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// storedFileName names a new stored file in dir (volumes or models): its row id, for people, and 64 random
// bits, so that no other database, nor this one after losing its rows, can ever produce the same name.
func storedFileName(dir string, id int64, ext string) string {
	return path.Join(dir, fmt.Sprintf("%d-%s%s", id, randomHex(8), ext))
}

func encodeIdentity(id Identity) []byte {
	b, _ := json.MarshalIndent(identityDoc{Kind: identityKind, Identity: id}, "", "  ")
	return append(b, '\n')
}

func decodeIdentity(b []byte) (Identity, error) {
	var doc identityDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return Identity{}, err
	}
	if doc.Kind != identityKind || !validIdentityID(doc.ID) {
		return Identity{}, errors.New("not a workbench identity")
	}
	return doc.Identity, nil
}

func validIdentityID(id string) bool {
	_, err := hex.DecodeString(id)
	return len(id) == 32 && err == nil
}

// readIdentityFile reads DATA/IDENTITY; ok is false when there is none.
func readIdentityFile(dataDir string) (id Identity, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dataDir, identityFile))
	if errors.Is(err, fs.ErrNotExist) {
		return Identity{}, false, nil
	}
	if err != nil {
		return Identity{}, false, fmt.Errorf("read %s: %w", identityFile, err)
	}
	id, err = decodeIdentity(b)
	if err != nil {
		return Identity{}, false, &RefusedError{Dir: dataDir, Problem: fmt.Sprintf("has an unreadable %s (%v)", identityFile, err)}
	}
	return id, true, nil
}

func writeIdentityFile(dataDir string, id Identity) error {
	return atomicfile.Write(filepath.Join(dataDir, identityFile), 0o444, func(w io.Writer) error {
		_, err := w.Write(encodeIdentity(id))
		return err
	})
}

// RefusedError is Open refusing a data directory as it is: its database is missing, empty, another
// directory's, or damaged. The message is one line naming the cause and the ways to recover.
type RefusedError struct {
	Dir     string
	Problem string // what is wrong, e.g. "holds 3 stored files but no database (workbench.db is missing)"
	Damaged bool   // the database failed its integrity check
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("data directory %s %s; nothing was changed. To recover, restore the last backup into a "+
		"new directory (workbench restore --from BACKUP --data NEWDIR) and use that one, or move %s away to "+
		"start an empty workbench", e.Dir, e.Problem, e.Dir)
}

// storedFiles lists the stored files (relative paths) under volumes/ and models/; names starting with a dot
// are files being written.
func storedFiles(dataDir string) ([]string, error) {
	var files []string
	for _, dir := range []string{volumesDir, modelsDir} {
		entries, err := os.ReadDir(filepath.Join(dataDir, dir))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", dir, err)
		}
		for _, e := range entries {
			if !strings.HasPrefix(e.Name(), ".") {
				files = append(files, path.Join(dir, e.Name()))
			}
		}
	}
	return files, nil
}

// describeFiles says "3 stored files (volumes/1-ab.nii.gz, ...)" for messages.
func describeFiles(files []string) string {
	if len(files) == 1 {
		return "1 stored file (" + files[0] + ")"
	}
	return fmt.Sprintf("%d stored files (%s, ...)", len(files), files[0])
}

// refuseLostDatabase refuses, before anything is created, a directory whose database is gone (missing or zero
// bytes) while signs of a workbench remain: an IDENTITY, stored files, or a write-ahead log (which SQLite would
// delete beside an empty database). A new or empty directory passes. The signs are looked for before the
// database, so that a store being created meanwhile by another process (database first, IDENTITY after) is
// not mistaken for a lost one.
func refuseLostDatabase(dataDir string) error {
	var signs []string
	if _, err := os.Lstat(filepath.Join(dataDir, identityFile)); err == nil {
		signs = append(signs, "an "+identityFile)
	}
	files, err := storedFiles(dataDir)
	if err != nil {
		return err
	}
	if len(files) > 0 {
		signs = append(signs, describeFiles(files))
	}
	if info, err := os.Stat(filepath.Join(dataDir, dbFile+"-wal")); err == nil && info.Size() > 0 {
		signs = append(signs, "a write-ahead log ("+dbFile+"-wal)")
	}
	if len(signs) == 0 {
		return nil
	}
	info, err := os.Stat(filepath.Join(dataDir, dbFile))
	var lost string
	switch {
	case errors.Is(err, fs.ErrNotExist):
		lost = dbFile + " is missing"
	case err != nil:
		return fmt.Errorf("database: %w", err)
	case info.Size() == 0:
		lost = dbFile + " is empty"
	default:
		return nil
	}
	return &RefusedError{Dir: dataDir, Problem: fmt.Sprintf("holds %s but no database (%s)", strings.Join(signs, " and "), lost)}
}

// checkIntegrity runs PRAGMA quick_check (b-tree structure, record formats, NOT NULL and CHECK constraints)
// or, if full, integrity_check (also every index against its table), and refuses a damaged database.
func (s *Store) checkIntegrity(ctx context.Context, full bool) error {
	pragma := "quick_check"
	if full {
		pragma = "integrity_check"
	}
	start := time.Now()
	problems, err := integrityProblems(ctx, s.db, pragma)
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		more := ""
		if len(problems) > 1 {
			more = fmt.Sprintf(" and %d more problems", len(problems)-1)
		}
		return &RefusedError{Dir: s.dataDir, Damaged: true,
			Problem: fmt.Sprintf("has a damaged database (%s of %s: %s%s)", pragma, dbFile, OneLine(problems[0]), more)}
	}
	s.info.Check, s.info.CheckTook = pragma, time.Since(start)
	return nil
}

// integrityProblems runs the check pragma and returns what it reports (none: the database is sound). A file
// SQLite cannot read as a database is reported as a problem, not an error.
func integrityProblems(ctx context.Context, db *sql.DB, pragma string) ([]string, error) {
	const maxProblems = 20
	rows, err := db.QueryContext(ctx, fmt.Sprintf("PRAGMA %s(%d)", pragma, maxProblems))
	if err != nil {
		return damage(err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return damage(err)
		}
		lines = append(lines, line)
	}
	if err := rows.Err(); err != nil {
		return damage(err)
	}
	if len(lines) == 1 && lines[0] == "ok" {
		return nil, nil
	}
	if len(lines) == 0 {
		lines = []string{pragma + " reported nothing"}
	}
	return lines, nil
}

// damage turns SQLite's "malformed" and "not a database" errors into a reported problem.
func damage(err error) ([]string, error) {
	var e sqlite3.Error
	if errors.As(err, &e) && (e.Code == sqlite3.ErrCorrupt || e.Code == sqlite3.ErrNotADB) {
		return []string{err.Error()}, nil
	}
	return nil, fmt.Errorf("check database: %w", err)
}

// identify runs in the migration transaction: it reads the database's identity, compares it with the IDENTITY
// file, and records one for a new directory or a directory from before identities (adopted). It refuses a
// database without identity beside an IDENTITY or beside stored files it knows nothing of, and a database of
// another directory. The IDENTITY file is written after the commit (writeIdentity): database first, so that a
// crash in between leaves a state the next Open completes.
func (s *Store) identify(ctx context.Context, tx *sql.Tx) error {
	var hasTable int
	if err := tx.QueryRowContext(ctx,
		`SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = 'identity'`).Scan(&hasTable); err != nil {
		return fmt.Errorf("read identity: %w", err)
	}
	if hasTable == 0 {
		return nil // a migration set from before 0003 (tests of earlier migrations): nowhere to record one
	}
	fileID, hasFile, err := readIdentityFile(s.dataDir)
	if err != nil {
		return err
	}
	var dbID Identity
	var created int64
	err = tx.QueryRowContext(ctx, `SELECT id, created_at FROM identity`).Scan(&dbID.ID, &created)
	switch {
	case err == nil:
		dbID.CreatedAt = fromMillis(created)
		if hasFile && fileID.ID != dbID.ID {
			return &RefusedError{Dir: s.dataDir, Problem: fmt.Sprintf(
				"has the database of another data directory (workbench.db is %s's, this directory is %s)", dbID.ID, fileID.ID)}
		}
		s.info.Identity = dbID
		s.writeIdentity = !hasFile // the file was lost; the database says what it was
		return nil
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("read identity: %w", err)
	}

	if hasFile {
		return &RefusedError{Dir: s.dataDir, Problem: fmt.Sprintf(
			"has a database that is not its own (this directory is %s, workbench.db has no identity)", fileID.ID)}
	}
	var rows int
	if err := tx.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM projects) + (SELECT COUNT(*) FROM volumes) +
		(SELECT COUNT(*) FROM models)`).Scan(&rows); err != nil {
		return fmt.Errorf("read identity: %w", err)
	}
	if rows == 0 {
		files, err := storedFiles(s.dataDir)
		if err != nil {
			return err
		}
		if len(files) > 0 {
			return &RefusedError{Dir: s.dataDir, Problem: fmt.Sprintf(
				"holds %s but its database is empty (workbench.db has no projects, volumes or models)", describeFiles(files))}
		}
	}
	// A new directory, or one with data from before identities: it is the database's own.
	id := newIdentity()
	if _, err := tx.ExecContext(ctx, `INSERT INTO identity (singleton, id, created_at) VALUES (1, ?, ?)`,
		id.ID, id.CreatedAt.UnixMilli()); err != nil {
		return fmt.Errorf("record identity: %w", err)
	}
	s.info.Identity, s.info.Adopted, s.writeIdentity = id, rows > 0, true
	return nil
}

// OpenInfo says what Open found, for a server to report at start.
type OpenInfo struct {
	Identity  Identity      // zero for a schema without identities (tests of older migrations)
	Adopted   bool          // a data directory from before identities: its identity was recorded by this Open
	Check     string        // "quick_check" or "integrity_check"
	CheckTook time.Duration // how long the check took
}

// OpenInfo is what Open found.
func (s *Store) OpenInfo() OpenInfo { return s.info }

// Identity is the data directory's identity.
func (s *Store) Identity() Identity { return s.info.Identity }
