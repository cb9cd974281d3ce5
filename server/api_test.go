package server

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mriworkbench/workbench/internal/event"
	"github.com/mriworkbench/workbench/nifti"
	"github.com/mriworkbench/workbench/store"
)

const t2sPath = "sct_testing_data/t2s/t2s.nii.gz"

func TestHealthFallbackAndUnknownAPIPaths(t *testing.T) {
	e := newTestEnv(t)
	var health map[string]string
	e.get("/api/health").expect(t, http.StatusOK).json(t, &health)
	if health["status"] != "ok" {
		t.Fatalf("health = %v", health)
	}
	// Deep links of the single-page app get its index page.
	if r := e.get("/projects/3/volumes/7").expect(t, http.StatusOK); string(r.body) != testIndexHTML {
		t.Fatalf("SPA fallback served %q", r.body)
	}
	// Unknown API paths stay JSON errors.
	for _, path := range []string{"/api/nope", "/api/projects/1/nope", "/api"} {
		r := e.get(path).expect(t, http.StatusNotFound)
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%s: content type %q", path, r.Header.Get("Content-Type"))
		}
		r.errorMessage(t)
	}
}

func TestProjects(t *testing.T) {
	e := newTestEnv(t)
	p := e.createProject("cord", "wm", "gm")
	if p.ID == 0 || len(p.Classes) != 2 || p.Classes[1].Name != "gm" {
		t.Fatalf("created project %+v", p)
	}

	var list []projectListItem
	e.get("/api/projects").expect(t, http.StatusOK).json(t, &list)
	if len(list) != 1 || list[0].Name != "cord" || list[0].VolumeCount != 0 {
		t.Fatalf("project list %+v", list)
	}
	var got store.Project
	e.get(fmt.Sprintf("/api/projects/%d", p.ID)).expect(t, http.StatusOK).json(t, &got)
	if got.Name != "cord" {
		t.Fatalf("project %+v", got)
	}

	var patched store.Project
	e.sendJSON(http.MethodPatch, fmt.Sprintf("/api/projects/%d", p.ID), map[string]any{
		"classes":  []store.Class{{Name: "wm", Color: "#112233"}, {Name: "gm", Color: "#445566"}, {Name: "csf", Color: "#778899"}},
		"settings": map[string]any{"epochs": 3},
	}).expect(t, http.StatusOK).json(t, &patched)
	if len(patched.Classes) != 3 || patched.Classes[0].Color != "#112233" || !bytes.Contains(patched.Settings, []byte(`"epochs"`)) {
		t.Fatalf("patched project %+v settings %s", patched, patched.Settings)
	}
	// A PATCH without settings leaves them alone.
	e.sendJSON(http.MethodPatch, fmt.Sprintf("/api/projects/%d", p.ID), map[string]any{"cropW": 80}).
		expect(t, http.StatusOK).json(t, &patched)
	if patched.CropW != 80 || !bytes.Contains(patched.Settings, []byte(`"epochs"`)) {
		t.Fatalf("patched project %+v settings %s", patched, patched.Settings)
	}

	cases := []struct {
		name   string
		method string
		path   string
		body   string
		status int
	}{
		{"duplicate name", "POST", "/api/projects", `{"name":"cord","classes":[{"name":"a","color":"#000000"}]}`, http.StatusConflict},
		{"no classes", "POST", "/api/projects", `{"name":"x","classes":[]}`, http.StatusBadRequest},
		{"bad colour", "POST", "/api/projects", `{"name":"x","classes":[{"name":"a","color":"red"}]}`, http.StatusBadRequest},
		{"bad JSON", "POST", "/api/projects", `{"name":`, http.StatusBadRequest},
		{"wrong JSON type", "POST", "/api/projects", `{"name":3}`, http.StatusBadRequest},
		{"two JSON values", "POST", "/api/projects", `{"name":"y"} {}`, http.StatusBadRequest},
		{"empty body", "POST", "/api/projects", ``, http.StatusBadRequest},
		{"unknown project", "GET", "/api/projects/999", ``, http.StatusNotFound},
		{"non-numeric id", "GET", "/api/projects/abc", ``, http.StatusNotFound},
		{"patch unknown", "PATCH", "/api/projects/999", `{"cropW":80}`, http.StatusNotFound},
		{"bad crop", "PATCH", fmt.Sprintf("/api/projects/%d", p.ID), `{"cropW":81}`, http.StatusBadRequest},
		{"oversized JSON", "POST", "/api/projects", `{"name":"` + strings.Repeat("a", DefaultMaxJSONBytes) + `"}`, http.StatusRequestEntityTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do(c.method, c.path, strings.NewReader(c.body), map[string]string{"Content-Type": "application/json"})
			r.expect(t, c.status)
			if msg := r.errorMessage(t); strings.Contains(msg, "\n") {
				t.Fatalf("error message is not one line: %q", msg)
			}
		})
	}
}

