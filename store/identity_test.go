package store

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

// fileSums is the SHA-256 of every regular file under dir (relative slash paths), the database's own files
// left out.
func fileSums(t *testing.T, dir string) map[string]string {
	t.Helper()
	sums := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), dbFile) {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		sum := sha256.Sum256(b)
		sums[filepath.ToSlash(rel)] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sums
}

func sameSums(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// refusal opens dir expecting a *RefusedError whose message contains each of want and the recovery commands.
func refusal(t *testing.T, dir string, want ...string) *RefusedError {
	t.Helper()
	s, err := Open(dir, os.DirFS(testMigrations))
	var re *RefusedError
	if !errors.As(err, &re) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("Open: err = %v, want a refusal", err)
	}
	msg := err.Error()
	for _, w := range append(want, "workbench restore --from BACKUP --data NEWDIR", "move "+dir+" away") {
		if !strings.Contains(msg, w) {
			t.Errorf("refusal %q lacks %q", msg, w)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("refusal is not one line: %q", msg)
	}
	return re
}

var storedName = regexp.MustCompile(`^(volumes|models)/[0-9]+-[0-9a-f]{16}\.(nii\.gz|model)$`)

// A new directory records one identity in IDENTITY and in the database, and names stored files so that no
// database can name them again.
func TestNewDirectoryHasIdentity(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	id := s.Identity()
	if !validIdentityID(id.ID) || id.CreatedAt.IsZero() || s.OpenInfo().Adopted || s.OpenInfo().Check != "quick_check" {
		t.Fatalf("open info %+v", s.OpenInfo())
	}
	fileID, ok, err := readIdentityFile(dir)
	if err != nil || !ok || fileID.ID != id.ID {
		t.Fatalf("IDENTITY = %+v, %v, %v; database says %s", fileID, ok, err, id.ID)
	}
	p := newProject(t, s, "p")
	v := importVolume(t, s, p.ID, "v")
	m := createModel(t, s, p.ID, true)
	for _, f := range []string{v.OriginalFile, m.File} {
		if !storedName.MatchString(f) {
			t.Errorf("stored file %q has no random part", f)
		}
	}
	s.Close()
	// Reopening finds the same identity; a lost IDENTITY is written again from the database.
	if err := os.Remove(filepath.Join(dir, identityFile)); err != nil {
		t.Fatal(err)
	}
	s2 := openStore(t, dir)
	if s2.Identity() != id {
		t.Errorf("identity after reopen %+v, want %+v", s2.Identity(), id)
	}
	if again, ok, _ := readIdentityFile(dir); !ok || again.ID != id.ID {
		t.Errorf("IDENTITY not restored from the database: %+v", again)
	}
}

// populated makes a data directory with a volume and a model, closed.
func populated(t *testing.T) (dir string, sums map[string]string) {
	t.Helper()
	dir = t.TempDir()
	s := openStore(t, dir)
	p := newProject(t, s, "p")
	importVolume(t, s, p.ID, "v1")
	importVolume(t, s, p.ID, "v2")
	createModel(t, s, p.ID, true)
	s.Close()
	return dir, fileSums(t, dir)
}

func removeDatabase(t *testing.T, dir string) {
	t.Helper()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(filepath.Join(dir, dbFile+suffix)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
	}
}

// A data directory whose database is lost, emptied, not its own or without identity is refused; nothing in it
// changes, not even the database.
func TestRefusesDirectoryWithoutItsDatabase(t *testing.T) {
	for _, c := range []struct {
		name  string
		spoil func(t *testing.T, dir string)
		want  []string
	}{
		{"database deleted", func(t *testing.T, dir string) { removeDatabase(t, dir) },
			[]string{"holds an IDENTITY and 3 stored files (volumes/1-", "but no database (workbench.db is missing)"}},
		{"database emptied", func(t *testing.T, dir string) {
			if err := os.Truncate(filepath.Join(dir, dbFile), 0); err != nil {
				t.Fatal(err)
			}
		}, []string{"but no database (workbench.db is empty)"}},
		{"another directory's database", func(t *testing.T, dir string) {
			other := t.TempDir()
			openStore(t, other).Close()
			removeDatabase(t, dir)
			copyFile(t, filepath.Join(other, dbFile), filepath.Join(dir, dbFile))
		}, []string{"has the database of another data directory"}},
		{"rows and identity deleted", func(t *testing.T, dir string) {
			db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, dbFile))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec(`DELETE FROM identity; DELETE FROM models; DELETE FROM projects`); err != nil {
				t.Fatal(err)
			}
		}, []string{"has a database that is not its own", "workbench.db has no identity"}},
		{"database and IDENTITY deleted", func(t *testing.T, dir string) {
			removeDatabase(t, dir)
			os.Remove(filepath.Join(dir, identityFile))
		}, []string{"holds 3 stored files", "but no database"}},
		{"identity-less empty database beside stored files", func(t *testing.T, dir string) {
			removeDatabase(t, dir)
			os.Remove(filepath.Join(dir, identityFile))
			// An older workbench started here afresh: a schema without identity, no rows.
			old, err := Open(t.TempDir(), firstMigrations(t, 2))
			if err != nil {
				t.Fatal(err)
			}
			old.Close()
			copyFile(t, filepath.Join(old.DataDir(), dbFile), filepath.Join(dir, dbFile))
		}, []string{"holds 3 stored files", "but its database is empty"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir, _ := populated(t)
			c.spoil(t, dir)
			before := fileSums(t, dir)
			dbBefore, _ := os.ReadFile(filepath.Join(dir, dbFile))
			refusal(t, dir, c.want...)
			if after := fileSums(t, dir); !sameSums(before, after) {
				t.Errorf("files changed by a refused Open:\n%v\n%v", before, after)
			}
			dbAfter, err := os.ReadFile(filepath.Join(dir, dbFile))
			if string(dbAfter) != string(dbBefore) || (dbBefore == nil) != errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a refused Open changed or created the database (%d -> %d bytes, %v)", len(dbBefore), len(dbAfter), err)
			}
		})
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// firstMigrations is the real migration set up to number n.
func firstMigrations(t *testing.T, n int) fs.FS {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(testMigrations, "*.sql"))
	m := fstest.MapFS{}
	for _, name := range names[:n] {
		body, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		m[filepath.Base(name)] = &fstest.MapFile{Data: body}
	}
	return m
}

