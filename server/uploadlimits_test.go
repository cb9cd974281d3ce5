package server

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/mriworkbench/workbench/internal/ingest"
	"github.com/mriworkbench/workbench/nifti"
	"github.com/mriworkbench/workbench/store"
)

// runServer serves a real store through Run (the http.Server the CLI's serve uses) on a loopback port; it
// returns the address and the project created in it.
func runServer(t *testing.T, configure func(*Config)) (addr string, projectID int64) {
	t.Helper()
	st, err := store.Open(t.TempDir(), os.DirFS("../migrations"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := st.CreateProject(context.Background(), "uploads", []store.Class{{Name: "gm", Color: "#00ff00"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Addr: "127.0.0.1:0", Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if configure != nil {
		configure(&cfg)
	}
	srv := New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, func(a string) { addrc <- a }) }()
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		st.Close()
	})
	return addr, p.ID
}

// smallVolume is a valid gzipped NIfTI file of 8x8x4 voxels.
func smallVolume(t testing.TB) []byte {
	t.Helper()
	like := nifti.Header{Dim: [8]int64{3, 8, 8, 4, 1, 1, 1, 1}, Pixdim: [8]float64{1, 1, 1, 1}}
	data := make([]uint8, 8*8*4)
	for i := range data {
		data[i] = uint8(i)
	}
	var buf bytes.Buffer
	if err := nifti.EncodeMask(&buf, &like, data); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// postUpload uploads a file through a real HTTP client and returns the status and the body.
func postUpload(t *testing.T, addr string, projectID int64, fileName string, data []byte) (int, []byte) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("file", fileName)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	resp, err := http.Post(fmt.Sprintf("http://%s/api/projects/%d/volumes", addr, projectID), mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatalf("upload %s: %v", fileName, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

// startRawUpload opens a connection and sends an upload's headers, declaring contentLength ("" for a chunked
// body), and the first bytes of a multipart body, then leaves the connection as it is.
func startRawUpload(t *testing.T, addr string, projectID int64, contentLength string, extraHeaders string, first []byte) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	length := "Content-Length: " + contentLength + "\r\n"
	if contentLength == "" {
		length = "Transfer-Encoding: chunked\r\n"
	}
	head := fmt.Sprintf("POST /api/projects/%d/volumes HTTP/1.1\r\nHost: %s\r\nContent-Type: multipart/form-data; boundary=XX\r\n%s%s\r\n",
		projectID, addr, length, extraHeaders)
	if _, err := conn.Write(append([]byte(head), first...)); err != nil {
		t.Fatal(err)
	}
	return conn, bufio.NewReader(conn)
}

const filePartHead = "--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"stalled.nii.gz\"\r\n" +
	"Content-Type: application/octet-stream\r\n\r\n\x1f\x8b\x08\x00"

// readErrorResponse reads one response from the connection and its {"error": ...} reason.
func readErrorResponse(t *testing.T, conn net.Conn, r *bufio.Reader, wait time.Duration) (*http.Response, string) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(wait))
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the response body: %v", err)
	}
	var e errorBody
	if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
		t.Fatalf("status %d with body %q, want {\"error\": ...}", resp.StatusCode, body)
	}
	return resp, e.Error
}

// Two clients that send an upload's headers and its first bytes, then stall, hold no decode slot: with a
// single slot a third upload completes at once, well before their body deadline, and uploads that fail to
// decode give the slot back. The stalled ones are answered 408 once nothing has arrived for the deadline.
func TestStalledUploadsDoNotBlockOthers(t *testing.T) {
	const idle = 2 * time.Second
	addr, pid := runServer(t, func(c *Config) { c.Uploads = 1; c.BodyIdleTimeout = idle })
	type stalledConn struct {
		conn  net.Conn
		r     *bufio.Reader
		since time.Time
	}
	var stalled []stalledConn
	for range 2 {
		conn, r := startRawUpload(t, addr, pid, "10485760", "", []byte(filePartHead))
		stalled = append(stalled, stalledConn{conn, r, time.Now()})
	}
	time.Sleep(200 * time.Millisecond) // the stalled uploads are in their handlers, reading

	start := time.Now()
	for i := range 2 {
		if status, body := postUpload(t, addr, pid, fmt.Sprintf("broken%d.nii.gz", i), []byte("not nifti")); status != http.StatusBadRequest {
			t.Fatalf("broken upload: status %d %s, want 400", status, body)
		}
	}
	status, body := postUpload(t, addr, pid, "third.nii.gz", smallVolume(t))
	elapsed := time.Since(start)
	if status != http.StatusCreated {
		t.Fatalf("third upload: status %d %s, want 201", status, body)
	}
	if elapsed >= idle {
		t.Errorf("third upload took %v: it waited for the stalled ones (deadline %v)", elapsed, idle)
	}

	for i, s := range stalled {
		resp, reason := readErrorResponse(t, s.conn, s.r, idle+5*time.Second)
		waited := time.Since(s.since)
		if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(reason, "stalled") {
			t.Errorf("stalled upload %d: %d %q, want 408 saying it stalled", i, resp.StatusCode, reason)
		}
		if waited < idle-100*time.Millisecond {
			t.Errorf("stalled upload %d answered after %v, before its deadline %v", i, waited, idle)
		}
		// Nothing more can be read from the connection: the server closed it.
		s.conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		if _, err := s.r.ReadByte(); !errors.Is(err, io.EOF) {
			t.Errorf("stalled upload %d: connection after the 408: %v, want it closed", i, err)
		}
	}
	// Both stalled uploads failed: every slot and the budget are free again.
	if status, body := postUpload(t, addr, pid, "fourth.nii.gz", smallVolume(t)); status != http.StatusCreated {
		t.Fatalf("upload after the stalls: status %d %s", status, body)
	}
}

