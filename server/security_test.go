package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/mriworkbench/workbench/internal/event"
)

// request sends a request built by the test, for what e.do cannot express (the Host header).
func (e *testEnv) request(req *http.Request) response {
	e.t.Helper()
	resp, err := e.http.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{resp, data}
}

func (e *testEnv) newRequest(method, path, host string, body io.Reader, header map[string]string) *http.Request {
	e.t.Helper()
	req, err := http.NewRequest(method, e.http.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return req
}

// JSON endpoints refuse bodies not declared as JSON: a cross-site form or no-cors fetch can only send
// text/plain, form or multipart bodies without a preflight.
func TestJSONBodiesNeedTheJSONContentType(t *testing.T) {
	e := newTestEnv(t)
	p := e.createProject("ct", "wm")
	body := `{"name":"other","classes":[{"name":"wm","color":"#ff0000"}]}`
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"} {
		h := map[string]string{}
		if ct != "" {
			h["Content-Type"] = ct
		}
		r := e.do(http.MethodPost, "/api/projects", strings.NewReader(body), h).expect(t, http.StatusUnsupportedMediaType)
		if msg := r.errorMessage(t); !strings.Contains(msg, "application/json") {
			t.Errorf("content type %q: reason %q does not say what is expected", ct, msg)
		}
		// Train also takes a multipart form (a model file to start from): a multipart body that is no form is a 400.
		trainStatus := http.StatusUnsupportedMediaType
		if strings.HasPrefix(ct, "multipart/") {
			trainStatus = http.StatusBadRequest
		}
		e.do(http.MethodPost, fmt.Sprintf("/api/projects/%d/train", p.ID), strings.NewReader(`{"epochs":1}`), h).
			expect(t, trainStatus)
		e.do(http.MethodPut, fmt.Sprintf("/api/projects/%d/active-model", p.ID), strings.NewReader(`{"modelId":1}`), h).
			expect(t, http.StatusUnsupportedMediaType)
	}
	e.do(http.MethodPost, "/api/projects", strings.NewReader(body), map[string]string{"Content-Type": "application/json; charset=utf-8"}).
		expect(t, http.StatusCreated)
}

// State-changing requests from another site's page are refused, whatever their content type; the app's own
// pages, a local development server and clients that send no Origin are not.
func TestCrossOriginChangesRefused(t *testing.T) {
	e := newTestEnv(t)
	p := e.createProject("csrf", "wm")
	for _, origin := range []string{"http://evil.example", "null", "http://127.0.0.1.evil.example"} {
		h := map[string]string{"Origin": origin, "Content-Type": "application/json"}
		r := e.do(http.MethodPost, "/api/projects", strings.NewReader(`{"name":"x","classes":[{"name":"a","color":"#ff0000"}]}`), h).
			expect(t, http.StatusForbidden)
		if msg := r.errorMessage(t); !strings.Contains(msg, "cross-origin") {
			t.Errorf("origin %s: reason %q", origin, msg)
		}
		e.do(http.MethodPost, "/api/runs/1/cancel", nil, map[string]string{"Origin": origin}).expect(t, http.StatusForbidden)
		e.do(http.MethodPost, fmt.Sprintf("/api/projects/%d/train", p.ID), strings.NewReader("x"),
			map[string]string{"Origin": origin, "Content-Type": "text/plain"}).expect(t, http.StatusForbidden)
		e.do(http.MethodPut, "/api/volumes/1/slices/0/label", bytes.NewReader([]byte{0}),
			map[string]string{"Origin": origin, "Content-Type": "application/octet-stream", "X-Base-Version": "0"}).
			expect(t, http.StatusForbidden)
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		fw, _ := mw.CreateFormFile("file", "v.nii.gz")
		fw.Write(tinyImage(t, [3]int{2, 2, 2}))
		mw.Close()
		e.do(http.MethodPost, fmt.Sprintf("/api/projects/%d/volumes", p.ID), &buf,
			map[string]string{"Origin": origin, "Content-Type": mw.FormDataContentType()}).expect(t, http.StatusForbidden)
		// Reading stays possible: cross-origin reads are the browser's business (no CORS headers are sent).
		e.do(http.MethodGet, "/api/projects", nil, map[string]string{"Origin": origin}).expect(t, http.StatusOK)
	}
	if n := len(e.listProjectNames()); n != 1 {
		t.Fatalf("%d projects after refused requests, want 1", n)
	}
	// The server's own origin, a loopback development server, and no Origin at all (curl, scripts).
	for i, origin := range []string{e.http.URL, "http://localhost:5173", ""} {
		h := map[string]string{"Content-Type": "application/json"}
		if origin != "" {
			h["Origin"] = origin
		}
		e.do(http.MethodPost, "/api/projects", strings.NewReader(fmt.Sprintf(`{"name":"ok%d","classes":[{"name":"a","color":"#ff0000"}]}`, i)), h).
			expect(t, http.StatusCreated)
	}
}