// A data directory from before identities (schema 2, files named by row id) is adopted: it gets an identity,
// its files stay where they are and are read, and new files get names its old ones cannot collide with.
func TestAdoptsDirectoryFromBeforeIdentities(t *testing.T) {
	dir := t.TempDir()
	old, err := Open(dir, firstMigrations(t, 2))
	if err != nil {
		t.Fatal(err)
	}
	if old.Identity().ID != "" {
		t.Fatalf("a schema without the identity table has identity %+v", old.Identity())
	}
	// As the workbench named it then: volumes/<row id>.nii.gz.
	oldName := "volumes/1.nii.gz"
	pid, vid := oldFixture(t, old, "v1", oldName)
	p, v := Project{ID: pid}, VolumeMeta{ID: vid}
	old.Close()
	if _, err := os.Stat(filepath.Join(dir, identityFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a schema without identities wrote an IDENTITY: %v", err)
	}
	before := fileSums(t, dir)

	s := openStore(t, dir)
	if !s.OpenInfo().Adopted || !validIdentityID(s.Identity().ID) {
		t.Fatalf("open info %+v, want an adopted directory", s.OpenInfo())
	}
	if fileID, ok, _ := readIdentityFile(dir); !ok || fileID.ID != s.Identity().ID {
		t.Fatalf("IDENTITY %+v, database %s", fileID, s.Identity().ID)
	}
	got, err := s.Volume(ctx, v.ID)
	if err != nil || got.OriginalFile != oldName {
		t.Fatalf("adopted volume %+v, %v", got, err)
	}
	if b, err := os.ReadFile(s.OriginalPath(got)); err != nil || string(b) != "original bytes of v1" {
		t.Fatalf("adopted volume's file: %q, %v", b, err)
	}
	v2 := importVolume(t, s, p.ID, "v2")
	if !storedName.MatchString(v2.OriginalFile) {
		t.Errorf("new file %q after adoption", v2.OriginalFile)
	}
	after := fileSums(t, dir)
	for name, sum := range before {
		if after[name] != sum {
			t.Errorf("%s changed by adoption and import", name)
		}
	}
	s.Close()
	if s := openStore(t, dir); s.OpenInfo().Adopted {
		t.Error("adopted twice")
	}
}

// A directory that was only ever created (an Open, no data) and a brand-new one open without questions.
func TestEmptyDirectoriesOpen(t *testing.T) {
	dir := t.TempDir()
	openStore(t, dir).Close()
	openStore(t, dir).Close()
	// An empty database file with nothing beside it is a new store too.
	bare := t.TempDir()
	if err := os.WriteFile(filepath.Join(bare, dbFile), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	openStore(t, bare).Close()
	if _, ok, _ := readIdentityFile(bare); !ok {
		t.Error("no IDENTITY")
	}
}

// An IDENTITY that is not one is refused rather than replaced.
func TestUnreadableIdentityRefused(t *testing.T) {
	dir, _ := populated(t)
	path := filepath.Join(dir, identityFile)
	os.Chmod(path, 0o644)
	if err := os.WriteFile(path, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	refusal(t, dir, "has an unreadable IDENTITY")
	if b, _ := os.ReadFile(path); string(b) != "hello" {
		t.Errorf("IDENTITY rewritten: %q", b)
	}
}

// Partial files of dead writers are removed at open; so is a backup snapshot.
func TestOpenRemovesPartialFilesOfDeadWriters(t *testing.T) {
	dir, _ := populated(t)
	dead := deadPID(t)
	for _, name := range []string{".partial-" + strconv.Itoa(dead) + "-1-snapshot.db", "volumes/.partial-" + strconv.Itoa(dead) + "-2"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o444); err != nil {
			t.Fatal(err)
		}
	}
	live := filepath.Join(dir, "models", ".partial-"+strconv.Itoa(os.Getpid())+"-3")
	if err := os.WriteFile(live, nil, 0o444); err != nil {
		t.Fatal(err)
	}
	openStore(t, dir).Close()
	var left []string
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if strings.HasPrefix(d.Name(), ".partial-") {
			left = append(left, path)
		}
		return nil
	})
	if len(left) != 1 || left[0] != live {
		t.Errorf("partial files after open: %v, want only %s", left, live)
	}
}
