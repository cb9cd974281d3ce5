package server

import (
	"context"
	"encoding/base64"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mriworkbench/workbench/store"
)

// square is a mask with class k in the square [x0, x0+n) x [y0, y0+n).
func square(w, h, x0, y0, n int, k uint8) []byte {
	m := make([]byte, w*h)
	for y := y0; y < y0+n; y++ {
		for x := x0; x < x0+n; x++ {
			m[y*w+x] = k
		}
	}
	return m
}

// Blind double reads: each annotator's label is its own read whatever X-Author says, invisible to the other
// until a reviewer opens the slice, who sees both with their Dice, adjudicates, and only the adjudicated label
// is among the labels training reads.
func TestBlindReadsAndAdjudication(t *testing.T) {
	e := newTestEnv(t)
	p := e.createProject("cord", "wm", "gm")
	v := e.uploadVolume(p.ID, "sct_testing_data/t2s/t2s.nii.gz")
	addUser(t, e.store, "root", store.RoleAdmin, "admin password")
	addUser(t, e.store, "rev", store.RoleReviewer, "reviewer password")
	addUser(t, e.store, "ann", store.RoleAnnotator, "annotator password")
	addUser(t, e.store, "bob", store.RoleAnnotator, "bob's password")
	time.Sleep(accountsTTL + 100*time.Millisecond)
	sign := func(name, pw string) *browser {
		b := newBrowser(t, e.http.URL)
		b.login(name, pw).expect(t, http.StatusOK)
		return b
	}
	ann, bob, rev := sign("ann", "annotator password"), sign("bob", "bob's password"), sign("rev", "reviewer password")
	ann.json(http.MethodPatch, fmt.Sprintf("/api/projects/%d", p.ID), map[string]any{"readsMode": "blind"}).expect(t, http.StatusForbidden)
	var proj store.Project
	rev.json(http.MethodPatch, fmt.Sprintf("/api/projects/%d", p.ID), map[string]any{"readsMode": "blind"}).expect(t, http.StatusOK).json(t, &proj)
	if proj.ReadsMode != store.ReadsBlind {
		t.Fatalf("reads mode %q", proj.ReadsMode)
	}
	rev.json(http.MethodPatch, fmt.Sprintf("/api/projects/%d", p.ID), map[string]any{"readsMode": "double"}).expect(t, http.StatusBadRequest)

	w, h := v.Shape[0], v.Shape[1]
	const z = 4
	labelPath := fmt.Sprintf("/api/volumes/%d/slices/%d/label", v.ID, z)
	put := func(b *browser, base int, mask []byte) response {
		return b.do(http.MethodPut, labelPath, mask, map[string]string{"Content-Type": "application/octet-stream",
			"X-Base-Version": fmt.Sprint(base), "X-Author": "mallory"})
	}
	annMask := square(w, h, 10, 10, 10, 1) // 100 voxels
	bobMask := square(w, h, 15, 10, 10, 1) // overlaps annMask on 50
	var l store.Label
	put(ann, 0, annMask).expect(t, http.StatusOK).json(t, &l)
	if l.Author != "ann" || l.Version != 1 {
		t.Fatalf("ann's read saved as %+v", l)
	}
	put(ann, 0, annMask).expect(t, http.StatusConflict) // her own versions, checked like labels
	bob.do(http.MethodGet, labelPath, nil, nil).expect(t, http.StatusNotFound)
	if got := ann.do(http.MethodGet, labelPath, nil, nil).expect(t, http.StatusOK).body; string(got) != string(annMask) {
		t.Fatal("ann does not get her own read back")
	}
	readsPath := fmt.Sprintf("/api/volumes/%d/slices/%d/reads", v.ID, z)
	if msg := bob.do(http.MethodGet, readsPath, nil, nil).expect(t, http.StatusForbidden).errorMessage(t); !strings.Contains(msg, "blind") {
		t.Fatalf("blind refusal says %q", msg)
	}
	put(bob, 0, bobMask).expect(t, http.StatusOK)
	// Nothing is in the labels yet: reads are not labels.
	rev.do(http.MethodGet, labelPath, nil, nil).expect(t, http.StatusNotFound)
	var detail volumeDetail
	ann.do(http.MethodGet, fmt.Sprintf("/api/volumes/%d", v.ID), nil, nil).expect(t, http.StatusOK).json(t, &detail)
	if s := detail.Slices[z]; s.Status != store.StatusLabelled || s.LabelVersion != 1 {
		t.Fatalf("ann's view of slice %d: %+v, want labelled at her version 1", z, s)
	}
	rev.do(http.MethodGet, fmt.Sprintf("/api/volumes/%d", v.ID), nil, nil).expect(t, http.StatusOK).json(t, &detail)
	if s := detail.Slices[z]; s.Status == store.StatusLabelled {
		t.Fatalf("the reviewer's view of slice %d is labelled before any adjudication: %+v", z, s)
	}

	// The reviewer opens the reads: both, with their agreement; that reveals them to the annotators.
	ann.json(http.MethodPost, readsPath+"/adjudicate", map[string]any{"method": "majority", "baseVersion": 0}).expect(t, http.StatusForbidden)
	var reads sliceReadsResponse
	rev.do(http.MethodGet, readsPath, nil, nil).expect(t, http.StatusOK).json(t, &reads)
	if len(reads.Reads) != 2 || reads.Reads[0].Annotator != "ann" || reads.Reads[1].Annotator != "bob" || !reads.Revealed {
		t.Fatalf("reads %+v", reads)
	}
	if m, _ := base64.StdEncoding.DecodeString(reads.Reads[1].Mask); string(m) != string(bobMask) {
		t.Fatal("bob's read is not the mask he saved")
	}
	if len(reads.Agreement) != 1 || len(reads.Agreement[0].Classes) != 2 {
		t.Fatalf("agreement %+v, want one pair with two classes", reads.Agreement)
	}
	wm := reads.Agreement[0].Classes[0]
	if math.Abs(wm.Dice-0.5) > 1e-9 || wm.HausdorffMM == nil || math.Abs(*wm.HausdorffMM-5*v.Spacing[0]) > 1e-6 {
		t.Fatalf("wm agreement %+v, want Dice 0.5 and Hausdorff 5 voxels = %.3f mm", wm, 5*v.Spacing[0])
	}
	bob.do(http.MethodGet, readsPath, nil, nil).expect(t, http.StatusOK)

	// Adjudication: ann's read, then a majority vote on top.
	rev.json(http.MethodPost, readsPath+"/adjudicate", map[string]any{"method": "read", "annotator": "ann", "baseVersion": 0}).
		expect(t, http.StatusOK).json(t, &l)
	if l.Origin != store.OriginAdjudicated || l.Author != "rev" || l.Version != 1 {
		t.Fatalf("adjudicated label %+v", l)
	}
	rev.json(http.MethodPost, readsPath+"/adjudicate", map[string]any{"method": "staple", "baseVersion": 0}).expect(t, http.StatusConflict)
	rev.json(http.MethodPost, readsPath+"/adjudicate", map[string]any{"method": "vote", "baseVersion": 1}).expect(t, http.StatusBadRequest)
	rev.json(http.MethodPost, readsPath+"/adjudicate", map[string]any{"method": "majority", "baseVersion": 1}).expect(t, http.StatusOK).json(t, &l)
	if l.Origin != store.OriginConsensus {
		t.Fatalf("majority label origin %q", l.Origin)
	}
	labels, err := e.store.ProjectLabels(context.Background(), p.ID)
	if err != nil {
		t.Fatal(err)
	}
	var live []store.Label
	for _, l := range labels {
		if !l.Deleted {
			live = append(live, l)
		}
	}
	// Majority of two reads: a voxel is a class only where both say so (a tie goes to background).
	want := make([]byte, w*h)
	for i := range want {
		if annMask[i] == 1 && bobMask[i] == 1 {
			want[i] = 1
		}
	}
	if len(live) != 1 || live[0].Slice != z || string(live[0].Mask) != string(want) {
		t.Fatalf("training would read %d labels; want the one consensus label of slice %d", len(live), z)
	}

	// The agreement table, for reviewers, as JSON and CSV.
	var table agreementTable
	ann.do(http.MethodGet, fmt.Sprintf("/api/projects/%d/agreement", p.ID), nil, nil).expect(t, http.StatusForbidden)
	rev.do(http.MethodGet, fmt.Sprintf("/api/projects/%d/agreement", p.ID), nil, nil).expect(t, http.StatusOK).json(t, &table)
	if table.Slices != 1 || len(table.Rows) != 2 || len(table.Classes) != 2 || math.Abs(table.Classes[0].MeanDice-0.5) > 1e-9 {
		t.Fatalf("agreement table %+v", table)
	}
	csv := string(rev.do(http.MethodGet, fmt.Sprintf("/api/projects/%d/agreement.csv", p.ID), nil, nil).expect(t, http.StatusOK).body)
	if !strings.HasPrefix(csv, "volume,slice,annotator_a,annotator_b,class,dice,") || !strings.Contains(csv, ",4,ann,bob,wm,0.5000,") {
		t.Fatalf("agreement CSV:\n%s", csv)
	}
	entries, _ := e.store.AuditLog(context.Background(), 0, 50)
	var actions []string
	for _, en := range entries {
		actions = append(actions, en.Actor+" "+en.Action)
	}
	for _, want := range []string{"rev reads.reveal", "rev label.adjudicate", "rev project.update"} {
		if !strings.Contains(strings.Join(actions, ","), want) {
			t.Errorf("audit lacks %q: %v", want, actions)
		}
	}
}