func (e *testEnv) listProjectNames() []string {
	e.t.Helper()
	var ps []struct{ Name string }
	e.get("/api/projects").expect(e.t, http.StatusOK).json(e.t, &ps)
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Name
	}
	return names
}

// A page on a rebinding domain reaches the server under that domain's name: the Host header gives it away.
// Loopback names and IP addresses are answered, other names only when configured.
func TestHostHeaderChecked(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.AllowedHosts = []string{"Lab-Server.local"} })
	p := e.createProject("hosts", "wm")
	for host, want := range map[string]int{
		"evil.example":          http.StatusForbidden,
		"evil.example:8080":     http.StatusForbidden,
		"127.0.0.1.nip.io:8080": http.StatusForbidden,
		"localhost:8080":        http.StatusOK,
		"app.localhost":         http.StatusOK,
		"[::1]:8080":            http.StatusOK,
		"192.168.1.20:8080":     http.StatusOK,
		"lab-server.local:8080": http.StatusOK,
		"LAB-SERVER.LOCAL.":     http.StatusOK,
	} {
		r := e.request(e.newRequest(http.MethodGet, "/api/projects", host, nil, nil))
		if r.StatusCode != want {
			t.Errorf("host %s: status %d, want %d (%s)", host, r.StatusCode, want, r.body)
		}
		if want == http.StatusForbidden && !strings.Contains(r.errorMessage(t), "AllowedHosts") {
			t.Errorf("host %s: reason %q does not say how to allow it", host, r.body)
		}
	}
	// The websocket is behind the same check.
	url := "ws" + strings.TrimPrefix(e.http.URL, "http") + fmt.Sprintf("/api/projects/%d/events", p.ID)
	_, resp, err := websocket.DefaultDialer.Dial(url, http.Header{"Host": {"evil.example"}, "Origin": {"http://evil.example"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("websocket under a foreign host: err %v, response %v", err, resp)
	}
	conn, _, err := websocket.DefaultDialer.Dial(url, http.Header{"Host": {"lab-server.local"}, "Origin": {"http://lab-server.local"}})
	if err != nil {
		t.Fatalf("websocket under an allowed host: %v", err)
	}
	conn.Close()
	// The listen address's name is allowed without configuration.
	if !newHostPolicy("workbench.lan:8080", nil).allows("workbench.lan") || newHostPolicy(":8080", nil).allows("workbench.lan") {
		t.Error("the listen address's host name is not the one allowed")
	}
}

// gzipBomb is a tiny .nii.gz whose header claims shape of uint8 voxels, followed by 1 MB of zeros.
func gzipBomb(t *testing.T, shape [3]int) []byte {
	t.Helper()
	hdr := make([]byte, 352)
	le := binary.LittleEndian
	le.PutUint32(hdr[0:], 348)
	dims := []int16{3, int16(shape[0]), int16(shape[1]), int16(shape[2]), 1, 1, 1, 1}
	for i, d := range dims {
		le.PutUint16(hdr[40+2*i:], uint16(d))
	}
	le.PutUint16(hdr[70:], 2) // uint8
	le.PutUint16(hdr[72:], 8)
	for i := range 4 {
		le.PutUint32(hdr[76+4*i:], 0x3f800000) // pixdim 1
	}
	le.PutUint32(hdr[108:], 0x43b00000) // vox_offset 352
	copy(hdr[344:], "n+1\x00")
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(hdr)
	zw.Write(make([]byte, 1<<20))
	zw.Close()
	return buf.Bytes()
}

// An upload whose header claims more voxels than the limit is refused with 413 from its header, quickly,
// before its voxels are decoded; nothing is stored.
func TestUploadVoxelLimit(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.MaxVoxels = 1000 })
	p := e.createProject("limit", "wm")
	bomb := gzipBomb(t, [3]int{2000, 2000, 500})
	if len(bomb) > 8<<10 {
		t.Fatalf("crafted upload is %d bytes", len(bomb))
	}
	start := time.Now()
	r := e.upload(p.ID, "bomb.nii.gz", bomb).expect(t, http.StatusRequestEntityTooLarge)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("refusal took %v", d)
	}
	if msg := r.errorMessage(t); !strings.Contains(msg, "bomb.nii.gz") || !strings.Contains(msg, "2000x2000x500") ||
		!strings.Contains(msg, "limit of 1000") {
		t.Errorf("reason %q should name the file, its shape and the limit", msg)
	}
	// At the limit it is taken.
	e.upload(p.ID, "ok.nii.gz", tinyImage(t, [3]int{10, 10, 10})).expect(t, http.StatusCreated)
	e.upload(p.ID, "big.nii.gz", tinyImage(t, [3]int{10, 10, 11})).expect(t, http.StatusRequestEntityTooLarge)
	var vs []event.VolumeSummary
	e.get(fmt.Sprintf("/api/projects/%d/volumes", p.ID)).expect(t, http.StatusOK).json(t, &vs)
	if len(vs) != 1 {
		t.Fatalf("%d volumes stored, want only the one within the limit", len(vs))
	}
	if got := New(Config{}).cfg.MaxVoxels; got != DefaultMaxVoxels {
		t.Errorf("default voxel limit %d", got)
	}
}

