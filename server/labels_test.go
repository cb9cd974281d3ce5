package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/mriworkbench/workbench/internal/event"
	"github.com/mriworkbench/workbench/store"
)

// disk returns a mask with a filled disc of class value at (cx, cy).
func disk(w, h, cx, cy, r int, value uint8) []byte {
	m := make([]byte, w*h)
	for y := range h {
		for x := range w {
			if (x-cx)*(x-cx)+(y-cy)*(y-cy) <= r*r {
				m[x+y*w] = value
			}
		}
	}
	return m
}

func TestLabelVersionsConflictsAndHistory(t *testing.T) {
	e := newTestEnv(t)
	p := e.createProject("labels", "wm", "gm")
	v := e.uploadVolume(p.ID, t2sPath)
	w, h := v.Shape[0], v.Shape[1]
	z := v.Shape[2] / 2
	labelPath := fmt.Sprintf("/api/volumes/%d/slices/%d/label", v.ID, z)

	e.get(labelPath).expect(t, http.StatusNotFound).errorMessage(t)

	// Tab A saves the first version, painting two classes.
	first := disk(w, h, w/2, h/2, 10, 1)
	copy(first[:w], bytes.Repeat([]byte{2}, w))
	var l1 store.Label
	e.putMask(v.ID, z, 0, first, map[string]string{"X-Author": "ann%C3%A9e"}).expect(t, http.StatusOK).json(t, &l1)
	if l1.Version != 1 || l1.Author != "année" || l1.Origin != store.OriginManual || l1.Mask != nil {
		t.Fatalf("first save %+v", l1)
	}
	r := e.get(labelPath).expect(t, http.StatusOK)
	if !bytes.Equal(r.body, first) || r.Header.Get("X-Label-Version") != "1" || r.Header.Get("X-Label-Origin") != "manual" ||
		r.Header.Get("X-Label-Verified") != "false" || r.Header.Get("X-Label-Author") != "ann%C3%A9e" {
		t.Fatalf("GET label: headers %v, mask equal %v", r.Header, bytes.Equal(r.body, first))
	}

	// Tab B edits version 1 and saves version 2.
	second := disk(w, h, w/3, h/3, 6, 2)
	e.putMask(v.ID, z, 1, second, map[string]string{"X-Author": "bob"}).expect(t, http.StatusOK)

	// Tab A, still on version 1, is refused with the current version; nothing is overwritten.
	third := disk(w, h, w/2, h/2, 12, 1)
	stale := e.putMask(v.ID, z, 1, third, map[string]string{"X-Author": "ann"}).expect(t, http.StatusConflict)
	var conflict errorBody
	stale.json(t, &conflict)
	if conflict.CurrentVersion == nil || *conflict.CurrentVersion != 2 || conflict.Error == "" {
		t.Fatalf("stale save answer %s", stale.body)
	}
	if r := e.get(labelPath).expect(t, http.StatusOK); !bytes.Equal(r.body, second) {
		t.Fatal("a stale save changed the label")
	}
	var history []store.Label
	e.get(labelPath+"/history").expect(t, http.StatusOK).json(t, &history)
	if len(history) != 2 || history[0].Version != 2 || history[0].Author != "bob" || history[1].Version != 1 || history[1].Mask != nil {
		t.Fatalf("history %+v", history)
	}
	if r := e.get(labelPath+"/versions/1").expect(t, http.StatusOK); !bytes.Equal(r.body, first) {
		t.Fatal("version 1 mask changed")
	}
	e.get(labelPath+"/versions/9").expect(t, http.StatusNotFound)

	// Tab A rebases on version 2 and saves version 3.
	var l3 store.Label
	e.putMask(v.ID, z, 2, third, nil).expect(t, http.StatusOK).json(t, &l3)
	if l3.Version != 3 {
		t.Fatalf("rebased save %+v", l3)
	}

	// Verified is a new version with the same mask.
	verifiedPath := fmt.Sprintf("/api/volumes/%d/slices/%d/verified", v.ID, z)
	e.sendJSON(http.MethodPut, verifiedPath, map[string]any{"verified": true, "baseVersion": 2}).expect(t, http.StatusConflict)
	var l4 store.Label
	e.sendJSON(http.MethodPut, verifiedPath, map[string]any{"verified": true, "baseVersion": 3, "author": "chief"}).
		expect(t, http.StatusOK).json(t, &l4)
	if l4.Version != 4 || !l4.Verified || l4.Author != "chief" {
		t.Fatalf("verify %+v", l4)
	}
	e.sendJSON(http.MethodPut, verifiedPath, map[string]any{"verified": true}).expect(t, http.StatusBadRequest)
	if r := e.get(labelPath).expect(t, http.StatusOK); !bytes.Equal(r.body, third) || r.Header.Get("X-Label-Verified") != "true" {
		t.Fatal("verified label lost its mask or flag")
	}
	var detail volumeDetail
	e.get(fmt.Sprintf("/api/volumes/%d", v.ID)).expect(t, http.StatusOK).json(t, &detail)
	if s := detail.Slices[z]; s.Status != store.StatusVerified || s.LabelVersion != 4 || !s.Verified {
		t.Fatalf("slice after verify %+v", s)
	}

	// Delete: stale refused, then a tombstone; the slice is unlabelled but remembers its version.
	e.do(http.MethodDelete, labelPath+"?baseVersion=3", nil, nil).expect(t, http.StatusConflict)
	e.do(http.MethodDelete, labelPath, nil, nil).expect(t, http.StatusBadRequest)
	var tomb store.Label
	e.do(http.MethodDelete, labelPath+"?baseVersion=4", nil, nil).expect(t, http.StatusOK).json(t, &tomb)
	if !tomb.Deleted || tomb.Version != 5 {
		t.Fatalf("tombstone %+v", tomb)
	}
	gone := e.get(labelPath).expect(t, http.StatusNotFound)
	var goneBody errorBody
	gone.json(t, &goneBody)
	if goneBody.CurrentVersion == nil || *goneBody.CurrentVersion != 5 || gone.Header.Get("X-Label-Version") != "5" {
		t.Fatalf("deleted label answer %s %v", gone.body, gone.Header)
	}
	e.get(fmt.Sprintf("/api/volumes/%d", v.ID)).expect(t, http.StatusOK).json(t, &detail)
	if s := detail.Slices[z]; s.Status != store.StatusUnlabelled || s.LabelVersion != 5 {
		t.Fatalf("slice after delete %+v", s)
	}
	e.get(labelPath+"/versions/5").expect(t, http.StatusNotFound)
	e.putMask(v.ID, z, 5, first, nil).expect(t, http.StatusOK)
	e.get(labelPath+"/history").expect(t, http.StatusOK).json(t, &history)
	if len(history) != 6 {
		t.Fatalf("history has %d versions, want 6", len(history))
	}
}