// canonicalOf decodes a shared file the way the server must present it.
func canonicalOf(t *testing.T, rel string) (*nifti.Image, *nifti.Volume, nifti.Orientation) {
	t.Helper()
	img, err := nifti.Read(sharedData(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	vol, o := img.Canonical()
	return img, vol, o
}

func TestUploadVolumeAndSlices(t *testing.T) {
	e := newTestEnv(t)
	p := e.createProject("t2s", "wm", "gm")
	_, want, _ := canonicalOf(t, t2sPath)

	v := e.uploadVolume(p.ID, t2sPath)
	if v.Name != "t2s" || v.Shape != want.Shape || v.Counts.Unlabelled != want.Shape[2] || v.OriginalName != "t2s.nii.gz" {
		t.Fatalf("uploaded volume %+v, canonical shape %v", v, want.Shape)
	}
	var list []event.VolumeSummary
	e.get(fmt.Sprintf("/api/projects/%d/volumes", p.ID)).expect(t, http.StatusOK).json(t, &list)
	if len(list) != 1 || list[0].ID != v.ID {
		t.Fatalf("volume list %+v", list)
	}

	var detail volumeDetail
	e.get(fmt.Sprintf("/api/volumes/%d", v.ID)).expect(t, http.StatusOK).json(t, &detail)
	wantStats := store.ComputeStats(want.Data)
	if detail.Stats != wantStats || detail.AxisLetters != radiological || detail.Affine != want.Affine {
		t.Fatalf("detail stats %+v letters %+v affine %v; want %+v, %v", detail.Stats, detail.AxisLetters, detail.Affine, wantStats, want.Affine)
	}
	if !(detail.Stats.P1 < detail.Stats.P99) {
		t.Fatalf("percentiles %+v do not give a window", detail.Stats)
	}
	if len(detail.Slices) != want.Shape[2] || detail.Slices[3].Status != store.StatusUnlabelled || detail.Slices[3].Index != 3 {
		t.Fatalf("detail slices %+v", detail.Slices)
	}

	// Slices are the canonical volume's axial planes as little-endian float32, gzipped on the wire.
	for _, z := range []int{0, want.Shape[2] / 2, want.Shape[2] - 1} {
		r := e.get(fmt.Sprintf("/api/volumes/%d/slices/%d", v.ID, z)).expect(t, http.StatusOK)
		if r.Header.Get("X-Width") != fmt.Sprint(want.Shape[0]) || r.Header.Get("X-Height") != fmt.Sprint(want.Shape[1]) {
			t.Fatalf("slice headers %v", r.Header)
		}
		if !r.Uncompressed {
			t.Errorf("slice %d was not gzip-encoded", z)
		}
		plane := want.Slice(z)
		if len(r.body) != 4*len(plane) {
			t.Fatalf("slice %d: %d bytes, want %d", z, len(r.body), 4*len(plane))
		}
		for i, f := range plane {
			if got := math.Float32frombits(binary.LittleEndian.Uint32(r.body[4*i:])); got != f {
				t.Fatalf("slice %d voxel %d = %v, want %v", z, i, got, f)
			}
		}
		etag := r.Header.Get("ETag")
		e.do(http.MethodGet, fmt.Sprintf("/api/volumes/%d/slices/%d", v.ID, z), nil, map[string]string{"If-None-Match": etag}).
			expect(t, http.StatusNotModified)
	}
	e.get(fmt.Sprintf("/api/volumes/%d/slices/%d", v.ID, want.Shape[2])).expect(t, http.StatusNotFound)
	e.get(fmt.Sprintf("/api/volumes/%d/slices/-1", v.ID)).expect(t, http.StatusBadRequest)
	e.get("/api/volumes/999/slices/0").expect(t, http.StatusNotFound)
	e.get("/api/volumes/999").expect(t, http.StatusNotFound)

	// The same name again is a conflict.
	r := e.upload(p.ID, "t2s.nii.gz", readShared(t, t2sPath)).expect(t, http.StatusConflict)
	r.errorMessage(t)
}

func TestUploadErrorsStoreNothing(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.MaxUploadBytes = 64 << 10 })
	p := e.createProject("errors", "gm")
	volumesDir := filepath.Join(e.store.DataDir(), "volumes")

	notNifti := e.upload(p.ID, "notes.nii", bytes.Repeat([]byte("this is not an image "), 40)).expect(t, http.StatusBadRequest)
	if msg := notNifti.errorMessage(t); !strings.Contains(msg, "notes.nii") || !strings.Contains(strings.ToLower(msg), "nifti") {
		t.Errorf("non-NIfTI upload reason %q does not name the file and the problem", msg)
	}
	truncated := readShared(t, t2sPath)
	e.upload(p.ID, "cut.nii.gz", truncated[:len(truncated)/2]).expect(t, http.StatusBadRequest).errorMessage(t)
	e.upload(p.ID, "image.png", []byte("\x89PNG")).expect(t, http.StatusBadRequest).errorMessage(t)
	// Over the (lowered) upload limit.
	e.upload(p.ID, "big.nii", make([]byte, 80<<10)).expect(t, http.StatusRequestEntityTooLarge).errorMessage(t)
	// Not multipart, or no file field.
	e.do(http.MethodPost, fmt.Sprintf("/api/projects/%d/volumes", p.ID), strings.NewReader("x"),
		map[string]string{"Content-Type": "application/octet-stream"}).expect(t, http.StatusBadRequest)
	e.do(http.MethodPost, fmt.Sprintf("/api/projects/%d/volumes", p.ID), strings.NewReader("--b--\r\n"),
		map[string]string{"Content-Type": "multipart/form-data; boundary=b"}).expect(t, http.StatusBadRequest)
	e.upload(999, "t2s.nii.gz", readShared(t, t2sPath)).expect(t, http.StatusNotFound)

	var list []event.VolumeSummary
	e.get(fmt.Sprintf("/api/projects/%d/volumes", p.ID)).expect(t, http.StatusOK).json(t, &list)
	if len(list) != 0 {
		t.Fatalf("failed uploads left volumes: %+v", list)
	}
	entries, err := os.ReadDir(volumesDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Fatalf("failed uploads left files in %s: %v", volumesDir, entries)
	}
}