// Uploads beyond the configured number wait for a free slot rather than decoding at once.
func TestUploadsAreBounded(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.Uploads = 1 })
	p := e.createProject("bounded", "wm")
	e.srv.uploads <- struct{}{} // an upload in progress holds the only slot

	done := make(chan int, 1)
	go func() {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		fw, _ := mw.CreateFormFile("file", "waits.nii.gz")
		fw.Write(tinyImage(t, [3]int{3, 3, 3}))
		mw.Close()
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost,
			fmt.Sprintf("%s/api/projects/%d/volumes", e.http.URL, p.ID), &buf)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		resp, err := e.http.Client().Do(req)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	select {
	case status := <-done:
		t.Fatalf("upload finished with %d while the only slot was taken", status)
	case <-time.After(300 * time.Millisecond):
	}
	<-e.srv.uploads
	select {
	case status := <-done:
		if status != http.StatusCreated {
			t.Fatalf("upload after the slot was freed: status %d", status)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("upload still waiting after the slot was freed")
	}
}

func TestLoopbackAddr(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "[::1]:8080": true, "localhost:8080": true, "LOCALHOST.:1": true,
		"app.localhost:1": true, "127.3.2.1:9": true,
		"0.0.0.0:8080": false, ":8080": false, "[::]:8080": false, "192.168.1.20:80": false, "lab-server:80": false,
	} {
		if got := LoopbackAddr(addr); got != want {
			t.Errorf("LoopbackAddr(%q) = %v, want %v", addr, got, want)
		}
	}
}