func TestLabelWriteErrors(t *testing.T) {
	e := newTestEnv(t)
	p := e.createProject("label-errors", "wm", "gm")
	v := e.uploadVolume(p.ID, t2sPath)
	n := v.Shape[0] * v.Shape[1]
	ok := make([]byte, n)

	cases := []struct {
		name   string
		slice  int
		mask   []byte
		header map[string]string
		status int
		reason string
	}{
		{"short mask", 0, make([]byte, n-1), nil, http.StatusBadRequest, fmt.Sprint(n)},
		{"empty mask", 0, nil, nil, http.StatusBadRequest, fmt.Sprint(n)},
		{"oversized mask", 0, make([]byte, n+1), nil, http.StatusRequestEntityTooLarge, fmt.Sprint(n)},
		{"huge body", 0, make([]byte, 8<<20), nil, http.StatusRequestEntityTooLarge, fmt.Sprint(n)},
		{"class out of range", 0, append([]byte{3}, ok[1:]...), nil, http.StatusBadRequest, "class"},
		{"no base version", 0, ok, map[string]string{"X-Base-Version": ""}, http.StatusBadRequest, "X-Base-Version"},
		{"bad base version", 0, ok, map[string]string{"X-Base-Version": "one"}, http.StatusBadRequest, "X-Base-Version"},
		{"base version ahead", 0, ok, map[string]string{"X-Base-Version": "4"}, http.StatusConflict, "version"},
		{"bad origin", 0, ok, map[string]string{"X-Origin": "magic"}, http.StatusBadRequest, "origin"},
		{"slice past the end", v.Shape[2], ok, nil, http.StatusNotFound, "slice"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.putMask(v.ID, c.slice, 0, c.mask, c.header).expect(t, c.status)
			if msg := r.errorMessage(t); !strings.Contains(msg, c.reason) {
				t.Fatalf("reason %q does not mention %q", msg, c.reason)
			}
		})
	}
	e.putMask(999, 0, 0, ok, nil).expect(t, http.StatusNotFound)
	if hist, err := e.store.LabelHistory(context.Background(), v.ID, 0); err != nil || len(hist) != 0 {
		t.Fatalf("refused writes stored labels: %v %v", hist, err)
	}
}

