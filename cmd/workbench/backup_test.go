package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	workbench "github.com/mriworkbench/workbench"
	"github.com/mriworkbench/workbench/store"
)

// addModel stores a model of size bytes of random weights in the project t2s (id 1) through the store, as a
// training run does.
func addModel(t *testing.T, data string, size int) {
	t.Helper()
	st, err := store.Open(data, workbench.Migrations())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rng := rand.New(rand.NewPCG(uint64(size), 7))
	_, err = st.CreateModel(t.Context(), store.NewModel{ProjectID: 1, Arch: "smallunet", Activate: true,
		Write: func(w io.Writer) error {
			buf := make([]byte, 1<<16)
			for left := size; left > 0; left -= len(buf) {
				for i := range buf {
					buf[i] = byte(rng.Uint32())
				}
				if _, err := w.Write(buf[:min(left, len(buf))]); err != nil {
					return err
				}
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
}

// onlyMatch is the one file matching a glob pattern, e.g. models/2-*.model: stored files' names carry a
// random part.
func onlyMatch(t *testing.T, pattern string) string {
	t.Helper()
	matches, err := filepath.Glob(pattern)
	if err != nil || len(matches) != 1 {
		t.Fatalf("%s matches %v (%v), want one file", pattern, matches, err)
	}
	return matches[0]
}

// storedSums is the SHA-256 of every file of a data directory but the database's own, by relative path.
func storedSums(t *testing.T, data string) map[string]string {
	t.Helper()
	sums := map[string]string{}
	err := filepath.WalkDir(data, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), "workbench.db") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(data, path)
		sum := sha256.Sum256(b)
		sums[filepath.ToSlash(rel)] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sums
}

func equalSums(t *testing.T, what string, want, got map[string]string) {
	t.Helper()
	for name, sum := range want {
		if got[name] != sum {
			t.Errorf("%s: %s changed or vanished", what, name)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: new file %s", what, name)
		}
	}
}

// dumpRows renders every row of every table of a data directory's database, sorted.
func dumpRows(t *testing.T, data string) []string {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(data, "workbench.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var tables []string
	rows, err := db.Query(`SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		rows.Scan(&name)
		tables = append(tables, name)
	}
	rows.Close()
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
			rows.Scan(ptrs...)
			dump = append(dump, fmt.Sprintf("%s %q", table, vals))
		}
		rows.Close()
	}
	slices.Sort(dump)
	return dump
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func expectRefusal(t *testing.T, r result, want ...string) {
	t.Helper()
	msg := strings.TrimSpace(r.stderr)
	if r.code != 1 || strings.Count(msg, "\n") > 0 {
		t.Fatalf("exit %d, stderr %q: want 1 and one line", r.code, r.stderr)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("%q lacks %q", msg, w)
		}
	}
}

// Issue 10: with workbench.db deleted or emptied, the data directory was taken for a new store and the next
// import overwrote volumes/1.nii.gz. Now every such directory is refused, saying how to recover, and no stored
// file changes.
func TestLostDatabaseRefusedAndNoFileChanges(t *testing.T) {
	base := t.TempDir()
	importT2s(t, base)
	mustRun(t, "import", "--data", base, "--project", "t2s", sharedData(t, "sct_testing_data", "mt", "mt1.nii.gz"))
	addModel(t, base, 4096)
	addModel(t, base, 8192)
	other := t.TempDir() // another workbench, with its own identity
	mustRun(t, "import", "--data", other, "--project", "o", "--classes", "a", sharedData(t, "sct_testing_data", "t2", "t2.nii.gz"))
	next := sharedData(t, "sct_testing_data", "t1", "t1w.nii.gz")

	removeDB := func(t *testing.T, dir string) {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			os.Remove(filepath.Join(dir, "workbench.db"+suffix))
		}
	}
	for _, c := range []struct {
		name  string
		spoil func(t *testing.T, dir string)
		want  string
	}{
		{"deleted", removeDB, "holds an IDENTITY and 4 stored files (volumes/1-"},
		{"emptied", func(t *testing.T, dir string) {
			removeDB(t, dir)
			writeFile(t, filepath.Join(dir, "workbench.db"), nil)
		}, "but no database (workbench.db is empty)"},
		{"rows deleted", func(t *testing.T, dir string) {
			db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "workbench.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec(`DELETE FROM identity; DELETE FROM models; DELETE FROM projects; DELETE FROM sqlite_sequence`); err != nil {
				t.Fatal(err)
			}
		}, "has a database that is not its own"},
		{"another workbench's database", func(t *testing.T, dir string) {
			removeDB(t, dir)
			b, err := os.ReadFile(filepath.Join(other, "workbench.db"))
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(dir, "workbench.db"), b)
		}, "has the database of another data directory"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			copyDir(t, base, dir)
			c.spoil(t, dir)
			before := storedSums(t, dir)
			if len(before) != 5 { // IDENTITY, 2 volumes, 2 models
				t.Fatalf("stored files %v", before)
			}
			for _, args := range [][]string{
				{"import", "--data", dir, "--project", "t2s", next},
				{"serve", "--data", dir, "--addr", "127.0.0.1:0"},
				{"backup", "--data", dir, "--out", filepath.Join(t.TempDir(), "b.zip")},
			} {
				if c.name == "deleted" && args[0] == "backup" {
					continue // no database at all: backup says there is no workbench (below)
				}
				expectRefusal(t, invoke(t, args...), c.want, "workbench restore --from BACKUP --data NEWDIR", "move "+dir+" away")
				equalSums(t, args[0], before, storedSums(t, dir))
			}
		})
	}
}

// A backup taken while the server runs and saves labels restores into a new directory that opens with
// integrity_check ok; a backup of the quiet directory restores to the same rows and files.
func TestBackupWhileServingThenRestore(t *testing.T) {
	data := t.TempDir()
	importT2s(t, data)
	addModel(t, data, 1<<20)
	srv := startServe(t, data)

	// An annotator keeps saving slice 1 of volume 1 (49x54) during the backup.
	stop, saving := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	var saves int
	var saveErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer func() {
			if saves == 0 {
				close(saving)
			}
		}()
		mask := make([]byte, 49*54)
		for version := 0; ; version++ {
			select {
			case <-stop:
				return
			default:
			}
			mask[version%len(mask)] = 1
			req, _ := http.NewRequest(http.MethodPut, "http://"+srv.addr+"/api/volumes/1/slices/1/label", bytes.NewReader(mask))
			req.Header.Set("X-Base-Version", fmt.Sprint(version))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				saveErr = err
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				saveErr = fmt.Errorf("save %d: %s", version, resp.Status)
				return
			}
			if saves++; saves == 1 {
				close(saving)
			}
		}
	}()
	<-saving // the backup starts while saves are under way
	out := filepath.Join(t.TempDir(), "live.zip")
	stdout := mustRun(t, "backup", "--data", data, "--out", out)
	close(stop)
	wg.Wait()
	if saveErr != nil {
		t.Fatalf("label saves beside the backup: %v", saveErr)
	}
	for _, want := range []string{"backup: taking a snapshot of the database", "backup: copying 2 stored files",
		"backup: wrote " + out, "1 project, 1 volume, 1 model; 4 files"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("backup output lacks %q:\n%s", want, stdout)
		}
	}
	t.Logf("%d label saves during the backup", saves)
	restored := filepath.Join(t.TempDir(), "restored")
	stdout = mustRun(t, "restore", "--from", out, "--data", restored)
	if !strings.Contains(stdout, "integrity_check ok") {
		t.Errorf("restore output:\n%s", stdout)
	}
	if st, err := store.Open(restored, workbench.Migrations(), store.WithFullIntegrityCheck()); err != nil {
		t.Fatalf("restored directory: %v", err)
	} else {
		st.Close()
	}

	srv.cmd.Process.Signal(os.Interrupt)
	srv.cmd.Wait()
	quiet := filepath.Join(t.TempDir(), "quiet.zip")
	mustRun(t, "backup", "--data", data, "--out", quiet)
	again := filepath.Join(t.TempDir(), "again")
	mustRun(t, "restore", "--from", quiet, "--data", again)
	if a, b := dumpRows(t, data), dumpRows(t, again); !slices.Equal(a, b) {
		t.Errorf("restored rows differ: %d rows, %d restored", len(a), len(b))
	}
	equalSums(t, "restored", storedSums(t, data), storedSums(t, again))
}

// kill -9 during a backup: the data directory is untouched and opens with integrity_check ok, no archive
// appears under the final name, and no temporary file is left anywhere once the store is opened again and a
// later backup has run.
func TestBackupKilledMidway(t *testing.T) {
	data := t.TempDir()
	importT2s(t, data)
	addModel(t, data, 48<<20) // copying a large model takes long enough to be killed in
	sums, rows := storedSums(t, data), dumpRows(t, data)
	outDir := t.TempDir()
	out := filepath.Join(outDir, "backup.zip")

	for _, killAt := range []string{"backup: taking a snapshot", "backup: copying"} {
		cmd := exec.Command(os.Args[0], "backup", "--data", data, "--out", out)
		cmd.Env = append(os.Environ(), "WORKBENCH_TEST_MAIN=1")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := bufio.NewScanner(stdout)
		for lines.Scan() && !strings.HasPrefix(lines.Text(), killAt) {
		}
		cmd.Process.Kill()
		go io.Copy(io.Discard, stdout)
		var exit *exec.ExitError
		if err := cmd.Wait(); !errors.As(err, &exit) || exit.ExitCode() != -1 {
			t.Fatalf("backup killed at %q: %v (it ended before the kill?); stderr %s", killAt, err, stderr.String())
		}
		if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("killed at %q: an archive is under the final name: %v", killAt, err)
		}
		if left, _ := os.ReadDir(outDir); len(left) > 0 {
			t.Logf("killed at %q: %s holds %v (a file system without O_TMPFILE)", killAt, outDir, left)
		}
		now := storedSums(t, data)
		var partial []string
		for name := range now {
			if strings.HasPrefix(name, ".partial-") {
				partial = append(partial, name)
			}
		}
		// Copying begins after the snapshot, which stays until the backup ends: the kill left it.
		if killAt == "backup: copying" && len(partial) == 0 {
			t.Errorf("killed while copying, yet no snapshot is left in the data directory")
		}
		t.Logf("killed at %q: the data directory holds %v besides its files", killAt, partial)
		for name, sum := range sums {
			if now[name] != sum {
				t.Errorf("killed at %q: %s changed", killAt, name)
			}
		}
		for name := range now {
			if _, ok := sums[name]; !ok && !strings.HasPrefix(name, ".partial-") {
				t.Errorf("killed at %q: new file %s in the data directory", killAt, name)
			}
		}
	}

	st, err := store.Open(data, workbench.Migrations(), store.WithFullIntegrityCheck())
	if err != nil {
		t.Fatalf("open after the killed backups: %v", err)
	}
	st.Close()
	equalSums(t, "after the next open", sums, storedSums(t, data))
	if got := dumpRows(t, data); !slices.Equal(got, rows) {
		t.Errorf("rows changed by the killed backups")
	}
	mustRun(t, "backup", "--data", data, "--out", out)
	if left, _ := os.ReadDir(outDir); len(left) != 1 || left[0].Name() != "backup.zip" {
		t.Errorf("after a complete backup %s holds %v", outDir, left)
	}
	mustRun(t, "restore", "--from", out, "--data", filepath.Join(t.TempDir(), "r"))
}

func TestBackupRestoreRefusals(t *testing.T) {
	data := t.TempDir()
	importT2s(t, data)
	archive := filepath.Join(t.TempDir(), "b.zip")
	mustRun(t, "backup", "--data", data, "--out", archive)
	notZip := filepath.Join(t.TempDir(), "notes.zip")
	writeFile(t, notZip, []byte("my notes"))

	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"backup", "--data", data}, 2, "--out is required"},
		{[]string{"backup", "--data", data, "--out", filepath.Join(data, "b.zip")}, 1, "is inside the data directory"},
		{[]string{"backup", "--data", filepath.Join(data, "nothing"), "--out", archive}, 1, "holds no workbench (no workbench.db)"},
		{[]string{"backup", "--data", data, "--out", archive, "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"restore", "--data", t.TempDir()}, 2, "--from is required"},
		{[]string{"restore", "--from", archive, "--data", data}, 1, "already holds a workbench"},
		{[]string{"restore", "--from", notZip, "--data", filepath.Join(t.TempDir(), "d")}, 1, "is not a workbench backup"},
		{[]string{"restore", "--from", filepath.Join(t.TempDir(), "missing.zip"), "--data", filepath.Join(t.TempDir(), "d")}, 1, "no such file"},
	} {
		r := invoke(t, c.args...)
		if r.code != c.code || !strings.Contains(r.stderr, c.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
			t.Errorf("workbench %s: exit %d, stderr %q; want %d and %q", strings.Join(c.args, " "), r.code, r.stderr, c.code, c.want)
		}
	}
	for _, cmd := range []string{"backup", "restore"} {
		if r := invoke(t, cmd, "--help"); r.code != 0 || !strings.Contains(r.stderr, "usage: workbench "+cmd) {
			t.Errorf("%s --help: %+v", cmd, r)
		}
	}
}
