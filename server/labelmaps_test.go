package server

import (
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mriworkbench/workbench/internal/event"
	"github.com/mriworkbench/workbench/nifti"
	"github.com/mriworkbench/workbench/store"
)

// labelMapFixture reads a file of internal/ingest/testdata/labelmaps (written with nibabel: a small image on
// a grid with two flipped axes, label maps of it, and canonical.bin, nibabel's canonical class map).
func labelMapFixture(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "internal", "ingest", "testdata", "labelmaps", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// postLabelMap sends a label map upload; fields are extra form fields (slices, replace), sent before the file
// unless after is set.
func (e *testEnv) postLabelMap(volumeID int64, fileName string, data []byte, fields map[string]string, after bool) response {
	e.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	writeFields := func() {
		for k, v := range fields {
			mw.WriteField(k, v)
		}
	}
	if !after {
		writeFields()
	}
	if data != nil {
		fw, err := mw.CreateFormFile("file", fileName)
		if err != nil {
			e.t.Fatal(err)
		}
		fw.Write(data)
	}
	if after {
		writeFields()
	}
	mw.Close()
	return e.do(http.MethodPost, fmt.Sprintf("/api/volumes/%d/labelmap", volumeID), &buf,
		map[string]string{"Content-Type": mw.FormDataContentType(), "X-Author": "mapper"})
}

// labelledSlices lists the volume's labelled slices and their versions, as stored.
func (e *testEnv) labelledSlices(volumeID int64) map[int]int {
	e.t.Helper()
	labels, err := e.store.Labels(context.Background(), volumeID)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[int]int{}
	for _, l := range labels {
		out[l.Slice] = l.Version
	}
	return out
}

func sameVersions(a, b map[int]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// A label map uploaded onto a volume labels the chosen slices with nibabel's canonical class map; labelled
// slices are refused with a 409 naming them unless replace=true, which writes new versions.
func TestUploadLabelMap(t *testing.T) {
	e := newTestEnv(t)
	p := e.createProject("maps", "a", "b")
	var v event.VolumeSummary
	e.upload(p.ID, "image.nii.gz", labelMapFixture(t, "image.nii.gz")).expect(t, http.StatusCreated).json(t, &v)
	canonical := labelMapFixture(t, "canonical.bin")
	plane := 6 * 5

	var result labelMapResult
	e.postLabelMap(v.ID, "labels.nii.gz", labelMapFixture(t, "labels.nii.gz"), map[string]string{"slices": "3, 1"}, true).
		expect(t, http.StatusOK).json(t, &result)
	if len(result.Labels) != 2 || result.Labels[0].Slice != 1 || result.Labels[1].Slice != 3 || result.Labels[0].Author != "mapper" {
		t.Fatalf("result %+v, want slices 1 and 3 by mapper", result)
	}
	for _, z := range []int{1, 3} {
		got := e.get(fmt.Sprintf("/api/volumes/%d/slices/%d/label", v.ID, z)).expect(t, http.StatusOK)
		if !bytes.Equal(got.body, canonical[z*plane:(z+1)*plane]) {
			t.Errorf("slice %d: stored mask differs from nibabel's canonical map", z)
		}
	}
	if got := e.labelledSlices(v.ID); !sameVersions(got, map[int]int{1: 1, 3: 1}) {
		t.Fatalf("labelled slices %v, want 1 and 3 at version 1", got)
	}

	msg := e.postLabelMap(v.ID, "labels.nii.gz", labelMapFixture(t, "labels.nii.gz"), map[string]string{"slices": "0,1,3"}, false).
		expect(t, http.StatusConflict).errorMessage(t)
	if !strings.HasPrefix(msg, "slices 1, 3 already have labels; upload with replace=true") {
		t.Errorf("409 says %q, want it to name slices 1 and 3 and the way out", msg)
	}
	if got := e.labelledSlices(v.ID); !sameVersions(got, map[int]int{1: 1, 3: 1}) {
		t.Fatalf("a refused upload stored labels: %v", got)
	}

	// The float32 copy of the same map replaces them, and labels slice 0; the history keeps version 1.
	e.postLabelMap(v.ID, "labels_float.nii.gz", labelMapFixture(t, "labels_float.nii.gz"),
		map[string]string{"slices": "0,1,3", "replace": "true"}, false).expect(t, http.StatusOK)
	if got := e.labelledSlices(v.ID); !sameVersions(got, map[int]int{0: 1, 1: 2, 3: 2}) {
		t.Fatalf("after replacing: %v, want slice 0 at version 1, 1 and 3 at version 2", got)
	}
	var history []map[string]any
	e.get(fmt.Sprintf("/api/volumes/%d/slices/1/label/history", v.ID)).expect(t, http.StatusOK).json(t, &history)
	if len(history) != 2 {
		t.Errorf("slice 1 history has %d versions, want 2", len(history))
	}
}

// Every bad upload gets a one-line reason and stores nothing.
func TestUploadLabelMapRefusals(t *testing.T) {
	e := newTestEnv(t)
	p := e.createProject("maps", "a", "b")
	var v event.VolumeSummary
	e.upload(p.ID, "image.nii.gz", labelMapFixture(t, "image.nii.gz")).expect(t, http.StatusCreated).json(t, &v)
	e.postLabelMap(v.ID, "labels.nii.gz", labelMapFixture(t, "labels.nii.gz"), map[string]string{"slices": "2"}, false).
		expect(t, http.StatusOK)
	before := e.labelledSlices(v.ID)
	good := labelMapFixture(t, "labels.nii.gz")

	cases := []struct {
		name, file string
		data       []byte
		fields     map[string]string
		status     int
		want       string
	}{
		{"fractional", "fractional.nii.gz", labelMapFixture(t, "fractional.nii.gz"), nil, http.StatusBadRequest,
			"label map fractional.nii.gz: value 1.5 at voxel (1,2,3) is not an integer"},
		{"negative", "negative.nii.gz", labelMapFixture(t, "negative.nii.gz"), nil, http.StatusBadRequest, "is negative"},
		{"nan", "nan.nii.gz", labelMapFixture(t, "nan.nii.gz"), nil, http.StatusBadRequest, "value NaN at voxel (0,1,2)"},
		{"beyond the classes", "beyond.nii.gz", labelMapFixture(t, "beyond.nii.gz"), nil, http.StatusBadRequest,
			`label value 3 at voxel (4,3,2), but project "maps" has 2 classes (1=a, 2=b)`},
		{"other shape", "othershape.nii.gz", labelMapFixture(t, "othershape.nii.gz"), nil, http.StatusBadRequest, "shape [6 5 5] differs"},
		{"other affine", "shifted.nii.gz", labelMapFixture(t, "shifted.nii.gz"), nil, http.StatusBadRequest, "affine differs"},
		{"4-D", "fourd.nii.gz", labelMapFixture(t, "fourd.nii.gz"), nil, http.StatusBadRequest, "4-D image with 2 volumes"},
		{"not NIfTI", "notes.nii", []byte("not an image at all, just some notes in a file"), nil, http.StatusBadRequest, "label map notes.nii: "},
		{"no file", "", nil, map[string]string{"slices": "1"}, http.StatusBadRequest, "no field named file"},
		{"slice outside", "labels.nii.gz", good, map[string]string{"slices": "4"}, http.StatusBadRequest, "4 is outside the volume's axial slices 0..3"},
		{"slice not a number", "labels.nii.gz", good, map[string]string{"slices": "one"}, http.StatusBadRequest, "not a slice index"},
		{"replace not a boolean", "labels.nii.gz", good, map[string]string{"replace": "maybe"}, http.StatusBadRequest, "neither true nor false"},
		{"onto the labelled slice", "labels.nii.gz", good, nil, http.StatusConflict, "slice 2 already has a label"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msg := e.postLabelMap(v.ID, c.file, c.data, c.fields, false).expect(t, c.status).errorMessage(t)
			if !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") {
				t.Errorf("reason %q, want one line containing %q", msg, c.want)
			}
			if got := e.labelledSlices(v.ID); !sameVersions(got, before) {
				t.Fatalf("refused upload changed the labels: %v, was %v", got, before)
			}
		})
	}
	e.postLabelMap(v.ID+100, "labels.nii.gz", good, nil, false).expect(t, http.StatusNotFound)
}

