package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mriworkbench/workbench/internal/testenv"
)

// userFacing fails the test unless msg is one line that does not name the data directory's absolute path.
func userFacing(t *testing.T, s *Store, msg string) {
	t.Helper()
	if strings.ContainsAny(msg, "\n\r") || strings.Contains(msg, s.DataDir()) {
		t.Errorf("message %q is not one line free of the data directory's path %s", msg, s.DataDir())
	}
}

// Every connection of the pool syncs the write-ahead log at each commit (synchronous=FULL, 2), not just the
// first one: a label save acknowledged survives a power cut.
func TestEveryConnectionSyncsEachCommit(t *testing.T) {
	s := newStore(t)
	var conns []*sql.Conn
	for range 3 { // held at once, so the pool opens three
		c, err := s.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	for i, c := range conns {
		var mode int
		if err := c.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&mode); err != nil || mode != 2 {
			t.Errorf("connection %d: synchronous = %d (%v), want 2 (FULL)", i, mode, err)
		}
	}
}

// randomMask is a 320x320 mask of classes 0..2 that does not compress much, so that saves fill a disk fast.
func randomMask(r *rand.Rand) []uint8 {
	m := make([]uint8, 320*320)
	for i := range m {
		m[i] = uint8(r.IntN(3))
	}
	return m
}

// A real full disk (a small tmpfs): an import and a label save fail with ErrDiskFull and a message saying so,
// leave no partial file and no half-saved version, and saving works again once space is freed.
func TestDiskFull(t *testing.T) {
	dir := testenv.Tmpfs(t, "2m")
	s := openStore(t, dir)
	p := newProject(t, s, "p")
	g := testGeometry
	g.Shape = [3]int{320, 320, 4}
	v, err := s.ImportVolume(ctx, ImportRequest{ProjectID: p.ID, Name: "v", OriginalName: "v.nii",
		Original: strings.NewReader("x"), Geometry: g})
	if err != nil {
		t.Fatal(err)
	}
	filler := testenv.FillDisk(t, dir)

	_, err = s.ImportVolume(ctx, ImportRequest{ProjectID: p.ID, Name: "w", OriginalName: "w.nii",
		Original: bytes.NewReader(make([]byte, 256<<10)), Geometry: g})
	if f := s.Fault(err); !errors.Is(f, ErrDiskFull) || !strings.HasPrefix(f.Error(), "disk full: ") {
		t.Fatalf("import on a full disk: %v", err)
	} else {
		userFacing(t, s, s.UserMessage(err))
	}
	entries, _ := os.ReadDir(filepath.Join(dir, volumesDir))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tempPrefix) {
			t.Errorf("a failed import left %s behind", e.Name())
		}
	}

	// The write-ahead log may still have room for a few commits; a save fails once it cannot grow.
	r := rand.New(rand.NewPCG(1, 2))
	version := 0
	for {
		l, err := s.SaveLabel(ctx, LabelWrite{VolumeID: v.ID, Slice: 1, BaseVersion: version, Mask: randomMask(r)})
		if err == nil {
			if version = l.Version; version > 200 {
				t.Fatalf("%d saves of 20 kB each fit on a full 2 MB disk", version)
			}
			continue
		}
		if !errors.Is(err, ErrDiskFull) || !strings.HasPrefix(err.Error(), "disk full: ") {
			t.Fatalf("save on a full disk after %d saves: %v, want ErrDiskFull", version, err)
		}
		userFacing(t, s, err.Error())
		break
	}
	t.Logf("%d saves fitted in the write-ahead log before the disk-full error", version)
	cur, err := s.Label(ctx, v.ID, 1)
	if version == 0 && !errors.Is(err, ErrNotFound) || version > 0 && (err != nil || cur.Version != version) {
		t.Fatalf("after the failed save the current label is %d (%v), want the last saved %d", cur.Version, err, version)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	mask := randomMask(r)
	l, err := s.SaveLabel(ctx, LabelWrite{VolumeID: v.ID, Slice: 1, BaseVersion: version, Mask: mask})
	if err != nil || l.Version != version+1 {
		t.Fatalf("save once space is freed: %+v, %v", l, err)
	}
	if got, err := s.Label(ctx, v.ID, 1); err != nil || !bytes.Equal(got.Mask, mask) {
		t.Fatalf("label after recovery: %v", err)
	}
}

// A data directory on a file system mounted read-only is refused at Open with a reason that says so (not "no
// such file or directory"), and the directory is left as it was.
func TestOpenReadOnlyDataDirectory(t *testing.T) {
	dir := testenv.Tmpfs(t, "4m")
	s, err := Open(dir, os.DirFS(testMigrations))
	if err != nil {
		t.Fatal(err)
	}
	newProject(t, s, "p")
	s.Close()
	testenv.RemountReadOnly(t, dir)

	_, err = Open(dir, os.DirFS(testMigrations))
	if !errors.Is(err, ErrReadOnly) || !strings.Contains(err.Error(), "read-only") ||
		!strings.Contains(err.Error(), dir) || strings.Contains(err.Error(), "no such file") {
		t.Fatalf("Open of a read-only directory: %v, want ErrReadOnly naming the directory", err)
	}
}