// TestPredictionsReviewAndAccept covers the review side: predictions of the active model, the queue by
// uncertainty, and accepting a prediction as a label.
func TestPredictionsReviewAndAccept(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	p := e.createProject("review", "wm", "gm")
	v := e.uploadVolume(p.ID, t2sPath)
	w, h := v.Shape[0], v.Shape[1]

	e.get(fmt.Sprintf("/api/volumes/%d/slices/1/prediction", v.ID)).expect(t, http.StatusNotFound)
	var queue []store.QueueItem
	e.get(fmt.Sprintf("/api/projects/%d/review-queue", p.ID)).expect(t, http.StatusOK).json(t, &queue)
	if len(queue) != 0 {
		t.Fatalf("queue without a model %+v", queue)
	}

	m, err := e.store.CreateModel(ctx, store.NewModel{ProjectID: p.ID, Arch: "smallunet", Activate: true,
		Write: func(w io.Writer) error { _, err := w.Write([]byte("weights")); return err }})
	if err != nil {
		t.Fatal(err)
	}
	preds := []store.Prediction{
		{VolumeID: v.ID, Slice: 1, Mask: disk(w, h, w/2, h/2, 5, 1), Uncertainty: 0.2},
		{VolumeID: v.ID, Slice: 2, Mask: disk(w, h, w/2, h/2, 7, 2), Uncertainty: 0.9},
		{VolumeID: v.ID, Slice: 3, Mask: disk(w, h, w/2, h/2, 9, 1), Uncertainty: 0.5},
		// Nothing found: status "empty", queued after the others however uncertain.
		{VolumeID: v.ID, Slice: 4, Mask: make([]uint8, w*h), Uncertainty: 0.99},
	}
	if err := e.store.SavePredictions(ctx, m.ID, preds); err != nil {
		t.Fatal(err)
	}

	r := e.get(fmt.Sprintf("/api/volumes/%d/slices/2/prediction", v.ID)).expect(t, http.StatusOK)
	if !bytes.Equal(r.body, preds[1].Mask) || r.Header.Get("X-Model-Id") != fmt.Sprint(m.ID) || r.Header.Get("X-Uncertainty") != "0.9" {
		t.Fatalf("prediction headers %v", r.Header)
	}
	e.get(fmt.Sprintf("/api/volumes/%d/slices/5/prediction", v.ID)).expect(t, http.StatusNotFound)

	// The spread order: distance from labels and the volume's 9-slice ends, times 1 + uncertainty: slice 3
	// (4 x 1.5) before 2 (3 x 1.9); then, beside 3, slice 2 scores 1 x 1.9, below slice 1 (2 x 1.2).
	e.get(fmt.Sprintf("/api/projects/%d/review-queue?limit=2", p.ID)).expect(t, http.StatusOK).json(t, &queue)
	if len(queue) != 2 || queue[0].Slice != 3 || queue[1].Slice != 1 || queue[0].VolumeID != v.ID {
		t.Fatalf("queue %+v", queue)
	}
	e.get(fmt.Sprintf("/api/projects/%d/review-queue?limit=zero", p.ID)).expect(t, http.StatusBadRequest)
	e.get(fmt.Sprintf("/api/projects/%d/review-queue?order=random", p.ID)).expect(t, http.StatusBadRequest)
	e.get(fmt.Sprintf("/api/projects/%d/review-queue?order=uncertainty", p.ID)).expect(t, http.StatusOK).json(t, &queue)
	if len(queue) != 4 || queue[0].Slice != 2 || queue[1].Slice != 3 || queue[2].Slice != 1 || !queue[3].Empty {
		t.Fatalf("queue by uncertainty %+v", queue)
	}
	e.get("/api/projects/999/review-queue").expect(t, http.StatusNotFound)

	var detail volumeDetail
	e.get(fmt.Sprintf("/api/volumes/%d", v.ID)).expect(t, http.StatusOK).json(t, &detail)
	if s := detail.Slices[2]; s.Status != store.StatusPredicted || s.Uncertainty == nil || *s.Uncertainty != 0.9 ||
		detail.ModelID == nil || *detail.ModelID != m.ID {
		t.Fatalf("predicted slice %+v, model %v", s, detail.ModelID)
	}
	if s := detail.Slices[4]; s.Status != store.StatusEmpty {
		t.Fatalf("slice predicted empty %+v", s)
	}

	// Accepting copies the prediction into the label; the slice leaves the queue.
	var accepted store.Label
	e.putMask(v.ID, 2, 0, r.body, map[string]string{"X-Origin": store.OriginPrediction}).expect(t, http.StatusOK).json(t, &accepted)
	if accepted.Origin != store.OriginPrediction || accepted.Version != 1 {
		t.Fatalf("accepted %+v", accepted)
	}
	e.get(fmt.Sprintf("/api/projects/%d/review-queue", p.ID)).expect(t, http.StatusOK).json(t, &queue)
	if len(queue) != 3 || queue[0].Slice != 3 || queue[1].Slice != 1 || queue[2].Slice != 4 || !queue[2].Empty {
		t.Fatalf("queue after accept %+v", queue)
	}
	var vols []event.VolumeSummary
	e.get(fmt.Sprintf("/api/projects/%d/volumes", p.ID)).expect(t, http.StatusOK).json(t, &vols)
	if c := vols[0].Counts; c.Labelled != 1 || c.Predicted != 2 || c.Empty != 1 || c.Unlabelled != v.Shape[2]-4 {
		t.Fatalf("counts %+v", c)
	}
}
