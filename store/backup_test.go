package store

import (
	"archive/zip"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// dumpDatabase renders every row of every table of a closed store's database, sorted, for comparisons.
func dumpDatabase(t *testing.T, dir string) []string {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, dbFile)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	names, err := db.Query(`SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for names.Next() {
		var n string
		names.Scan(&n)
		tables = append(tables, n)
	}
	names.Close()
	var dump []string
	for _, table := range tables {
		rows, err := db.Query(`SELECT * FROM "` + table + `"`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			dump = append(dump, fmt.Sprintf("%s %q", table, vals))
		}
		rows.Close()
	}
	slices.Sort(dump)
	return dump
}

// richStore is a closed data directory with projects, volumes with label history, a run, models and
// predictions.
func richStore(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	s := openStore(t, dir)
	p := newProject(t, s, "p")
	v := importVolume(t, s, p.ID, "v1", SliceMask{Slice: 0, Mask: filled(1, 2)})
	importVolume(t, s, p.ID, "v2")
	if _, err := s.SaveLabel(ctx, LabelWrite{VolumeID: v.ID, Slice: 0, BaseVersion: 1, Mask: filled(2, 2), Author: "ann"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateRun(ctx, p.ID, nil); err != nil {
		t.Fatal(err)
	}
	createModel(t, s, p.ID, false)
	m := createModel(t, s, p.ID, true)
	savePredictions(t, s, m.ID, v.ID, map[int]float64{1: 0.4, 2: 0.9})
	other := newProject(t, s, "other")
	importVolume(t, s, other.ID, "o1")
	s.Close()
	return dir
}

func backup(t *testing.T, dir, out string) BackupManifest {
	t.Helper()
	s := openStore(t, dir)
	defer s.Close()
	m, err := s.Backup(ctx, out, nil)
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	return m
}

// A backup restored into a new directory is the same workbench: every row, every file, the identity; and it
// opens with integrity_check ok.
func TestBackupRestoreRoundTrip(t *testing.T) {
	dir := richStore(t)
	out := filepath.Join(t.TempDir(), "backup.zip")
	var stages []BackupStage
	s := openStore(t, dir)
	m, err := s.Backup(ctx, out, func(p BackupProgress) {
		if len(stages) == 0 || stages[len(stages)-1] != p.Stage {
			stages = append(stages, p.Stage)
		}
	})
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	if m.Projects != 2 || m.Volumes != 3 || m.Models != 2 || len(m.Files) != 2+3+2 || m.Identity != s.Identity() {
		t.Errorf("manifest %+v", m)
	}
	if !slices.Equal(stages, []BackupStage{StageSnapshot, StageFiles}) {
		t.Errorf("backup stages %v", stages)
	}
	if info, err := os.Stat(out); err != nil || info.Mode().Perm() != archivePerm {
		t.Errorf("archive %v, %v: want mode %o (it holds scans)", info, err, archivePerm)
	}

	target := filepath.Join(t.TempDir(), "restored")
	rm, err := Restore(ctx, out, target, os.DirFS(testMigrations), nil)
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if rm.Identity != m.Identity {
		t.Errorf("restored manifest %+v", rm)
	}
	if a, b := dumpDatabase(t, dir), dumpDatabase(t, target); !slices.Equal(a, b) {
		t.Errorf("rows differ after the round trip:\n%s\n--\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
	}
	if a, b := fileSums(t, dir), fileSums(t, target); !sameSums(a, b) {
		t.Errorf("files differ after the round trip:\n%v\n%v", a, b)
	}
	r, err := Open(target, os.DirFS(testMigrations), WithFullIntegrityCheck())
	if err != nil {
		t.Fatalf("Open restored: %v", err)
	}
	defer r.Close()
	if r.Identity() != m.Identity || r.OpenInfo().Adopted {
		t.Errorf("restored identity %+v", r.OpenInfo())
	}
	// It is a working store: a new import goes beside the restored files.
	importVolume(t, r, 1, "v3")
	if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(target), ".restored.restoring-*")); len(leftovers) > 0 {
		t.Errorf("staging left: %v", leftovers)
	}
}

// Backup runs beside writers: saves keep succeeding, and the archive is one consistent state.
func TestBackupBesideWriters(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	p := newProject(t, s, "p")
	v := importVolume(t, s, p.ID, "v")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var saves int
	var saveErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		base := 0
		for {
			select {
			case <-stop:
				return
			default:
			}
			l, err := s.SaveLabel(ctx, LabelWrite{VolumeID: v.ID, Slice: 2, BaseVersion: base, Mask: filled(1, uint8(1+base%2)), Author: "ann"})
			if err != nil {
				saveErr = err
				return
			}
			base = l.Version
			saves++
		}
	}()
	out := filepath.Join(t.TempDir(), "b.zip")
	for range 3 {
		if _, err := s.Backup(ctx, out, nil); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if saveErr != nil || saves == 0 {
		t.Fatalf("saves beside the backup: %d, %v", saves, saveErr)
	}
	if _, err := Restore(ctx, out, filepath.Join(t.TempDir(), "r"), os.DirFS(testMigrations), nil); err != nil {
		t.Fatalf("Restore of a backup taken beside writers: %v", err)
	}
	t.Logf("%d label saves beside 3 backups", saves)
}

// A volume deleted while its file is being backed up makes the backup start again without it.
func TestBackupStartsAgainWhenAFileIsDeleted(t *testing.T) {
	dir := richStore(t)
	s := openStore(t, dir)
	v, err := s.Volume(ctx, 3) // o1, of project "other"
	if err != nil {
		t.Fatal(err)
	}
	snapshots := 0
	m, err := s.Backup(ctx, filepath.Join(t.TempDir(), "b.zip"), func(p BackupProgress) {
		if p.Stage == StageSnapshot {
			snapshots++
		}
		if p.Stage == StageFiles && p.FilesDone == 0 && snapshots == 1 && p.BytesDone == 0 {
			if err := s.DeleteVolume(ctx, v.ID); err != nil {
				t.Error(err)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if snapshots != 2 || m.Volumes != 2 {
		t.Errorf("%d snapshots, %d volumes backed up; want 2 and 2", snapshots, m.Volumes)
	}
}

func TestBackupRefusals(t *testing.T) {
	dir := richStore(t)
	s := openStore(t, dir)
	for _, c := range []struct{ out, want string }{
		{filepath.Join(dir, "b.zip"), "is inside the data directory"},
		{filepath.Join(dir, "volumes", "b.zip"), "is inside the data directory"},
		{t.TempDir(), "is a directory"},
		{filepath.Join(t.TempDir(), "no", "such", "dir", "b.zip"), "no such file or directory"},
	} {
		if _, err := s.Backup(ctx, c.out, nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Backup to %s: %v, want %q", c.out, err, c.want)
		}
	}
	if files, _ := storedFiles(dir); len(files) != 5 {
		t.Errorf("stored files after refused backups: %v", files)
	}
}

// rewriteArchive copies a zip archive, letting edit change each entry's content (or drop it: nil).
func rewriteArchive(t *testing.T, from, to string, edit func(name string, b []byte) []byte) {
	t.Helper()
	zr, err := zip.OpenReader(from)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	f, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	for _, e := range zr.File {
		r, _ := e.Open()
		b, _ := io.ReadAll(r)
		r.Close()
		if b = edit(e.Name, b); b == nil {
			continue
		}
		w, _ := zw.Create(e.Name)
		w.Write(b)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
}

// Restore refuses an occupied target and any archive that is not whole, and then leaves nothing behind.
func TestRestoreRefusals(t *testing.T) {
	dir := richStore(t)
	tmp := t.TempDir()
	good := filepath.Join(tmp, "good.zip")
	backup(t, dir, good)
	flip := func(target string) func(string, []byte) []byte {
		return func(name string, b []byte) []byte {
			if name == target {
				b[len(b)/2] ^= 0xff
			}
			return b
		}
	}
	drop := func(target string) func(string, []byte) []byte {
		return func(name string, b []byte) []byte {
			if name == target {
				return nil
			}
			return b
		}
	}
	s := openStore(t, dir)
	vol, _ := s.Volume(ctx, 1)
	s.Close()
	notZip := filepath.Join(tmp, "notes.zip")
	os.WriteFile(notZip, []byte("not an archive"), 0o644)

	cases := []struct {
		name, archive, want string
	}{
		{"not a zip", notZip, "is not a workbench backup (zip: not a valid zip file)"},
		{"stored file changed", "", vol.OriginalFile + " is damaged in the archive"},
		{"database changed", "", "workbench.db is damaged in the archive"},
		{"stored file missing", "", vol.OriginalFile + " is listed but missing"},
		{"manifest missing", "", "it has no MANIFEST.json"},
	}
	edits := map[string]func(string, []byte) []byte{
		"stored file changed": flip(vol.OriginalFile), "database changed": flip(dbFile),
		"stored file missing": drop(vol.OriginalFile), "manifest missing": drop(manifestName),
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			archive := c.archive
			if archive == "" {
				archive = filepath.Join(t.TempDir(), "edited.zip")
				rewriteArchive(t, good, archive, edits[c.name])
			}
			parent := t.TempDir()
			target := filepath.Join(parent, "data")
			_, err := Restore(ctx, archive, target, os.DirFS(testMigrations), nil)
			var ve *ValidationError
			if !errors.As(err, &ve) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Restore: %v, want a refusal with %q", err, c.want)
			}
			if entries, _ := os.ReadDir(parent); len(entries) != 0 {
				t.Errorf("a refused restore left %v", entries)
			}
		})
	}

	// Targets that hold something.
	for _, c := range []struct{ target, want string }{
		{dir, "already holds a workbench (workbench.db)"},
		{tmp, "is not empty (it holds good.zip)"},
	} {
		if _, err := Restore(ctx, good, c.target, os.DirFS(testMigrations), nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Restore into %s: %v, want %q", c.target, err, c.want)
		}
	}
	// An empty existing directory is fine.
	empty := t.TempDir()
	if _, err := Restore(ctx, good, empty, os.DirFS(testMigrations), nil); err != nil {
		t.Errorf("Restore into an empty directory: %v", err)
	}
}

// A restore killed midway leaves its staging directory beside the target; the next restore removes it.
func TestRestoreRemovesStagingOfKilledRestore(t *testing.T) {
	good := filepath.Join(t.TempDir(), "b.zip")
	backup(t, richStore(t), good)
	parent := t.TempDir()
	stale := filepath.Join(parent, fmt.Sprintf(".data.restoring-%d-123", deadPID(t)))
	if err := os.MkdirAll(filepath.Join(stale, "volumes"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(ctx, good, filepath.Join(parent, "data"), os.DirFS(testMigrations), nil); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 1 || entries[0].Name() != "data" {
		t.Errorf("after restore the parent holds %v, want only data", entries)
	}
}

// BenchmarkBackupRestore: backup and restore of a data directory holding a 64 MB model file and a small
// database (MB/s is of the stored files).
func BenchmarkBackupRestore(b *testing.B) {
	dir := b.TempDir()
	s, err := Open(dir, os.DirFS(testMigrations))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	p, err := s.CreateProject(ctx, "p", wmgm, nil)
	if err != nil {
		b.Fatal(err)
	}
	const size = 64 << 20
	weights := make([]byte, size)
	for i := range weights {
		weights[i] = byte(i * 7919 >> 3)
	}
	if _, err := s.CreateModel(ctx, NewModel{ProjectID: p.ID, Arch: "smallunet",
		Write: func(w io.Writer) error { _, err := w.Write(weights); return err }}); err != nil {
		b.Fatal(err)
	}
	out := filepath.Join(b.TempDir(), "b.zip")
	b.Run("backup", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			if _, err := s.Backup(ctx, out, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("restore", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			target := filepath.Join(b.TempDir(), "r")
			if _, err := Restore(ctx, out, target, os.DirFS(testMigrations), nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}