// With the store open, a part of the data directory turning read-only (a read-only bind mount of volumes/)
// fails an import with ErrReadOnly and a message that says why.
func TestWriteToReadOnlyDirectory(t *testing.T) {
	s := newStore(t)
	p := newProject(t, s, "p")
	testenv.ReadOnlyBind(t, s.abs(volumesDir))
	_, err := s.ImportVolume(ctx, ImportRequest{ProjectID: p.ID, Name: "v", OriginalName: "v.nii",
		Original: strings.NewReader("x"), Geometry: testGeometry})
	f := s.Fault(err)
	if !errors.Is(f, ErrReadOnly) || !errors.Is(f, syscall.EROFS) || !strings.Contains(f.Error(), "mounted read-only") {
		t.Fatalf("import into a read-only volumes/: %v", err)
	}
	userFacing(t, s, s.UserMessage(err))
}

// SQLite refusing to write (SQLITE_READONLY, here from a read-only connection to the store's own database) is
// ErrReadOnly too.
func TestReadOnlyDatabaseIsErrReadOnly(t *testing.T) {
	s := newStore(t)
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(s.DataDir(), dbFile)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = db.Exec(`CREATE TABLE scratch (x)`)
	if err == nil {
		t.Fatal("a read-only connection wrote")
	}
	f := s.Fault(fmt.Errorf("create table: %w", err))
	if !errors.Is(f, ErrReadOnly) || !strings.Contains(f.Error(), "the database cannot be written") {
		t.Fatalf("SQLite's %v: fault %v, want ErrReadOnly", err, f)
	}
}

// A volume's original file or a model's file gone from the data directory is named by what it belongs to;
// a missing file elsewhere, or a permission error outside the data directory, is not the data directory's
// fault and stays as it was.
func TestMissingFiles(t *testing.T) {
	s := newStore(t)
	p := newProject(t, s, "p")
	v := importVolume(t, s, p.ID, "t2s")
	m := createModel(t, s, p.ID, true)
	for _, c := range []struct{ path, want string }{
		{s.OriginalPath(v), fmt.Sprintf("the original file of volume \"t2s\" (%s) is missing from the data directory", v.OriginalFile)},
		{s.ModelPath(m), fmt.Sprintf("the file of model %d (%s) is missing from the data directory", m.ID, m.File)},
	} {
		if err := os.Remove(c.path); err != nil {
			t.Fatal(err)
		}
		_, err := os.Open(c.path)
		f := s.Fault(fmt.Errorf("load: %w", err))
		if !errors.Is(f, ErrFileMissing) || !errors.Is(f, fs.ErrNotExist) || !strings.HasPrefix(f.Error(), c.want) {
			t.Errorf("%s removed: %v, want ErrFileMissing saying %q", c.path, f, c.want)
		}
		userFacing(t, s, f.Error())
	}
	elsewhere := filepath.Join(t.TempDir(), "nothing-here")
	_, err := os.Open(elsewhere)
	if f := s.Fault(err); f != err {
		t.Errorf("missing file outside the data directory became %v", f)
	}
	// A sibling whose name starts like the data directory is outside it.
	_, err = os.Open(s.DataDir() + "2/x")
	if f := s.Fault(err); f != err {
		t.Errorf("missing file in a sibling of the data directory became %v", f)
	}
	denied := &fs.PathError{Op: "open", Path: "/srv/exports/x.nii.gz", Err: syscall.EACCES}
	if f := s.Fault(denied); f != error(denied) {
		t.Errorf("permission denied outside the data directory became %v", f)
	}
	if s.Fault(nil) != nil {
		t.Error("Fault(nil) is not nil")
	}
}

// Messages for users name files relative to the data directory and the directory itself as "the data
// directory", also when the directory was reached through a symbolic link.
func TestRedact(t *testing.T) {
	real := t.TempDir()
	link := filepath.Join(t.TempDir(), "data")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, link)
	for _, c := range []struct{ in, want string }{
		{"open " + link + "/volumes/3.nii.gz: no such file or directory", "open volumes/3.nii.gz: no such file or directory"},
		{"open " + real + "/models/1.model: permission denied", "open models/1.model: permission denied"},
		{"read " + link + ": is a directory", "read the data directory: is a directory"},
		{"data in " + link + ", see " + link + "/IDENTITY", "data in the data directory, see IDENTITY"},
		{"siblings " + link + "2/x " + link + "_b " + link + "-old", "siblings " + link + "2/x " + link + "_b " + link + "-old"},
		{"no paths here", "no paths here"},
	} {
		if got := s.Redact(c.in); got != c.want {
			t.Errorf("Redact(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	err := fmt.Errorf("volume \"a\":\n  open %s/volumes/9.nii: %w", link, syscall.EISDIR)
	if got, want := s.UserMessage(err), `volume "a": open volumes/9.nii: is a directory`; got != want {
		t.Errorf("UserMessage = %q, want %q", got, want)
	}
}

// A write waiting for its turn gives up when its context ends, instead of waiting for the turn.
func TestWriteTurnHonoursContext(t *testing.T) {
	s := newStore(t)
	p := newProject(t, s, "p")
	v := importVolume(t, s, p.ID, "v")
	done, err := s.writes.wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = s.SaveLabel(short, LabelWrite{VolumeID: v.ID, Slice: 0, Mask: filled(1, 1)})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("save while another write holds the turn: %v after %v", err, time.Since(start))
	}
	done()
	if _, err := s.SaveLabel(ctx, LabelWrite{VolumeID: v.ID, Slice: 0, Mask: filled(1, 1)}); err != nil {
		t.Fatalf("save once the turn is free: %v", err)
	}
}
