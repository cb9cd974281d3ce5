package store

import (
	"database/sql"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pageOf returns the page size and the root page of the named table or index of a closed store's database.
func pageOf(t testing.TB, dir, name string) (pageSize, root int) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, dbFile)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.QueryRow(`SELECT (SELECT page_size FROM pragma_page_size), rootpage FROM sqlite_schema WHERE name = ?`,
		name).Scan(&pageSize, &root); err != nil {
		t.Fatal(err)
	}
	return pageSize, root
}

// scribble overwrites bytes of a database file at offset.
func scribble(t *testing.T, dir string, offset int, b []byte) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, dbFile), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, int64(offset)); err != nil {
		t.Fatal(err)
	}
}

func labelledStore(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	s := openStore(t, dir)
	p := newProject(t, s, "scribble-me")
	for i := range 3 {
		importVolume(t, s, p.ID, "v"+string(rune('a'+i)), SliceMask{Slice: 1, Mask: filled(1, 2)}, SliceMask{Slice: 3, Mask: filled(2, 1)})
	}
	s.Close() // the last connection checkpoints the log into workbench.db
	return dir
}

// A database with a scribbled page is refused at open, by quick_check, with the way to restore; it is not
// written to.
func TestScribbledPageRefused(t *testing.T) {
	dir := labelledStore(t)
	pageSize, root := pageOf(t, dir, "labels")
	garbage := make([]byte, pageSize)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range garbage {
		garbage[i] = byte(rng.Uint32())
	}
	scribble(t, dir, (root-1)*pageSize, garbage)
	before, _ := os.ReadFile(filepath.Join(dir, dbFile))

	re := refusal(t, dir, "has a damaged database (quick_check of workbench.db: ")
	if !re.Damaged {
		t.Errorf("refusal %+v is not marked damaged", re)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, dbFile)); string(after) != string(before) {
		t.Error("the damaged database was written to")
	}
}

// A file that is not a database at all is damaged too.
func TestGarbageDatabaseRefused(t *testing.T) {
	dir := labelledStore(t)
	scribble(t, dir, 0, []byte("this is no SQLite header, just text"))
	refusal(t, dir, "has a damaged database", "file is not a database")
}

// integrity_check finds what quick_check does not look for: an index that no longer matches its table.
func TestFullIntegrityCheckFindsIndexDamage(t *testing.T) {
	dir := labelledStore(t)
	pageSize, root := pageOf(t, dir, "sqlite_autoindex_projects_1")
	db, _ := os.ReadFile(filepath.Join(dir, dbFile))
	page := string(db[(root-1)*pageSize : root*pageSize])
	at := strings.Index(page, "scribble-me")
	if at < 0 {
		t.Fatal("project name not found in its index page")
	}
	scribble(t, dir, (root-1)*pageSize+at, []byte("S"))

	s := openStore(t, dir) // quick_check passes
	s.Close()
	_, err := Open(dir, os.DirFS(testMigrations), WithFullIntegrityCheck())
	re, ok := err.(*RefusedError)
	if !ok || !re.Damaged || !strings.Contains(err.Error(), "integrity_check of workbench.db: row 1 missing from index sqlite_autoindex_projects_1") {
		t.Fatalf("Open with the full check: %v", err)
	}
}

// buildLargeDatabase fills a store the way a busy lab's grows: vols volumes of 60 axial 256x256 slices, three
// label versions of every slice (about 3 KB compressed each) and the predictions of 10 models for every slice
// (about 1.5 KB each). Returns the database's size in bytes.
func buildLargeDatabase(b *testing.B, dir string, vols int) int64 {
	b.Helper()
	s, err := Open(dir, os.DirFS(testMigrations))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	blob := func(n int) []byte {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		return p
	}
	tx, err := s.db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	exec := func(q string, args ...any) {
		if _, err := tx.Exec(q, args...); err != nil {
			b.Fatal(err)
		}
	}
	exec(`INSERT INTO projects (id, name, classes, created_at) VALUES (1, 'lab', '[{"name":"wm","color":"#ff0"},{"name":"gm","color":"#f00"}]', 0)`)
	for m := 1; m <= 10; m++ {
		exec(`INSERT INTO models (id, project_id, file, arch, created_at) VALUES (?, 1, ?, 'smallunet', 0)`, m, "models/"+string(rune('a'+m)))
	}
	for v := 1; v <= vols; v++ {
		exec(`INSERT INTO volumes (id, project_id, name, original_file, original_name, sha256, nx, ny, nz, spacing,
			affine, orientation, stats, created_at) VALUES (?, 1, ?, ?, 'x.nii.gz', '', 256, 256, 60, '[1,1,1]', '[]', '{}', '{}', 0)`,
			v, "vol"+string(rune(v)), "volumes/"+string(rune(v)))
		for z := range 60 {
			for version := 1; version <= 3; version++ {
				exec(`INSERT INTO labels (volume_id, slice, version, mask, author, origin, created_at) VALUES (?, ?, ?, ?, 'a', 'manual', 0)`,
					v, z, version, blob(3000))
			}
			for m := 1; m <= 10; m++ {
				exec(`INSERT INTO predictions (model_id, volume_id, slice, mask, uncertainty, created_at) VALUES (?, ?, ?, ?, 0.5, 0)`,
					m, v, z, blob(1500))
			}
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	if _, err := s.db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		b.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(dir, dbFile))
	if err != nil {
		b.Fatal(err)
	}
	return info.Size()
}

// BenchmarkOpenCheck: what the check at open costs on a database of a busy lab's size (about 200 MB: 100
// volumes), warm in the page cache. check-ms is the check alone; ns/op the whole Open and Close.
func BenchmarkOpenCheck(b *testing.B) {
	dir := b.TempDir()
	size := buildLargeDatabase(b, dir, 100)
	for _, c := range []struct {
		name string
		opts []Option
	}{{"quick_check", nil}, {"integrity_check", []Option{WithFullIntegrityCheck()}}} {
		b.Run(c.name, func(b *testing.B) {
			var check time.Duration
			for b.Loop() {
				s, err := Open(dir, os.DirFS(testMigrations), c.opts...)
				if err != nil {
					b.Fatal(err)
				}
				check += s.OpenInfo().CheckTook
				s.Close()
			}
			b.ReportMetric(float64(check.Milliseconds())/float64(b.N), "check-ms")
			b.ReportMetric(float64(size)/1e6, "db-MB")
		})
	}
}
