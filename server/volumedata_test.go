package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"testing"

	"github.com/mriworkbench/workbench/nifti"
	"github.com/mriworkbench/workbench/store"
)

const psrT2 = "sct_testing_data/t2/t2.nii.gz"

// framed splits a whole-volume payload into its JSON metadata (decoded into meta) and the bytes after it.
func framed(t *testing.T, body []byte, meta any) []byte {
	t.Helper()
	if len(body) < 4 {
		t.Fatalf("payload of %d bytes has no header", len(body))
	}
	n := int(binary.LittleEndian.Uint32(body))
	if 4+n > len(body) {
		t.Fatalf("header claims %d bytes, payload has %d", n, len(body))
	}
	if err := json.Unmarshal(body[4:4+n], meta); err != nil {
		t.Fatalf("payload header %q: %v", body[4:4+n], err)
	}
	return body[4+n:]
}

// The PSR t2 volume (int16, sagittal acquisition) arrives whole, exact, on the canonical grid; the volume
// detail's orientation maps each canonical voxel to the source file's voxel holding the same value.
func TestVolumeDataIsTheCanonicalVolumeWithItsSourceMapping(t *testing.T) {
	e := newTestEnv(t)
	p := e.createProject("planes", "cord")
	v := e.uploadVolume(p.ID, psrT2)

	r := e.get(fmt.Sprintf("/api/volumes/%d/data", v.ID)).expect(t, http.StatusOK)
	var meta volumeDataMeta
	voxels := framed(t, r.body, &meta)
	if meta.Width != 52 || meta.Height != 60 || meta.Depth != 55 || meta.DType != "uint16" || !meta.Exact || meta.Scale != 1 {
		t.Fatalf("metadata %+v, want the canonical 52x60x55, uint16, exact with scale 1", meta)
	}
	if len(voxels) != 2*52*60*55 {
		t.Fatalf("%d voxel bytes, want %d", len(voxels), 2*52*60*55)
	}
	src, err := nifti.Read(sharedData(t, psrT2))
	if err != nil {
		t.Fatal(err)
	}
	var detail struct {
		Orientation nifti.Orientation `json:"orientation"`
		SourceShape [3]int            `json:"sourceShape"`
	}
	e.get(fmt.Sprintf("/api/volumes/%d", v.ID)).expect(t, http.StatusOK).json(t, &detail)
	// PSR: canonical x (R) is source axis 2, y (A) is source axis 0 reversed (P), z (S) is source axis 1.
	if detail.Orientation.Perm != [3]int{2, 0, 1} || detail.Orientation.Flip != [3]bool{false, true, false} || detail.SourceShape != [3]int{60, 55, 52} {
		t.Fatalf("orientation %+v source shape %v, want perm [2 0 1], flip [false true false], shape [60 55 52]", detail.Orientation, detail.SourceShape)
	}
	shape := [3]int{52, 60, 55}
	sshape := src.Shape()
	mismatches := 0
	for z := range shape[2] {
		for y := range shape[1] {
			for x := range shape[0] {
				ijk := [3]int{x, y, z}
				var s [3]int
				for a, pa := range detail.Orientation.Perm {
					i := ijk[a]
					if detail.Orientation.Flip[a] {
						i = shape[a] - 1 - i
					}
					s[pa] = i
				}
				want := src.Data[s[0]+sshape[0]*(s[1]+sshape[1]*s[2])]
				got := meta.Offset + meta.Scale*float64(binary.LittleEndian.Uint16(voxels[2*(x+shape[0]*(y+shape[1]*z)):]))
				if got != float64(want) {
					mismatches++
				}
			}
		}
	}
	if mismatches > 0 {
		t.Fatalf("%d of %d voxels differ from the source voxel the orientation names", mismatches, 52*60*55)
	}

	// The voxels never change: a reopened viewer revalidates without the body.
	etag := r.Header.Get("ETag")
	again := e.do(http.MethodGet, fmt.Sprintf("/api/volumes/%d/data", v.ID), nil, map[string]string{"If-None-Match": etag})
	if again.StatusCode != http.StatusNotModified || len(again.body) != 0 {
		t.Fatalf("revalidation: %d with %d bytes, want 304 and none", again.StatusCode, len(again.body))
	}
}

// A float volume with fractional values is quantised: every voxel within half a step of the original.
func TestVolumeDataQuantisesFloatVoxels(t *testing.T) {
	e := newTestEnv(t)
	p := e.createProject("float", "wm", "gm")
	v := e.uploadVolume(p.ID, t2sImage)
	var meta volumeDataMeta
	voxels := framed(t, e.get(fmt.Sprintf("/api/volumes/%d/data", v.ID)).expect(t, http.StatusOK).body, &meta)
	if meta.Exact || meta.Scale <= 0 {
		t.Fatalf("metadata %+v: fractional float32 voxels cannot be exact", meta)
	}
	want := canonicalVolume(t, t2sImage)
	if len(voxels) != 2*len(want.Data) {
		t.Fatalf("%d voxel bytes, want %d", len(voxels), 2*len(want.Data))
	}
	worst := 0.0
	for i, f := range want.Data {
		got := meta.Offset + meta.Scale*float64(binary.LittleEndian.Uint16(voxels[2*i:]))
		worst = math.Max(worst, math.Abs(got-float64(f)))
	}
	if worst > meta.Scale/2+1e-4 {
		t.Fatalf("worst voxel error %g, want within half a step %g", worst, meta.Scale/2)
	}
}

