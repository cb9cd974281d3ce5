package server

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mriworkbench/workbench/nifti"
	"github.com/mriworkbench/workbench/store"
)

// uploadChildEnv names the data directory of a child server started by BenchmarkUploadPeakRSS.
const uploadChildEnv = "WORKBENCH_UPLOAD_CHILD_DATA"

// TestUploadMemoryChild is the server process BenchmarkUploadPeakRSS measures: the default configuration, as
// `workbench serve` runs it, printing its address and serving until its stdin closes. Without the
// benchmark's environment it does nothing.
func TestUploadMemoryChild(t *testing.T) {
	dir := os.Getenv(uploadChildEnv)
	if dir == "" {
		t.Skip("run by BenchmarkUploadPeakRSS as its child server")
	}
	st, err := store.Open(dir, os.DirFS("../migrations"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	srv := New(Config{Addr: "127.0.0.1:0", Store: st, Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err := srv.Run(ctx, func(addr string) { fmt.Println("addr", addr) }); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkUploadPeakRSS uploads a volume at the default voxel limit (1024x1024x256 uint8 voxels: 1 GiB as
// float32, 261 KB of gzip, the example) to a fresh server process and reports the process's peak
// resident memory (VmHWM) beside the decoded voxel bytes, in the file's own orientation and in one that
// needs every axis permuted and flipped (source z becomes canonical x, as in sagittal scans). Run with
// -benchtime=1x: each iteration starts a new server.
func BenchmarkUploadPeakRSS(b *testing.B) {
	if raceDetector {
		b.Skip("the race detector's shadow memory inflates resident memory")
	}
	const nx, ny, nz = 1024, 1024, 256
	for _, orient := range uploadOrientations {
		b.Run(orient.name, func(b *testing.B) {
			file, body, contentType := limitUpload(b, [3]int{nx, ny, nz}, orient.rows)
			var peak, idle int64
			var took time.Duration
			for b.Loop() {
				var p int64
				p, idle, took = measureUpload(b, body, contentType)
				peak = max(peak, p)
			}
			voxelBytes := int64(4 * nx * ny * nz)
			b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
			b.ReportMetric(float64(idle)/(1<<20), "idle-RSS-MiB")
			b.ReportMetric(float64(voxelBytes)/(1<<20), "voxel-MiB")
			b.ReportMetric(float64(len(file))/(1<<10), "upload-KiB")
			b.ReportMetric(float64(peak)/float64(voxelBytes), "peak/voxel-bytes")
			b.ReportMetric(took.Seconds(), "upload-s")
		})
	}
}

// The server's resident memory grows by less than twice the decoded voxel bytes while it takes an upload,
// in a fresh process (here 256x256x256 voxels, 64 MiB as float32; BenchmarkUploadPeakRSS measures the limit).
func TestUploadPeakRSSUnderTwiceVoxels(t *testing.T) {
	if raceDetector {
		t.Skip("the race detector's shadow memory inflates resident memory")
	}
	const n = 256
	voxelBytes := int64(4 * n * n * n)
	for _, orient := range uploadOrientations {
		_, body, contentType := limitUpload(t, [3]int{n, n, n}, orient.rows)
		peak, idle, _ := measureUpload(t, body, contentType)
		t.Logf("%s: peak RSS %d MiB, %d MiB idle, for %d MiB of voxels", orient.name, peak>>20, idle>>20, voxelBytes>>20)
		if grown := peak - idle; grown >= 2*voxelBytes {
			t.Errorf("%s: RSS grew by %d MiB taking an upload of %d MiB of voxels, want under twice that", orient.name, grown>>20, voxelBytes>>20)
		}
	}
}

var uploadOrientations = []struct {
	name string
	rows [3][4]float64 // sform
}{
	{"canonical", [3][4]float64{{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}}},
	{"permuted", [3][4]float64{{0, 0, -1, 0}, {-1, 0, 0, 0}, {0, -1, 0, 0}}},
}

// limitUpload is a zero-filled uint8 volume of the given shape and sform, gzipped, in a multipart body.
func limitUpload(tb testing.TB, shape [3]int, rows [3][4]float64) (file, body []byte, contentType string) {
	like := nifti.Header{Dim: [8]int64{3, int64(shape[0]), int64(shape[1]), int64(shape[2]), 1, 1, 1, 1},
		Pixdim: [8]float64{1, 1, 1, 1}, SformCode: 1, SrowX: rows[0], SrowY: rows[1], SrowZ: rows[2]}
	var f bytes.Buffer
	if err := nifti.EncodeMask(&f, &like, make([]uint8, shape[0]*shape[1]*shape[2])); err != nil {
		tb.Fatal(err)
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", "limit.nii.gz")
	fw.Write(f.Bytes())
	mw.Close()
	return f.Bytes(), buf.Bytes(), mw.FormDataContentType()
}

// measureUpload starts a server process, uploads body and returns the process's peak RSS after the upload,
// its peak before it, and the upload's duration.
func measureUpload(tb testing.TB, body []byte, contentType string) (peak, idle int64, took time.Duration) {
	child := startUploadChild(tb)
	defer child.stop()
	idle = child.hwm(tb)
	start := time.Now()
	resp, err := http.Post(fmt.Sprintf("http://%s/api/projects/%d/volumes", child.addr, child.projectID),
		contentType, bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	took = time.Since(start)
	if resp.StatusCode != http.StatusCreated {
		tb.Fatalf("upload: %d %s", resp.StatusCode, answer)
	}
	return child.hwm(tb), idle, took
}

// uploadChild is a server process started by the benchmark.
type uploadChild struct {
	cmd       *exec.Cmd
	stdin     io.Closer
	addr      string
	projectID int64
}

func startUploadChild(b testing.TB) *uploadChild {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestUploadMemoryChild$")
	cmd.Env = append(os.Environ(), uploadChildEnv+"="+b.TempDir())
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	c := &uploadChild{cmd: cmd, stdin: stdin}
	b.Cleanup(c.stop)
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if addr, ok := strings.CutPrefix(lines.Text(), "addr "); ok {
			c.addr = addr
			break
		}
	}
	if c.addr == "" {
		b.Fatal("the child server printed no address")
	}
	go io.Copy(io.Discard, stdout)
	resp, err := http.Post("http://"+c.addr+"/api/projects", "application/json",
		strings.NewReader(`{"name":"memory","classes":[{"name":"gm","color":"#00ff00"}]}`))
	if err != nil {
		b.Fatal(err)
	}
	var created struct{ ID int64 }
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b.Fatalf("create project: %d %s", resp.StatusCode, answer)
	}
	if _, err := fmt.Sscanf(string(answer), `{"id":%d`, &created.ID); err != nil {
		b.Fatalf("create project: %s: %v", answer, err)
	}
	c.projectID = created.ID
	return c
}

// hwm is the child's peak resident set size so far, in bytes (VmHWM of /proc/PID/status).
func (c *uploadChild) hwm(b testing.TB) int64 {
	b.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		b.Skipf("peak RSS needs Linux's /proc: %v", err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				b.Fatalf("VmHWM %q: %v", rest, err)
			}
			return kb << 10
		}
	}
	b.Fatal("no VmHWM in /proc/PID/status")
	return 0
}

// stop ends the child: closing its stdin makes it shut down; it is killed if it does not.
func (c *uploadChild) stop() {
	if c.cmd.ProcessState != nil {
		return
	}
	c.stdin.Close()
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-done
	}
}
