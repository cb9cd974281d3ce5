package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mriworkbench/workbench/internal/job"
	"github.com/mriworkbench/workbench/store"
)

// A candidate's predictions are readable with ?model= beside the active model's, which stay byte for byte;
// an annotator cannot promote it (403); a reviewer can, audit-logged, and the project's predictions are then
// the candidate's; promoting it again, or a model of another project, is refused.
func TestPromoteCandidateByHand(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	p, v := e.t2sLabelled("promote", 0)
	other := e.createProject("other", "wm", "gm")
	n := v.Shape[0] * v.Shape[1]
	model := func(projectID int64, candidate bool, class uint8) store.ModelVersion {
		m, err := e.store.CreateModel(ctx, store.NewModel{ProjectID: projectID, Arch: "smallunet", Activate: !candidate, Candidate: candidate,
			Write: func(w io.Writer) error { _, err := w.Write([]byte("weights")); return err }})
		if err != nil {
			t.Fatal(err)
		}
		if projectID == p.ID {
			err = e.store.SavePredictions(ctx, m.ID, []store.Prediction{{VolumeID: v.ID, Slice: 1, Mask: bytes.Repeat([]byte{class}, n), Uncertainty: 0.5}})
		}
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	active := model(p.ID, false, 1)
	cand := model(p.ID, true, 2)
	foreign := model(other.ID, false, 1)
	prediction := func(query string) response {
		return e.get(fmt.Sprintf("/api/volumes/%d/slices/1/prediction%s", v.ID, query))
	}
	activeBytes := prediction("").expect(t, http.StatusOK).body
	r := prediction(fmt.Sprintf("?model=%d", cand.ID)).expect(t, http.StatusOK)
	if r.body[0] != 2 || r.Header.Get("X-Model-Id") != fmt.Sprint(cand.ID) || r.Header.Get("X-Model-Status") != store.ModelCandidate {
		t.Fatalf("candidate prediction %v..., headers %v", r.body[:4], r.Header)
	}
	prediction(fmt.Sprintf("?model=%d", foreign.ID)).expect(t, http.StatusNotFound)
	if msg := prediction("?model=x").expect(t, http.StatusBadRequest).errorMessage(t); !strings.Contains(msg, "not a model id") {
		t.Fatalf("bad model id: %q", msg)
	}

	rev, ann := e.reviewerAndAnnotator()
	promote := func(b *browser, projectID, modelID int64) response {
		return b.do(http.MethodPost, fmt.Sprintf("/api/projects/%d/models/%d/promote", projectID, modelID), nil, nil)
	}
	if msg := promote(ann, p.ID, cand.ID).expect(t, http.StatusForbidden).errorMessage(t); !strings.Contains(msg, "reviewer") {
		t.Fatalf("annotator's promotion refused with %q", msg)
	}
	if got := rev.do(http.MethodGet, fmt.Sprintf("/api/volumes/%d/slices/1/prediction", v.ID), nil, nil).expect(t, http.StatusOK).body; !bytes.Equal(got, activeBytes) {
		t.Fatal("the active model's prediction changed before the promotion")
	}
	promote(rev, other.ID, cand.ID).expect(t, http.StatusNotFound)
	var promoted store.ModelVersion
	promote(rev, p.ID, cand.ID).expect(t, http.StatusOK).json(t, &promoted)
	if promoted.ID != cand.ID || promoted.Status != store.ModelActive {
		t.Fatalf("promoted %+v", promoted)
	}
	if got := rev.do(http.MethodGet, fmt.Sprintf("/api/volumes/%d/slices/1/prediction", v.ID), nil, nil).expect(t, http.StatusOK); got.body[0] != 2 ||
		got.Header.Get("X-Model-Status") != store.ModelActive {
		t.Fatalf("the project's prediction after the promotion: %v..., %v", got.body[:4], got.Header)
	}
	if msg := promote(rev, p.ID, cand.ID).expect(t, http.StatusConflict).errorMessage(t); !strings.Contains(msg, "not a candidate") {
		t.Fatalf("second promotion: %q", msg)
	}
	var models []store.ModelVersion
	rev.do(http.MethodGet, fmt.Sprintf("/api/projects/%d/models", p.ID), nil, nil).expect(t, http.StatusOK).json(t, &models)
	if len(models) != 2 || models[0].Status != store.ModelActive || models[1].ID != active.ID || models[1].Status != store.ModelPrevious {
		t.Fatalf("models after the promotion %+v", models)
	}
	entries, err := e.store.AuditLog(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, a := range entries {
		if a.Action == "model.promote" {
			found++
			if a.Actor != "rev" || a.Target != fmt.Sprintf("project %d", p.ID) || !strings.Contains(a.Detail, fmt.Sprintf("model %d", cand.ID)) {
				t.Fatalf("audit entry %+v", a)
			}
		}
	}
	if found != 1 {
		t.Fatalf("%d model.promote audit entries in %+v", found, entries)
	}
}

// reviewerAndAnnotator are two signed-in browsers: "rev", a reviewer, and "ann", an annotator.
func (e *testEnv) reviewerAndAnnotator() (rev, ann *browser) {
	t := e.t
	t.Helper()
	addUser(t, e.store, "rev", store.RoleReviewer, "reviewer password")
	addUser(t, e.store, "ann", store.RoleAnnotator, "annotator password")
	rev, ann = newBrowser(t, e.http.URL), newBrowser(t, e.http.URL)
	rev.login("rev", "reviewer password").expect(t, http.StatusOK)
	ann.login("ann", "annotator password").expect(t, http.StatusOK)
	return rev, ann
}

// trainForm is a Train now from a model file: the request as JSON and the file.
func (e *testEnv) trainForm(projectID int64, request any, fileName string, file []byte) response {
	e.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if request != nil {
		raw, _ := json.Marshal(request)
		mw.WriteField("request", string(raw))
	}
	if file != nil {
		fw, _ := mw.CreateFormFile("model", fileName)
		fw.Write(file)
	}
	mw.Close()
	return e.do(http.MethodPost, fmt.Sprintf("/api/projects/%d/train", projectID), &buf, map[string]string{"Content-Type": mw.FormDataContentType()})
}

// Train now from a model file: one of other classes is refused with one line and no run; a form without
// the file is a 400; another project's downloaded model starts a run that records it and trains from it.
func TestTrainFromModelFile(t *testing.T) {
	e := newTestEnv(t)
	e.closeTrainer()
	src, _ := e.t2sLabelled("source", 0, 2, 4, 6, 8)
	dst, _ := e.t2sLabelled("destination", 1, 3, 5, 7)
	one := e.createProject("one", "cord")
	conn := e.mustDial(src.ID)
	var run store.Run
	e.sendJSON(http.MethodPost, fmt.Sprintf("/api/projects/%d/train", src.ID), map[string]any{"settings": fastSettings}).
		expect(t, http.StatusAccepted).json(t, &run)
	waitEvents(t, conn, 60*time.Second, runEnded(store.RunDone))
	var models []store.ModelVersion
	e.get(fmt.Sprintf("/api/projects/%d/models", src.ID)).expect(t, http.StatusOK).json(t, &models)
	file := e.get(fmt.Sprintf("/api/models/%d/download", models[0].ID)).expect(t, http.StatusOK).body

	msg := e.trainForm(one.ID, nil, "source.wbmodel", file).expect(t, http.StatusBadRequest).errorMessage(t)
	if !strings.Contains(msg, "the initial model has 2 classes (wm, gm), the project 1 (cord)") || strings.Contains(msg, "\n") {
		t.Fatalf("wrong classes: %q", msg)
	}
	if msg := e.trainForm(dst.ID, map[string]any{"settings": fastSettings}, "", nil).expect(t, http.StatusBadRequest).errorMessage(t); !strings.Contains(msg, "no field named model") {
		t.Fatalf("no file: %q", msg)
	}
	var runs []store.Run
	for _, p := range []int64{one.ID, dst.ID} {
		e.get(fmt.Sprintf("/api/projects/%d/runs", p)).expect(t, http.StatusOK).json(t, &runs)
		if len(runs) != 0 {
			t.Fatalf("project %d has runs %+v after refused requests", p, runs)
		}
	}

	dconn := e.mustDial(dst.ID)
	e.trainForm(dst.ID, map[string]any{"settings": fastSettings}, "source_model.wbmodel", file).expect(t, http.StatusAccepted).json(t, &run)
	waitEvents(t, dconn, 60*time.Second, runEnded(store.RunDone))
	e.get(fmt.Sprintf("/api/runs/%d", run.ID)).expect(t, http.StatusOK).json(t, &run)
	var settings job.RunSettings
	if err := json.Unmarshal(run.Settings, &settings); err != nil || settings.InitModel == nil ||
		settings.InitModel.Name != "source_model.wbmodel" || len(settings.InitModel.SHA256) != 64 || settings.Train.Epochs != 3 {
		t.Fatalf("run settings %s (%v)", run.Settings, err)
	}
}