// A shared hippocampus case uploaded as a volume, then its label map: every slice takes the map's slice (the
// file is RAS, so the canonical grid is the file's).
func TestUploadLabelMapHippocampus(t *testing.T) {
	e := newTestEnv(t)
	p := e.createProject("hippo", "Anterior", "Posterior")
	v := e.uploadVolume(p.ID, "msd-hippocampus/imagesTr/hippocampus_003.nii.gz")
	labelPath := sharedData(t, "msd-hippocampus/labelsTr/hippocampus_003.nii.gz") // float32 on disk
	data, err := os.ReadFile(labelPath)
	if err != nil {
		t.Fatal(err)
	}
	var result labelMapResult
	e.postLabelMap(v.ID, "hippocampus_003.nii.gz", data, nil, false).expect(t, http.StatusOK).json(t, &result)
	src, err := nifti.Read(labelPath)
	if err != nil {
		t.Fatal(err)
	}
	shape := src.Shape()
	if len(result.Labels) != shape[2] {
		t.Fatalf("%d slices labelled, want all %d", len(result.Labels), shape[2])
	}
	plane := shape[0] * shape[1]
	labelled := 0
	for z := range shape[2] {
		got := e.get(fmt.Sprintf("/api/volumes/%d/slices/%d/label", v.ID, z)).expect(t, http.StatusOK).body
		for i, c := range got {
			if float32(c) != src.Data[z*plane+i] {
				t.Fatalf("slice %d voxel %d: stored %d, map %v", z, i, c, src.Data[z*plane+i])
			}
			if c > 0 {
				labelled++
			}
		}
	}
	if labelled == 0 {
		t.Fatal("no labelled voxel: the comparison proves nothing")
	}
}