// A body declared at 2 GiB and more (a 2 GiB file with its multipart framing), over the default limit, is
// answered 413 with a reason from its headers: the server reads none of it, allocates nothing for it, and
// closes the connection so the client stops sending. A client that waits for 100 Continue gets the 413
// instead and never sends the body.
func TestOversizedUploadRefusedFromHeaders(t *testing.T) {
	addr, pid := runServer(t, nil)
	declared := fmt.Sprint(int64(2<<30) + 4096)

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	conn, r := startRawUpload(t, addr, pid, declared, "", append([]byte(filePartHead), make([]byte, 64<<10)...))
	start := time.Now()
	resp, reason := readErrorResponse(t, conn, r, 5*time.Second)
	runtime.ReadMemStats(&after)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(reason, declared+" bytes") ||
		!strings.Contains(reason, fmt.Sprint(int64(DefaultMaxUploadBytes))) {
		t.Errorf("2 GiB body: %d %q, want 413 naming its size and the limit", resp.StatusCode, reason)
	}
	if !resp.Close {
		t.Error("the 413 does not close the connection")
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("the 413 took %v", elapsed)
	}
	if grown := after.TotalAlloc - before.TotalAlloc; grown > 16<<20 {
		t.Errorf("the server allocated %d MiB for a refused body", grown>>20)
	}
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := r.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("connection after the 413: %v, want it closed", err)
	}

	conn, r = startRawUpload(t, addr, pid, declared, "Expect: 100-continue\r\n", nil)
	if resp, _ := readErrorResponse(t, conn, r, 5*time.Second); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("2 GiB body awaiting 100 Continue: status %d, want 413", resp.StatusCode)
	}
}

// A chunked body, whose length no header declares, gets the same readable 413 once it passes the limit.
func TestChunkedUploadOverLimit(t *testing.T) {
	const limit = 1 << 20
	addr, pid := runServer(t, func(c *Config) { c.MaxUploadBytes = limit })
	conn, r := startRawUpload(t, addr, pid, "", "", nil)
	go func() {
		chunk := make([]byte, 64<<10)
		copy(chunk, filePartHead)
		for range 4 * limit / len(chunk) {
			if _, err := fmt.Fprintf(conn, "%x\r\n%s\r\n", len(chunk), chunk); err != nil {
				return // the server closed the connection after its answer
			}
			copy(chunk, make([]byte, len(filePartHead)))
		}
	}()
	resp, reason := readErrorResponse(t, conn, r, 10*time.Second)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(reason, fmt.Sprint(limit)) {
		t.Errorf("chunked body over the limit: %d %q, want 413 naming the limit", resp.StatusCode, reason)
	}
}

// A keep-alive connection that sends no further request is closed after the idle timeout.
func TestIdleConnectionClosed(t *testing.T) {
	const idle = 300 * time.Millisecond
	addr, _ := runServer(t, func(c *Config) { c.IdleTimeout = idle })
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /api/health HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	if err != nil || resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("health: %v %v, want a kept-alive 200", resp, err)
	}
	io.Copy(io.Discard, resp.Body)
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("idle connection: %v, want it closed", err)
	}
	if waited := time.Since(start); waited < idle/2 || waited > idle+2*time.Second {
		t.Errorf("idle connection closed after %v, want about %v", waited, idle)
	}
}

