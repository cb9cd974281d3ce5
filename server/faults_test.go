package server

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mriworkbench/workbench/internal/event"
	"github.com/mriworkbench/workbench/internal/testenv"
	"github.com/mriworkbench/workbench/store"
)

// faultMessage checks that r has the status and an error that is one line without the data directory's
// absolute path, and returns that line.
func (e *testEnv) faultMessage(r response, status int) string {
	e.t.Helper()
	msg := r.expect(e.t, status).errorMessage(e.t)
	if strings.Contains(msg, e.store.DataDir()) || strings.ContainsAny(msg, "\r\n") {
		e.t.Fatalf("%s %s: message %q names the data directory %s or is not one line",
			r.Request.Method, r.Request.URL.Path, msg, e.store.DataDir())
	}
	e.t.Logf("%s %s: %d %s", r.Request.Method, r.Request.URL.Path, r.StatusCode, msg)
	return msg
}

// noPartialFiles fails the test if a partial file is left in the data directory's volumes/.
func (e *testEnv) noPartialFiles() {
	e.t.Helper()
	entries, err := os.ReadDir(filepath.Join(e.store.DataDir(), "volumes"))
	if err != nil {
		e.t.Fatal(err)
	}
	for _, de := range entries {
		if strings.HasPrefix(de.Name(), ".") {
			e.t.Errorf("partial file volumes/%s left behind", de.Name())
		}
	}
}

// On a real full disk (a small tmpfs) an upload and a label save answer 507 "disk full", nothing partial
// stays, reads still work, and saving works again once space is freed.
func TestDiskFullAnswers507(t *testing.T) {
	dir := testenv.Tmpfs(t, "4m")
	e := newTestEnvIn(t, dir)
	p := e.createProject("full", "gm")
	img := tinyImage(t, [3]int{64, 64, 4})
	var v event.VolumeSummary
	e.upload(p.ID, "a.nii.gz", img).expect(t, http.StatusCreated).json(t, &v)
	filler := testenv.FillDisk(t, dir)

	if msg := e.faultMessage(e.upload(p.ID, "b.nii.gz", img), http.StatusInsufficientStorage); !strings.HasPrefix(msg, "disk full") {
		t.Fatalf("upload on a full disk: %q, want it to start with \"disk full\"", msg)
	}
	e.noPartialFiles()

	// The write-ahead log may still hold a few saves; one fails once it cannot grow.
	r := rand.New(rand.NewPCG(3, 4))
	mask := func() []byte {
		m := make([]byte, 64*64)
		for i := range m {
			m[i] = byte(r.IntN(2))
		}
		return m
	}
	version := 0
	for {
		resp := e.putMask(v.ID, 1, version, mask(), nil)
		if resp.StatusCode == http.StatusOK {
			var l store.Label
			resp.json(t, &l)
			if version = l.Version; version > 500 {
				t.Fatal("500 label saves fitted on a full disk")
			}
			continue
		}
		if msg := e.faultMessage(resp, http.StatusInsufficientStorage); !strings.HasPrefix(msg, "disk full") {
			t.Fatalf("label save on a full disk: %q", msg)
		}
		break
	}
	e.get("/api/health").expect(t, http.StatusOK)
	e.get(fmt.Sprintf("/api/projects/%d/volumes", p.ID)).expect(t, http.StatusOK)

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	e.putMask(v.ID, 1, version, mask(), nil).expect(t, http.StatusOK)
	e.upload(p.ID, "b.nii.gz", img).expect(t, http.StatusCreated)
}

// With the data directory's volumes/ read-only (a read-only bind mount while the server runs), an upload
// answers 503 saying the data directory is read-only, not "no such file or directory"; reads still work.
func TestReadOnlyDataDirectoryAnswers503(t *testing.T) {
	e := newTestEnv(t)
	p := e.createProject("ro", "gm")
	testenv.ReadOnlyBind(t, filepath.Join(e.store.DataDir(), "volumes"))

	msg := e.faultMessage(e.upload(p.ID, "a.nii.gz", tinyImage(t, [3]int{8, 8, 2})), http.StatusServiceUnavailable)
	if !strings.Contains(msg, "the data directory is read-only") || strings.Contains(msg, "no such file") {
		t.Fatalf("upload into a read-only directory: %q", msg)
	}
	e.get("/api/projects").expect(t, http.StatusOK)
}

