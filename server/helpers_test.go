package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/mriworkbench/workbench/internal/auth"
	"github.com/mriworkbench/workbench/internal/event"
	"github.com/mriworkbench/workbench/internal/ingest"
	"github.com/mriworkbench/workbench/internal/testenv"
	"github.com/mriworkbench/workbench/nifti"
	"github.com/mriworkbench/workbench/store"
)

// sharedData returns a file under <repo root>/../shared/data: a missing file skips the test, or fails it when
// WORKBENCH_REQUIRE_DATA=1 (as in CI).
var sharedData = testenv.SharedData

func readShared(t testing.TB, rel string) []byte {
	t.Helper()
	data, err := os.ReadFile(sharedData(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// testEnv is a server on a real store in a temporary data directory, listening on a loopback port.
type testEnv struct {
	t     testing.TB
	srv   *Server
	store *store.Store
	http  *httptest.Server
}

const testIndexHTML = "<!doctype html><title>workbench test app</title>"

func newTestEnv(t testing.TB, configure ...func(*Config)) *testEnv {
	t.Helper()
	return newTestEnvIn(t, t.TempDir(), configure...)
}

// newTestEnvIn is newTestEnv on the data directory dataDir.
func newTestEnvIn(t testing.TB, dataDir string, configure ...func(*Config)) *testEnv {
	t.Helper()
	st, err := store.Open(dataDir, os.DirFS("../migrations"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Addr:  "127.0.0.1:0", // httptest listens on loopback: zero-config unless a test adds users
		Store: st,
		// Logins in tests hash with cheap parameters; auth's benchmark measures the real ones.
		PasswordParams: auth.Params{MemoryKiB: 1024, Time: 1, Threads: 1},
		WebApp:         fstest.MapFS{"index.html": {Data: []byte(testIndexHTML)}},
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, f := range configure {
		f(&cfg)
	}
	srv := New(cfg)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		srv.Hub().Close()
		ts.Close()
		st.Close()
	})
	return &testEnv{t: t, srv: srv, store: st, http: ts}
}

// response is a finished HTTP exchange.
type response struct {
	*http.Response
	body []byte
}

func (r response) json(t testing.TB, dst any) {
	t.Helper()
	if err := json.Unmarshal(r.body, dst); err != nil {
		t.Fatalf("response %d %q is not the expected JSON: %v", r.StatusCode, r.body, err)
	}
}

// errorMessage returns the one-line reason of an error response, failing if the body is not {"error": ...}.
func (r response) errorMessage(t testing.TB) string {
	t.Helper()
	var e errorBody
	r.json(t, &e)
	if e.Error == "" {
		t.Fatalf("error response %d has no reason: %s", r.StatusCode, r.body)
	}
	return e.Error
}

func (e *testEnv) do(method, path string, body io.Reader, header map[string]string) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.http.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := e.http.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return response{resp, data}
}

func (e *testEnv) get(path string) response { return e.do(http.MethodGet, path, nil, nil) }

func (e *testEnv) sendJSON(method, path string, v any) response {
	e.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.do(method, path, bytes.NewReader(b), map[string]string{"Content-Type": "application/json"})
}

// expect fails the test unless the response has the given status.
func (r response) expect(t testing.TB, status int) response {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d; body %.300s", r.Request.Method, r.Request.URL.Path, r.StatusCode, status, r.body)
	}
	return r
}

func (e *testEnv) createProject(name string, classes ...string) store.Project {
	e.t.Helper()
	palette := []string{"#ff0000", "#00ff00", "#0000ff", "#ffff00"}
	var cs []store.Class
	for i, c := range classes {
		cs = append(cs, store.Class{Name: c, Color: palette[i%len(palette)]})
	}
	var p store.Project
	e.sendJSON(http.MethodPost, "/api/projects", map[string]any{"name": name, "classes": cs}).
		expect(e.t, http.StatusCreated).json(e.t, &p)
	return p
}

func (e *testEnv) upload(projectID int64, fileName string, data []byte) response {
	e.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile("file", fileName)
	if err != nil {
		e.t.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	return e.do(http.MethodPost, fmt.Sprintf("/api/projects/%d/volumes", projectID), &buf,
		map[string]string{"Content-Type": mw.FormDataContentType()})
}

func (e *testEnv) uploadVolume(projectID int64, rel string) event.VolumeSummary {
	e.t.Helper()
	var v event.VolumeSummary
	e.upload(projectID, filepath.Base(rel), readShared(e.t, rel)).expect(e.t, http.StatusCreated).json(e.t, &v)
	return v
}

// importFile imports a file's bytes into a project as the upload and the CLI do.
func importFile(ctx context.Context, st *store.Store, projectID int64, name string, data []byte, labels []store.SliceMask,
	author string) (store.VolumeMeta, error) {
	img, err := ingest.Decode(name, data, nifti.ReadOptions{})
	if err != nil {
		return store.VolumeMeta{}, err
	}
	v, _, err := ingest.Import(ctx, st, projectID, name, data, img, labels, author)
	return v, err
}

// putMask saves a label through the API.
func (e *testEnv) putMask(volumeID int64, slice, base int, mask []byte, header map[string]string) response {
	e.t.Helper()
	h := map[string]string{"Content-Type": "application/octet-stream", "X-Base-Version": fmt.Sprint(base)}
	for k, v := range header {
		h[k] = v
	}
	return e.do(http.MethodPut, fmt.Sprintf("/api/volumes/%d/slices/%d/label", volumeID, slice), bytes.NewReader(mask), h)
}