// An upload with NaN voxels is imported with them replaced, and the answer says how many and by what.
func TestUploadReportsNonFiniteVoxels(t *testing.T) {
	addr, pid := runServer(t, nil)
	like := nifti.Header{Dim: [8]int64{3, 6, 5, 4, 1, 1, 1, 1}, Pixdim: [8]float64{1, 1, 1, 1}}
	data := make([]float32, 6*5*4)
	for i := range data {
		data[i] = float32(i%13) + 3
		if i%4 == 0 {
			data[i] = float32(math.NaN())
		}
	}
	status, body := postUpload(t, addr, pid, "registered.nii.gz", float32Volume(t, &like, data))
	if status != http.StatusCreated {
		t.Fatalf("upload: %d %s", status, body)
	}
	var got uploadResult
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	want := ingest.NonFinite{Count: 30, Replacement: 3, Total: 120}
	if got.ID == 0 || got.Name != "registered" || got.NonFinite == nil || *got.NonFinite != want ||
		!strings.Contains(got.Notice, "30 of 120 voxels") {
		t.Errorf("upload answer %s, want the volume with %+v and a notice", body, want)
	}
}

// float32Volume encodes data (file order) as a gzipped float32 NIfTI-1 file with like's geometry: the
// header EncodeMask writes, retyped.
func float32Volume(t testing.TB, like *nifti.Header, data []float32) []byte {
	t.Helper()
	var enc bytes.Buffer
	if err := nifti.EncodeMask(&enc, like, make([]uint8, len(data))); err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(&enc)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	const voxOffset = 352 // a NIfTI-1 header and no extensions
	hdr := raw[:voxOffset]
	binary.LittleEndian.PutUint16(hdr[70:], uint16(nifti.DTFloat32))
	binary.LittleEndian.PutUint16(hdr[72:], 32)
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(hdr)
	for _, v := range data {
		binary.Write(zw, binary.LittleEndian, math.Float32bits(v))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// The body deadline covers receiving only: an upload whose decode takes far longer than the deadline still
// completes, and its connection stays usable for the next request.
func TestSlowDecodeOutlivesBodyDeadline(t *testing.T) {
	const idle = 100 * time.Millisecond
	addr, pid := runServer(t, func(c *Config) { c.BodyIdleTimeout = idle })
	like := nifti.Header{Dim: [8]int64{3, 512, 512, 128, 1, 1, 1, 1}, Pixdim: [8]float64{1, 1, 1, 1}}
	var file bytes.Buffer
	if err := nifti.EncodeMask(&file, &like, make([]uint8, 512*512*128)); err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", "big.nii.gz")
	fw.Write(file.Bytes())
	// A field after the file stays unread by the handler: net/http discards it after the answer.
	note, _ := mw.CreateFormField("note")
	note.Write(bytes.Repeat([]byte("n"), 64<<10))
	mw.Close()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	fmt.Fprintf(conn, "POST /api/projects/%d/volumes HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n",
		pid, addr, mw.FormDataContentType(), body.Len())
	conn.Write(body.Bytes())
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d %s", resp.StatusCode, answer)
	}
	if took := time.Since(start); took < 2*idle {
		t.Logf("decode took %v, not much longer than the body deadline %v: the test proves less", took, idle)
	}
	fmt.Fprintf(conn, "GET /api/health HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
	if resp, err := http.ReadResponse(r, nil); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("next request on the connection: %v %v", resp, err)
	}
}

// A body read to its end sets no more deadlines, even when read again (as a decoder checking for trailing
// data does): net/http then watches the connection for the client going away, and a deadline expiring there
// would cancel a handler still working (a long decode, a slow query).
func TestBodyDeadlineClearedAtEnd(t *testing.T) {
	const idle = 100 * time.Millisecond
	e := echo.New()
	e.Pre(bodyIdleDeadline(idle))
	e.POST("/work", func(c echo.Context) error {
		if _, err := io.ReadAll(c.Request().Body); err != nil {
			return err
		}
		if n, err := c.Request().Body.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			return fmt.Errorf("read after the end: %d, %v", n, err)
		}
		time.Sleep(4 * idle)
		if err := c.Request().Context().Err(); err != nil {
			return c.String(http.StatusInternalServerError, "cancelled after reading the body: "+err.Error())
		}
		return c.String(http.StatusOK, "done")
	})
	ts := httptest.NewServer(e)
	defer ts.Close()
	resp, err := http.Post(ts.URL+"/work", "text/plain", strings.NewReader("payload"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if body, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

// Upload bytes held in memory across uploads are bounded: an upload that would pass the budget is refused with
// 429 and Retry-After, and gives its bytes back, so the next one fits.
func TestUploadBudget(t *testing.T) {
	addr, pid := runServer(t, func(c *Config) { c.UploadBufferBytes = 64 << 10 })
	status, body := postUpload(t, addr, pid, "big.nii.gz", bytes.Repeat([]byte{7}, 100<<10))
	if status != http.StatusTooManyRequests || !strings.Contains(string(body), "retry") {
		t.Errorf("upload over the budget: %d %s, want 429 asking to retry", status, body)
	}
	for i := range 3 {
		if status, body := postUpload(t, addr, pid, fmt.Sprintf("small%d.nii.gz", i), smallVolume(t)); status != http.StatusCreated {
			t.Fatalf("upload %d within the budget: %d %s", i, status, body)
		}
	}
}