// Where accounts are required, uploading a label map needs a session (the annotator role or above); the labels
// carry the session's name, whatever X-Author says, and the audit trail records the upload.
func TestUploadLabelMapAccounts(t *testing.T) {
	e := newTestEnv(t)
	p := e.createProject("maps", "a", "b")
	var v event.VolumeSummary
	e.upload(p.ID, "image.nii.gz", labelMapFixture(t, "image.nii.gz")).expect(t, http.StatusCreated).json(t, &v)
	addUser(t, e.store, "ann", store.RoleAnnotator, "annotator password")
	time.Sleep(accountsTTL + 100*time.Millisecond) // the server rechecks for users this often

	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile("file", "labels.nii.gz")
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(labelMapFixture(t, "labels.nii.gz"))
	mw.Close()
	header := map[string]string{"Content-Type": mw.FormDataContentType(), "X-Author": "mallory"}
	path := fmt.Sprintf("/api/volumes/%d/labelmap", v.ID)

	newBrowser(t, e.http.URL).do(http.MethodPost, path, buf.Bytes(), header).expect(t, http.StatusUnauthorized)
	if got := e.labelledSlices(v.ID); len(got) != 0 {
		t.Fatalf("an anonymous upload stored labels: %v", got)
	}
	ann := newBrowser(t, e.http.URL)
	ann.login("ann", "annotator password").expect(t, http.StatusOK)
	var result labelMapResult
	ann.do(http.MethodPost, path, buf.Bytes(), header).expect(t, http.StatusOK).json(t, &result)
	if len(result.Labels) != 4 || result.Labels[0].Author != "ann" {
		t.Fatalf("result %+v, want 4 slices by ann", result)
	}
	entries, err := e.store.AuditLog(context.Background(), 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 || entries[0].Action != "labelmap.upload" || entries[0].Actor != "ann" ||
		entries[0].Detail != "4 slices from labels.nii.gz (0 over earlier versions)" {
		t.Fatalf("newest audit entry %+v, want ann's labelmap.upload", entries[0])
	}
}