// A volume whose original file is gone from the data directory: viewing, exporting and training on it each
// fail with one line naming the volume and the missing file, never the data directory's absolute path.
func TestMissingOriginalFile(t *testing.T) {
	e := newTestEnv(t)
	e.closeTrainer()
	p := e.createProject("lost", "gm")
	// Imported past the server, so that no decoded copy waits in its volume cache.
	shape := [3]int{32, 32, 4}
	var labels []store.SliceMask
	for z := range shape[2] {
		m := make([]uint8, shape[0]*shape[1])
		for i := range m {
			if x, y := i%shape[0], i/shape[0]; x > 8 && x < 24 && y > 8 && y < 24 {
				m[i] = 1
			}
		}
		labels = append(labels, store.SliceMask{Slice: z, Mask: m})
	}
	v, err := importFile(context.Background(), e.store, p.ID, "a.nii.gz", tinyImage(t, shape), labels, "ann")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(e.store.OriginalPath(v)); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("the original file of volume %q (%s) is missing from the data directory", v.Name, v.OriginalFile)

	for _, path := range []string{
		fmt.Sprintf("/api/volumes/%d/slices/1", v.ID),
		fmt.Sprintf("/api/volumes/%d/export", v.ID),
		fmt.Sprintf("/api/projects/%d/export.zip", p.ID),
	} {
		if msg := e.faultMessage(e.get(path), http.StatusInternalServerError); !strings.Contains(msg, want) {
			t.Errorf("GET %s: %q, want it to say %q", path, msg, want)
		}
	}

	settings := map[string]any{"settings": fastSettings}
	var run store.Run
	e.sendJSON(http.MethodPost, fmt.Sprintf("/api/projects/%d/train", p.ID), settings).
		expect(t, http.StatusAccepted).json(t, &run)
	deadline := time.Now().Add(60 * time.Second)
	for run.Status == store.RunQueued || run.Status == store.RunRunning {
		if time.Now().After(deadline) {
			t.Fatalf("run %d still %s", run.ID, run.Status)
		}
		time.Sleep(50 * time.Millisecond)
		e.get(fmt.Sprintf("/api/runs/%d", run.ID)).expect(t, http.StatusOK).json(t, &run)
	}
	if run.Status != store.RunFailed || !strings.Contains(run.Error, want) || strings.Contains(run.Error, e.store.DataDir()) {
		t.Fatalf("run on a volume without its file: %s %q, want failed saying %q", run.Status, run.Error, want)
	}
	t.Logf("run %d: %s: %s", run.ID, run.Status, run.Error)
}

// Every error body passes through one filter: the data directory's absolute path never reaches users, and
// an unexpected failure keeps its detail for the log.
func TestErrorBodiesHideTheDataDirectory(t *testing.T) {
	e := newTestEnv(t)
	dir := e.store.DataDir()
	for _, c := range []struct {
		err    error
		status int
		want   string
	}{
		{badRequest("cannot read %s/volumes/x.nii: truncated", dir), http.StatusBadRequest, "cannot read volumes/x.nii: truncated"},
		{fmt.Errorf("backup of %s: %w", dir, store.ErrConflict), http.StatusConflict, "backup of the data directory: conflict"},
		{&fs.PathError{Op: "read", Path: dir + "/volumes/1.nii", Err: syscall.EIO}, http.StatusInternalServerError,
			"internal server error (details in the server log)"},
	} {
		c0 := e.srv.echo.NewContext(httptest.NewRequest(http.MethodGet, "/api/x", nil), httptest.NewRecorder())
		status, body := e.srv.classify(c.err, c0)
		if status != c.status || body.Error != c.want {
			t.Errorf("%v: %d %q, want %d %q", c.err, status, body.Error, c.status, c.want)
		}
	}
}
