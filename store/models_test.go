package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func createModel(t *testing.T, s *Store, projectID int64, activate bool) ModelVersion {
	t.Helper()
	m, err := s.CreateModel(ctx, NewModel{ProjectID: projectID, Arch: "smallunet", Activate: activate,
		Write: func(w io.Writer) error { _, err := io.WriteString(w, "weights"); return err }})
	if err != nil {
		t.Fatalf("CreateModel: %v", err)
	}
	return m
}

// savePredictions stores, for each slice, a mask of class 1 with the given uncertainty.
func savePredictions(t *testing.T, s *Store, modelID, volumeID int64, uncertainty map[int]float64) {
	t.Helper()
	var preds []Prediction
	for slice, u := range uncertainty {
		preds = append(preds, Prediction{VolumeID: volumeID, Slice: slice, Mask: filled(2, 1), Uncertainty: u})
	}
	if err := s.SavePredictions(ctx, modelID, preds); err != nil {
		t.Fatalf("SavePredictions: %v", err)
	}
}

func modelFiles(t *testing.T, s *Store) []string {
	entries, _ := os.ReadDir(filepath.Join(s.DataDir(), "models"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestCreateModel(t *testing.T) {
	s := newStore(t)
	p := newProject(t, s, "p")
	r, _ := s.CreateRun(ctx, p.ID, nil)
	first := createModel(t, s, p.ID, true)
	m, err := s.CreateModel(ctx, NewModel{ProjectID: p.ID, RunID: &r.ID, ParentID: &first.ID, Arch: "smallunet",
		Settings: json.RawMessage(`{"lr":0.001}`), Metrics: json.RawMessage(`{"dice":0.8}`),
		Write: func(w io.Writer) error { _, err := w.Write([]byte{1, 2, 3}); return err }})
	if err != nil {
		t.Fatal(err)
	}
	if *m.RunID != r.ID || *m.ParentID != first.ID || m.Active || string(m.Metrics) != `{"dice":0.8}` || !strings.HasPrefix(m.File, "models/") {
		t.Errorf("model %+v", m)
	}
	if data, err := os.ReadFile(s.ModelPath(m)); err != nil || !bytes.Equal(data, []byte{1, 2, 3}) {
		t.Errorf("model file %v, %v", data, err)
	}
	if got, err := s.Model(ctx, m.ID); err != nil || got.File != m.File {
		t.Errorf("Model = %+v, %v", got, err)
	}
	ms, err := s.Models(ctx, p.ID)
	if err != nil || len(ms) != 2 || ms[0].ID != m.ID {
		t.Errorf("Models = %+v, %v (want newest first)", ms, err)
	}
	if _, err := s.Model(ctx, 999); !errors.Is(err, ErrNotFound) {
		t.Errorf("Model(999): %v", err)
	}
	if _, err := s.Models(ctx, 999); !errors.Is(err, ErrNotFound) {
		t.Errorf("Models(999): %v", err)
	}
}

func TestCreateModelFailuresLeaveNothing(t *testing.T) {
	s := newStore(t)
	p, q := newProject(t, s, "p"), newProject(t, s, "q")
	foreign := createModel(t, s, q.ID, false)
	filesBefore := len(modelFiles(t, s))
	missing := int64(999)
	weights := func(w io.Writer) error { _, err := io.WriteString(w, "w"); return err }
	for name, nm := range map[string]NewModel{
		"write fails":             {ProjectID: p.ID, Arch: "a", Write: func(w io.Writer) error { w.Write([]byte("half")); return errors.New("disk full") }},
		"unknown project":         {ProjectID: 999, Arch: "a", Write: weights},
		"unknown run":             {ProjectID: p.ID, Arch: "a", RunID: &missing, Write: weights},
		"parent of other project": {ProjectID: p.ID, Arch: "a", ParentID: &foreign.ID, Write: weights},
		"no arch":                 {ProjectID: p.ID, Write: weights},
		"no weights":              {ProjectID: p.ID, Arch: "a"},
		"bad metrics":             {ProjectID: p.ID, Arch: "a", Metrics: json.RawMessage(`[]`), Write: weights},
	} {
		if _, err := s.CreateModel(ctx, nm); err == nil {
			t.Errorf("%s: CreateModel succeeded", name)
		}
		if n := len(modelFiles(t, s)); n != filesBefore {
			t.Errorf("%s: %d model files, want %d", name, n, filesBefore)
		}
	}
	if ms, _ := s.Models(ctx, p.ID); len(ms) != 0 {
		t.Errorf("failed creations left %d models", len(ms))
	}
}

func TestOneActiveModel(t *testing.T) {
	s := newStore(t)
	p, q := newProject(t, s, "p"), newProject(t, s, "q")
	if _, err := s.ActiveModel(ctx, p.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("ActiveModel with none: %v", err)
	}
	a := createModel(t, s, p.ID, true)
	b := createModel(t, s, p.ID, true)
	other := createModel(t, s, q.ID, true)
	active := func(project int64) int64 {
		m, err := s.ActiveModel(ctx, project)
		if err != nil {
			t.Fatal(err)
		}
		return m.ID
	}
	if active(p.ID) != b.ID || active(q.ID) != other.ID {
		t.Errorf("active after creating b: %d, want %d", active(p.ID), b.ID)
	}
	if err := s.SetActiveModel(ctx, p.ID, a.ID); err != nil { // roll back
		t.Fatal(err)
	}
	if active(p.ID) != a.ID || active(q.ID) != other.ID {
		t.Errorf("active after rollback: %d, want %d", active(p.ID), a.ID)
	}
	var n int
	s.db.QueryRow(`SELECT COUNT(*) FROM models WHERE project_id = ? AND active = 1`, p.ID).Scan(&n)
	if n != 1 {
		t.Errorf("%d active models in project", n)
	}
	if err := s.SetActiveModel(ctx, p.ID, other.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("activate another project's model: %v", err)
	}
	if err := s.SetActiveModel(ctx, p.ID, 999); !errors.Is(err, ErrNotFound) {
		t.Errorf("activate unknown model: %v", err)
	}
	// The schema itself refuses a second active model.
	if _, err := s.db.Exec(`UPDATE models SET active = 1 WHERE id = ?`, b.ID); err == nil {
		t.Error("two active models accepted by the schema")
	}
}

func TestPredictionsAndReviewQueue(t *testing.T) {
	s := newStore(t)
	p, q := newProject(t, s, "p"), newProject(t, s, "q")
	a := importVolume(t, s, p.ID, "a", SliceMask{Slice: 0, Mask: filled(1, 0)})
	b := importVolume(t, s, p.ID, "b")
	foreign := importVolume(t, s, q.ID, "c")
	old := createModel(t, s, p.ID, true)
	savePredictions(t, s, old.ID, a.ID, map[int]float64{1: 0.99})
	m := createModel(t, s, p.ID, true)
	savePredictions(t, s, m.ID, a.ID, map[int]float64{0: 0.95, 1: 0.2, 2: 0.7})
	savePredictions(t, s, m.ID, b.ID, map[int]float64{4: 0.5})
	// Replacing a slice's prediction keeps one row with the new values.
	if err := s.SavePredictions(ctx, m.ID, []Prediction{{VolumeID: a.ID, Slice: 1, Mask: filled(0, 2), Uncertainty: 0.3}}); err != nil {
		t.Fatal(err)
	}
	pr, err := s.Prediction(ctx, m.ID, a.ID, 1)
	if err != nil || pr.Uncertainty != 0.3 || !bytes.Equal(pr.Mask, filled(0, 2)) || pr.ModelID != m.ID {
		t.Errorf("replaced prediction %+v, %v", pr, err)
	}
	preds, err := s.Predictions(ctx, m.ID, a.ID)
	if err != nil || len(preds) != 3 || preds[0].Slice != 0 || preds[2].Slice != 2 {
		t.Errorf("Predictions = %+v, %v", preds, err)
	}

	queue, err := s.ReviewQueueBy(ctx, p.ID, 10, QueueUncertainty)
	if err != nil {
		t.Fatal(err)
	}
	// Slice a/0 is labelled (excluded); the old model's 0.99 is not active (excluded).
	want := []QueueItem{{a.ID, "a", 2, 0.7, false}, {b.ID, "b", 4, 0.5, false}, {a.ID, "a", 1, 0.3, false}}
	if len(queue) != len(want) {
		t.Fatalf("queue %+v, want %+v", queue, want)
	}
	for i := range want {
		if queue[i] != want[i] {
			t.Errorf("queue[%d] = %+v, want %+v", i, queue[i], want[i])
		}
	}
	if short, _ := s.ReviewQueue(ctx, p.ID, 1); len(short) != 1 {
		t.Errorf("limit 1 gave %d items", len(short))
	}
	if empty, err := s.ReviewQueue(ctx, q.ID, 10); err != nil || len(empty) != 0 {
		t.Errorf("queue of a project without a model: %+v, %v", empty, err)
	}

	for name, c := range map[string]struct {
		pred Prediction
		want func(error) bool
	}{
		"other project's volume": {Prediction{VolumeID: foreign.ID, Slice: 0, Mask: filled(1, 0)}, isValidation},
		"unknown volume":         {Prediction{VolumeID: 999, Slice: 0, Mask: filled(1, 0)}, func(err error) bool { return errors.Is(err, ErrNotFound) }},
		"slice past end":         {Prediction{VolumeID: a.ID, Slice: 5, Mask: filled(1, 0)}, isValidation},
		"short mask":             {Prediction{VolumeID: a.ID, Slice: 3, Mask: []uint8{1}}, isValidation},
		"class beyond K":         {Prediction{VolumeID: a.ID, Slice: 3, Mask: filled(3, 0)}, isValidation},
		"NaN uncertainty":        {Prediction{VolumeID: a.ID, Slice: 3, Mask: filled(1, 0), Uncertainty: math.NaN()}, isValidation},
	} {
		// A good prediction first in the batch: the whole batch must be refused.
		batch := []Prediction{{VolumeID: b.ID, Slice: 0, Mask: filled(1, 0)}, c.pred}
		if err := s.SavePredictions(ctx, m.ID, batch); !c.want(err) {
			t.Errorf("%s: err = %v", name, err)
		}
		if _, err := s.Prediction(ctx, m.ID, b.ID, 0); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: part of a refused batch was stored", name)
		}
	}
	if err := s.SavePredictions(ctx, 999, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown model: %v", err)
	}
	if _, err := s.Predictions(ctx, 999, a.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Predictions of unknown model: %v", err)
	}
	if _, err := s.ReviewQueue(ctx, 999, 10); !errors.Is(err, ErrNotFound) {
		t.Errorf("ReviewQueue of unknown project: %v", err)
	}
	checkIntegrity(t, s)
}

func TestSegmentationPrecedence(t *testing.T) {
	s := newStore(t)
	p := newProject(t, s, "p")
	v := importVolume(t, s, p.ID, "v",
		SliceMask{Slice: 0, Mask: filled(1, 1)}, // labelled, predicted too: the label wins
		SliceMask{Slice: 3, Mask: filled(2, 2)}) // deleted below: falls back to the prediction
	if _, err := s.DeleteLabel(ctx, v.ID, 3, 1, ""); err != nil {
		t.Fatal(err)
	}
	n := testGeometry.SliceLen()
	slice := func(seg []uint8, z int) []uint8 { return seg[z*n : (z+1)*n] }

	noModel, err := classesOf(s, v.ID, false)
	if err != nil || len(noModel) != n*5 {
		t.Fatalf("without a model: %d values, %v", len(noModel), err)
	}
	if !bytes.Equal(slice(noModel, 0), filled(1, 1)) || bytes.Count(noModel, []byte{0}) != n*4 {
		t.Error("without a model: want slice 0's label and zeros elsewhere")
	}

	inactive := createModel(t, s, p.ID, false)
	savePredictions(t, s, inactive.ID, v.ID, map[int]float64{4: 0.1}) // not active: ignored
	m := createModel(t, s, p.ID, true)
	if err := s.SavePredictions(ctx, m.ID, []Prediction{
		{VolumeID: v.ID, Slice: 0, Mask: filled(2, 2)},
		{VolumeID: v.ID, Slice: 2, Mask: filled(0, 2)},
		{VolumeID: v.ID, Slice: 3, Mask: filled(1, 2)},
	}); err != nil {
		t.Fatal(err)
	}
	seg, err := classesOf(s, v.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	for z, want := range [][]uint8{filled(1, 1), make([]uint8, n), filled(0, 2), filled(1, 2), make([]uint8, n)} {
		if !bytes.Equal(slice(seg, z), want) {
			t.Errorf("slice %d = %v, want %v", z, slice(seg, z), want)
		}
	}
	manual, err := classesOf(s, v.ID, true)
	if err != nil || !bytes.Equal(manual, noModel) {
		t.Errorf("manual only should ignore predictions: %v", err)
	}
	// The snapshot's statuses agree with its class map, and with SliceStates.
	snap, err := s.Segmentation(ctx, v.ID, false)
	if err != nil || !bytes.Equal(snap.Classes, seg) || snap.Volume.ID != v.ID {
		t.Fatalf("Segmentation: %v", err)
	}
	statuses, _ := statusesOf(s, v.ID)
	want := []string{StatusLabelled, StatusUnlabelled, StatusPredicted, StatusPredicted, StatusUnlabelled}
	if strings.Join(snap.Statuses, ",") != strings.Join(want, ",") || strings.Join(statuses, ",") != strings.Join(want, ",") {
		t.Errorf("statuses %v (SliceStates %v), want %v", snap.Statuses, statuses, want)
	}
	if _, err := classesOf(s, 999, false); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown volume: %v", err)
	}
}

// While another connection switches the active model back and forth, every Segmentation is one model's: its
// statuses name exactly the slices its class map fills from predictions.
func TestSegmentationIsOneSnapshot(t *testing.T) {
	s := newStore(t)
	p := newProject(t, s, "p")
	v := importVolume(t, s, p.ID, "v")
	a, b := createModel(t, s, p.ID, true), createModel(t, s, p.ID, false)
	savePredictions(t, s, a.ID, v.ID, map[int]float64{0: 0.1, 1: 0.1})
	savePredictions(t, s, b.ID, v.ID, map[int]float64{3: 0.1, 4: 0.1})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 50 {
			if err := s.SetActiveModel(ctx, p.ID, []int64{a.ID, b.ID}[i%2]); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	n := testGeometry.SliceLen()
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		seg, err := s.Segmentation(ctx, v.ID, false)
		if err != nil {
			t.Fatal(err)
		}
		for z, st := range seg.Statuses {
			filledFromPrediction := seg.Classes[z*n+1] != 0
			if filledFromPrediction != (st == StatusPredicted) {
				t.Fatalf("slice %d: status %s but class map %v", z, st, seg.Classes[z*n:(z+1)*n])
			}
		}
		if seg.Statuses[0] == seg.Statuses[3] {
			t.Fatalf("statuses mix two models: %v", seg.Statuses)
		}
	}
}

// classesOf is a volume's combined class map, as exports read it.
func classesOf(s *Store, volumeID int64, manualOnly bool) ([]uint8, error) {
	seg, err := s.Segmentation(ctx, volumeID, manualOnly)
	return seg.Classes, err
}

// statusesOf is each slice's status, by slice.
func statusesOf(s *Store, volumeID int64) ([]string, error) {
	states, err := s.SliceStates(ctx, volumeID)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(states))
	for i, st := range states {
		out[i] = st.Status
	}
	return out, nil
}

// A model created with its predictions and Activate is, in one transaction, the active model with all of them;
// a prediction that does not fit its volume leaves the previous model active with its predictions, no new row
// and no new file.
func TestCreateModelWithPredictionsIsOneStep(t *testing.T) {
	s := newStore(t)
	p := newProject(t, s, "p")
	v := importVolume(t, s, p.ID, "v")
	first := createModel(t, s, p.ID, true)
	savePredictions(t, s, first.ID, v.ID, map[int]float64{0: 0.5, 1: 0.2})
	files := modelFiles(t, s)

	bad := []Prediction{{VolumeID: v.ID, Slice: 0, Mask: filled(2, 1)}, {VolumeID: v.ID, Slice: 1, Mask: []uint8{1}}}
	if _, err := s.CreateModel(ctx, NewModel{ProjectID: p.ID, Arch: "smallunet", Activate: true, Predictions: bad,
		Write: func(w io.Writer) error { _, err := io.WriteString(w, "weights"); return err }}); err == nil {
		t.Fatal("a prediction of the wrong size was stored")
	}
	if a, err := s.ActiveModel(ctx, p.ID); err != nil || a.ID != first.ID {
		t.Fatalf("active model after a failed save: %+v, %v", a, err)
	}
	if q, err := s.ReviewQueue(ctx, p.ID, 10); err != nil || len(q) != 2 {
		t.Fatalf("review queue after a failed save: %+v, %v", q, err)
	}
	if got := modelFiles(t, s); strings.Join(got, ",") != strings.Join(files, ",") {
		t.Fatalf("model files %v, want %v", got, files)
	}

	good := []Prediction{{VolumeID: v.ID, Slice: 2, Mask: filled(2, 1), Uncertainty: 0.9}}
	m, err := s.CreateModel(ctx, NewModel{ProjectID: p.ID, Arch: "smallunet", Activate: true, Predictions: good,
		Write: func(w io.Writer) error { _, err := io.WriteString(w, "weights"); return err }})
	if err != nil || !m.Active {
		t.Fatalf("CreateModel: %+v, %v", m, err)
	}
	if q, err := s.ReviewQueue(ctx, p.ID, 10); err != nil || len(q) != 1 || q[0].Slice != 2 {
		t.Fatalf("review queue of the new model: %+v, %v", q, err)
	}
	for _, name := range modelFiles(t, s) {
		if strings.HasPrefix(name, ".") {
			t.Fatalf("left in models/: %s", name)
		}
	}
}

// Open removes the model file of a save that a crash cut short between the file's rename and the commit (its
// marker remains, no row names the file), and keeps a committed one whose marker a crash left behind.
func TestOpenRemovesModelFilesOfUnfinishedSaves(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	p := newProject(t, s, "p")
	kept := createModel(t, s, p.ID, true)
	models := filepath.Join(dir, "models")
	orphan := "7-0123456789abcdef.model"
	for _, name := range []string{orphan, pendingPrefix + orphan, pendingPrefix + filepath.Base(kept.File)} {
		if err := os.WriteFile(filepath.Join(models, name), []byte("x"), 0o444); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()

	s = openStore(t, dir)
	if got := modelFiles(t, s); len(got) != 1 || got[0] != filepath.Base(kept.File) {
		t.Fatalf("models/ after reopening: %v, want only %s", got, filepath.Base(kept.File))
	}
	if _, err := os.ReadFile(s.ModelPath(kept)); err != nil {
		t.Fatalf("the committed model's file: %v", err)
	}
}

// A candidate is stored beside the active model without touching it or its predictions; its training slices
// are recorded (those of other projects' volumes left out); promotion makes it the active one, once.
func TestCandidateModelAndPromotion(t *testing.T) {
	s := newStore(t)
	p := newProject(t, s, "p")
	other := newProject(t, s, "other")
	v := importVolume(t, s, p.ID, "v", SliceMask{Slice: 0, Mask: filled(1, 2)})
	foreign := importVolume(t, s, other.ID, "w")
	active := createModel(t, s, p.ID, true)
	savePredictions(t, s, active.ID, v.ID, map[int]float64{1: 0.5, 2: 0.25})
	before, err := s.Predictions(ctx, active.ID, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateModel(ctx, NewModel{ProjectID: p.ID, Arch: "smallunet", Activate: true, Candidate: true,
		Write: func(w io.Writer) error { return nil }}); err == nil || !errors.As(err, new(*ValidationError)) {
		t.Fatalf("activated candidate: %v", err)
	}
	cand, err := s.CreateModel(ctx, NewModel{ProjectID: p.ID, Arch: "smallunet", Candidate: true,
		TrainedOn:   []TrainingSlice{{VolumeID: v.ID, Slice: 0, LabelVersion: 1}, {VolumeID: foreign.ID, Slice: 0, LabelVersion: 1}},
		Predictions: []Prediction{{VolumeID: v.ID, Slice: 1, Mask: filled(0, 2), Uncertainty: 0.1}},
		Write:       func(w io.Writer) error { _, err := io.WriteString(w, "weights"); return err }})
	if err != nil {
		t.Fatal(err)
	}
	if cand.Status != ModelCandidate || cand.Active || !cand.Candidate {
		t.Fatalf("candidate %+v", cand)
	}
	if a, err := s.ActiveModel(ctx, p.ID); err != nil || a.ID != active.ID || a.Status != ModelActive {
		t.Fatalf("active model %+v, %v", a, err)
	}
	after, err := s.Predictions(ctx, active.ID, v.ID)
	if err != nil || len(after) != len(before) {
		t.Fatalf("active predictions %d, were %d (%v)", len(after), len(before), err)
	}
	for i := range after {
		if !bytes.Equal(after[i].Mask, before[i].Mask) || after[i].Uncertainty != before[i].Uncertainty {
			t.Fatalf("active prediction of slice %d changed", after[i].Slice)
		}
	}
	if got, err := s.Prediction(ctx, cand.ID, v.ID, 1); err != nil || got.Mask[0] != 0 || got.Mask[1] != 2 {
		t.Fatalf("candidate prediction %+v, %v", got, err)
	}
	ts, err := s.TrainingSlices(ctx, cand.ID)
	if err != nil || len(ts) != 1 || ts[0] != (TrainingSlice{VolumeID: v.ID, Slice: 0, LabelVersion: 1}) {
		t.Fatalf("training slices %+v, %v", ts, err)
	}
	if _, err := s.PromoteModel(ctx, other.ID, cand.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("promoted into another project: %v", err)
	}
	if _, err := s.PromoteModel(ctx, p.ID, active.ID); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "active, not a candidate") {
		t.Fatalf("promoted the active model: %v", err)
	}
	promoted, err := s.PromoteModel(ctx, p.ID, cand.ID)
	if err != nil || promoted.Status != ModelActive || promoted.Candidate {
		t.Fatalf("promoted %+v, %v", promoted, err)
	}
	if old, _ := s.Model(ctx, active.ID); old.Status != ModelPrevious {
		t.Fatalf("the old active model is %s", old.Status)
	}
	if _, err := s.PromoteModel(ctx, p.ID, cand.ID); !errors.Is(err, ErrConflict) {
		t.Fatalf("promoted twice: %v", err)
	}
	// Deleting the volume drops its training slices with it.
	if err := s.DeleteVolume(ctx, v.ID); err != nil {
		t.Fatal(err)
	}
	if ts, err := s.TrainingSlices(ctx, cand.ID); err != nil || len(ts) != 0 {
		t.Fatalf("training slices after the volume's deletion %+v, %v", ts, err)
	}
}

// A result that comes after the model (its cross-validation) is merged into the stored metrics; an update
// that fails or writes something that is not JSON leaves them as they were, and a missing model is not found.
func TestUpdateModelMetrics(t *testing.T) {
	s := newStore(t)
	p := newProject(t, s, "p")
	m, err := s.CreateModel(ctx, NewModel{ProjectID: p.ID, Arch: "smallunet", Metrics: json.RawMessage(`{"trainSlices":4}`),
		Write: func(w io.Writer) error { _, err := w.Write([]byte{1}); return err }})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.UpdateModelMetrics(ctx, m.ID, func(old json.RawMessage) (json.RawMessage, error) {
		if string(old) != `{"trainSlices":4}` {
			t.Errorf("update got %s", old)
		}
		return json.RawMessage(`{"trainSlices":4,"evaluation":{"folds":3}}`), nil
	})
	if err != nil || string(got.Metrics) != `{"trainSlices":4,"evaluation":{"folds":3}}` {
		t.Fatalf("updated model %s (%v)", got.Metrics, err)
	}
	if _, err := s.UpdateModelMetrics(ctx, m.ID, func(json.RawMessage) (json.RawMessage, error) { return json.RawMessage(`{"cut`), nil }); !errors.As(err, new(*ValidationError)) {
		t.Fatalf("metrics that are not JSON: %v", err)
	}
	if _, err := s.UpdateModelMetrics(ctx, m.ID, func(json.RawMessage) (json.RawMessage, error) { return nil, errors.New("boom") }); err == nil {
		t.Fatal("a failed update was stored")
	}
	if after, _ := s.Model(ctx, m.ID); string(after.Metrics) != string(got.Metrics) {
		t.Fatalf("failed updates changed the metrics to %s", after.Metrics)
	}
	if _, err := s.UpdateModelMetrics(ctx, m.ID+100, func(old json.RawMessage) (json.RawMessage, error) { return old, nil }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing model: %v", err)
	}
}