// Every current label (not a deleted one) and every prediction of the active model, in one payload.
func TestVolumeMasksCarryEveryLabelAndPrediction(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	_, v := e.t2sLabelled("masks", 2, 5, 7)
	n := v.Shape[0] * v.Shape[1]
	// Slice 7's label is deleted: it must not come back.
	e.do(http.MethodDelete, fmt.Sprintf("/api/volumes/%d/slices/7/label", v.ID), nil, map[string]string{"X-Base-Version": "1"}).expect(t, http.StatusOK)

	var meta volumeMasksMeta
	rest := framed(t, e.get(fmt.Sprintf("/api/volumes/%d/masks", v.ID)).expect(t, http.StatusOK).body, &meta)
	if meta.Width != v.Shape[0] || meta.Height != v.Shape[1] || meta.Depth != v.Shape[2] || meta.ModelID != nil || len(meta.Predictions) != 0 {
		t.Fatalf("metadata %+v", meta)
	}
	if len(meta.Labels) != 2 || meta.Labels[0].Slice != 2 || meta.Labels[1].Slice != 5 || meta.Labels[0].Version != 1 {
		t.Fatalf("labels %+v, want slices 2 and 5 at version 1", meta.Labels)
	}
	if len(rest) != 2*n {
		t.Fatalf("%d mask bytes, want %d", len(rest), 2*n)
	}
	for i, z := range []int{2, 5} {
		want := e.get(fmt.Sprintf("/api/volumes/%d/slices/%d/label", v.ID, z)).expect(t, http.StatusOK).body
		if !bytes.Equal(rest[i*n:(i+1)*n], want) {
			t.Fatalf("slice %d's mask differs from its label", z)
		}
	}

	var pid int64
	{
		var d struct {
			ProjectID int64 `json:"projectId"`
		}
		e.get(fmt.Sprintf("/api/volumes/%d", v.ID)).expect(t, http.StatusOK).json(t, &d)
		pid = d.ProjectID
	}
	m, err := e.store.CreateModel(ctx, store.NewModel{ProjectID: pid, Arch: "smallunet", Activate: true,
		Write: func(w io.Writer) error { _, err := w.Write([]byte("weights")); return err }})
	if err != nil {
		t.Fatal(err)
	}
	preds := []store.Prediction{
		{VolumeID: v.ID, Slice: 1, Mask: disk(v.Shape[0], v.Shape[1], 20, 20, 5, 1), Uncertainty: 0.25},
		{VolumeID: v.ID, Slice: 6, Mask: disk(v.Shape[0], v.Shape[1], 25, 30, 7, 2), Uncertainty: 0.75},
	}
	if err := e.store.SavePredictions(ctx, m.ID, preds); err != nil {
		t.Fatal(err)
	}
	meta = volumeMasksMeta{}
	rest = framed(t, e.get(fmt.Sprintf("/api/volumes/%d/masks", v.ID)).expect(t, http.StatusOK).body, &meta)
	if meta.ModelID == nil || *meta.ModelID != m.ID || len(meta.Predictions) != 2 || meta.Predictions[1].Slice != 6 ||
		meta.Predictions[1].Uncertainty == nil || *meta.Predictions[1].Uncertainty != 0.75 {
		t.Fatalf("predictions %+v (model %v)", meta.Predictions, meta.ModelID)
	}
	if len(rest) != 4*n || !bytes.Equal(rest[2*n:3*n], preds[0].Mask) || !bytes.Equal(rest[3*n:], preds[1].Mask) {
		t.Fatalf("%d bytes after the header, or the predictions differ", len(rest))
	}
}

// Bad addresses get a one-line reason and the server keeps answering.
func TestVolumeDataRefusesUnknownVolumes(t *testing.T) {
	e := newTestEnv(t)
	for _, path := range []string{"/api/volumes/999/data", "/api/volumes/999/masks"} {
		if msg := e.get(path).expect(t, http.StatusNotFound).errorMessage(t); msg == "" {
			t.Fatalf("%s: no reason", path)
		}
	}
	for _, path := range []string{"/api/volumes/abc/data", "/api/volumes/-1/masks"} {
		r := e.get(path)
		if r.StatusCode != http.StatusBadRequest && r.StatusCode != http.StatusNotFound {
			t.Fatalf("%s: %d, want 400 or 404", path, r.StatusCode)
		}
		r.errorMessage(t)
	}
	e.get("/api/health").expect(t, http.StatusOK)
}