// In multi (not blind) mode, annotators see each other's reads at once; deleting one's read keeps history.
func TestMultiReadsVisibleAndDeletable(t *testing.T) {
	e := newTestEnv(t)
	p := e.createProject("cord", "gm")
	v := e.uploadVolume(p.ID, "sct_testing_data/t2s/t2s.nii.gz")
	mode := store.ReadsMulti
	if _, err := e.store.UpdateProject(context.Background(), p.ID, store.ProjectUpdate{ReadsMode: &mode}); err != nil {
		t.Fatal(err)
	}
	addUser(t, e.store, "ann", store.RoleAnnotator, "annotator password")
	addUser(t, e.store, "bob", store.RoleAnnotator, "bob's password")
	time.Sleep(accountsTTL + 100*time.Millisecond)
	ann, bob := newBrowser(t, e.http.URL), newBrowser(t, e.http.URL)
	ann.login("ann", "annotator password").expect(t, http.StatusOK)
	bob.login("bob", "bob's password").expect(t, http.StatusOK)
	w, h := v.Shape[0], v.Shape[1]
	path := fmt.Sprintf("/api/volumes/%d/slices/2/label", v.ID)
	ann.do(http.MethodPut, path, square(w, h, 3, 3, 4, 1), map[string]string{"Content-Type": "application/octet-stream", "X-Base-Version": "0"}).expect(t, http.StatusOK)
	var reads sliceReadsResponse
	bob.do(http.MethodGet, fmt.Sprintf("/api/volumes/%d/slices/2/reads", v.ID), nil, nil).expect(t, http.StatusOK).json(t, &reads)
	if len(reads.Reads) != 1 || reads.Revealed {
		t.Fatalf("reads in multi mode %+v", reads)
	}
	var l store.Label
	ann.do(http.MethodDelete, path+"?baseVersion=1", nil, nil).expect(t, http.StatusOK).json(t, &l)
	if !l.Deleted || l.Version != 2 {
		t.Fatalf("deleted read %+v", l)
	}
	var history []store.Label
	ann.do(http.MethodGet, path+"/history", nil, nil).expect(t, http.StatusOK).json(t, &history)
	if len(history) != 2 || history[0].Deleted || !history[1].Deleted {
		t.Fatalf("read history %+v", history)
	}
	ann.do(http.MethodGet, path+"/versions/1", nil, nil).expect(t, http.StatusOK)
	var sums []store.ReadSummary
	ann.do(http.MethodGet, fmt.Sprintf("/api/volumes/%d/reads", v.ID), nil, nil).expect(t, http.StatusOK).json(t, &sums)
	if len(sums) != 0 {
		t.Fatalf("a deleted read still listed: %+v", sums)
	}
}
