package store

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func isValidation(err error) bool {
	var v *ValidationError
	return errors.As(err, &v) && v.Msg != "" && !strings.Contains(v.Msg, "\n")
}

func TestCreateProject(t *testing.T) {
	s := newStore(t)
	p, err := s.CreateProject(ctx, "cord", wmgm, json.RawMessage(`{"epochs":3}`))
	if err != nil {
		t.Fatal(err)
	}
	if p.ID == 0 || p.Name != "cord" || p.CropW != DefaultCrop || p.CropH != DefaultCrop || p.CreatedAt.IsZero() {
		t.Errorf("created %+v", p)
	}
	if len(p.Classes) != 2 || p.Classes[0] != (Class{"wm", "#ffff00"}) || p.Classes[1] != (Class{"gm", "#ff0000"}) {
		t.Errorf("classes %+v, want wm #ffff00 (lower-cased), gm #ff0000", p.Classes)
	}
	if string(p.Settings) != `{"epochs":3}` {
		t.Errorf("settings %s", p.Settings)
	}
	byName, err := s.ProjectByName(ctx, "cord")
	if err != nil || byName.ID != p.ID {
		t.Errorf("ProjectByName = %+v, %v", byName, err)
	}
	if _, err := s.CreateProject(ctx, "cord", wmgm, nil); !errors.Is(err, ErrConflict) {
		t.Errorf("duplicate name: err = %v, want ErrConflict", err)
	}
	q, err := s.CreateProject(ctx, "second", wmgm[:1], nil)
	if err != nil || string(q.Settings) != "{}" {
		t.Errorf("default settings %s, %v", q.Settings, err)
	}
}

func TestCreateProjectValidation(t *testing.T) {
	s := newStore(t)
	many := make([]Class, 10)
	for i := range many {
		many[i] = Class{Name: string(rune('a' + i)), Color: "#000000"}
	}
	for name, c := range map[string]struct {
		name     string
		classes  []Class
		settings string
	}{
		"empty name":        {"", wmgm, ""},
		"padded name":       {" x", wmgm, ""},
		"slash in name":     {"a/b", wmgm, ""},
		"no classes":        {"x", nil, ""},
		"ten classes":       {"x", many, ""},
		"duplicate class":   {"x", []Class{{"wm", "#000000"}, {"WM", "#111111"}}, ""},
		"background class":  {"x", []Class{{"background", "#000000"}}, ""},
		"bad colour":        {"x", []Class{{"wm", "red"}}, ""},
		"short colour":      {"x", []Class{{"wm", "#fff"}}, ""},
		"comma in class":    {"x", []Class{{"w,m", "#000000"}}, ""},
		"empty class name":  {"x", []Class{{"", "#000000"}}, ""},
		"settings array":    {"x", wmgm, "[1]"},
		"settings not json": {"x", wmgm, "{"},
	} {
		_, err := s.CreateProject(ctx, c.name, c.classes, json.RawMessage(c.settings))
		if !isValidation(err) {
			t.Errorf("%s: err = %v, want a one-line *ValidationError", name, err)
		}
	}
	if ps, _ := s.Projects(ctx); len(ps) != 0 {
		t.Errorf("invalid projects were stored: %+v", ps)
	}
}

func TestProjectNotFound(t *testing.T) {
	s := newStore(t)
	if _, err := s.Project(ctx, 42); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "project 42") {
		t.Errorf("Project(42): %v", err)
	}
	if _, err := s.ProjectByName(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("ProjectByName: %v", err)
	}
	if _, err := s.UpdateProject(ctx, 42, ProjectUpdate{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("UpdateProject: %v", err)
	}
}

func TestProjectsCounts(t *testing.T) {
	s := newStore(t)
	a := newProject(t, s, "b-second")
	newProject(t, s, "a-first")
	importVolume(t, s, a.ID, "v1", SliceMask{Slice: 0, Mask: filled(1, 0)}, SliceMask{Slice: 3, Mask: filled(2, 0)})
	importVolume(t, s, a.ID, "v2")
	ps, err := s.Projects(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || ps[0].Name != "a-first" || ps[1].Name != "b-second" {
		t.Fatalf("Projects = %+v, want sorted by name", ps)
	}
	got := ps[1]
	if got.Volumes != 2 || got.Slices != 10 || got.LabelledSlices != 2 {
		t.Errorf("counts volumes=%d slices=%d labelled=%d, want 2, 10, 2", got.Volumes, got.Slices, got.LabelledSlices)
	}
	if ps[0].Volumes != 0 || ps[0].Slices != 0 {
		t.Errorf("empty project counts %+v", ps[0])
	}
}

func TestUpdateProject(t *testing.T) {
	s := newStore(t)
	p := newProject(t, s, "p")
	newProject(t, s, "taken")
	v := importVolume(t, s, p.ID, "v", SliceMask{Slice: 2, Mask: filled(2, 1)}) // uses class 2 (gm)

	name, crop := "renamed", 80
	three := append(append([]Class{}, wmgm...), Class{Name: "lesion", Color: "#00FF00"})
	u, err := s.UpdateProject(ctx, p.ID, ProjectUpdate{Name: &name, Classes: three, CropW: &crop, Settings: json.RawMessage(`{"arch":"smallunet"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if u.Name != "renamed" || len(u.Classes) != 3 || u.Classes[2].Color != "#00ff00" || u.CropW != 80 || u.CropH != DefaultCrop || string(u.Settings) != `{"arch":"smallunet"}` {
		t.Errorf("updated %+v", u)
	}
	if got, _ := s.Project(ctx, p.ID); got.Name != "renamed" || len(got.Classes) != 3 {
		t.Errorf("not persisted: %+v", got)
	}

	// Dropping the unused third class is fine; dropping gm, which a label uses, is refused.
	if _, err := s.UpdateProject(ctx, p.ID, ProjectUpdate{Classes: wmgm}); err != nil {
		t.Errorf("drop unused class: %v", err)
	}
	if _, err := s.UpdateProject(ctx, p.ID, ProjectUpdate{Classes: wmgm[:1]}); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "slice 2") {
		t.Errorf("drop used class: err = %v, want ErrConflict naming the slice", err)
	}
	// Once the label no longer uses gm, it can go.
	if _, err := s.SaveLabel(ctx, LabelWrite{VolumeID: v.ID, Slice: 2, BaseVersion: 1, Mask: filled(1, 0)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateProject(ctx, p.ID, ProjectUpdate{Classes: wmgm[:1]}); err != nil {
		t.Errorf("drop class no longer used: %v", err)
	}

	taken, bad := "taken", 100
	if _, err := s.UpdateProject(ctx, p.ID, ProjectUpdate{Name: &taken}); !errors.Is(err, ErrConflict) {
		t.Errorf("rename onto another project: %v", err)
	}
	if _, err := s.UpdateProject(ctx, p.ID, ProjectUpdate{CropH: &bad}); !isValidation(err) {
		t.Errorf("crop 100 (not a multiple of 8): %v", err)
	}
	if _, err := s.UpdateProject(ctx, p.ID, ProjectUpdate{Classes: []Class{}}); !isValidation(err) {
		t.Errorf("no classes: %v", err)
	}
	if _, err := s.UpdateProject(ctx, p.ID, ProjectUpdate{Settings: json.RawMessage(`"x"`)}); !isValidation(err) {
		t.Errorf("settings not an object: %v", err)
	}
}

// The crop is stored once, in CropW/CropH: crop_w/crop_h in settings move there, under the training engine's
// rule (multiples of 8 from 8 to 1024).
func TestProjectCropHasOneHome(t *testing.T) {
	s := newStore(t)
	p, err := s.CreateProject(ctx, "c", wmgm, json.RawMessage(`{"crop_w":96,"crop_h":64,"epochs":3}`))
	if err != nil {
		t.Fatal(err)
	}
	if p.CropW != 96 || p.CropH != 64 || string(p.Settings) != `{"epochs":3}` {
		t.Fatalf("created %+v (settings %s)", p, p.Settings)
	}
	if d := newProject(t, s, "d"); d.CropW != DefaultCrop || d.CropH != DefaultCrop {
		t.Errorf("default crop %dx%d", d.CropW, d.CropH)
	}
	u, err := s.UpdateProject(ctx, p.ID, ProjectUpdate{Settings: json.RawMessage(`{"crop_w":40,"preset":"paper"}`)})
	if err != nil || u.CropW != 40 || u.CropH != 64 || string(u.Settings) != `{"preset":"paper"}` {
		t.Fatalf("settings crop: %+v (settings %s), %v", u, u.Settings, err)
	}
	w := 24
	if u, err = s.UpdateProject(ctx, p.ID, ProjectUpdate{CropW: &w, Settings: json.RawMessage(`{"crop_w":160}`)}); err != nil || u.CropW != 24 {
		t.Errorf("explicit CropW beside a settings crop: %+v, %v", u, err)
	}
	for _, bad := range []string{`{"crop_w":12}`, `{"crop_h":0}`, `{"crop_w":1032}`, `{"crop_w":"big"}`} {
		if _, err := s.UpdateProject(ctx, p.ID, ProjectUpdate{Settings: json.RawMessage(bad)}); !isValidation(err) {
			t.Errorf("settings %s: %v", bad, err)
		}
		if _, err := s.CreateProject(ctx, "bad", wmgm, json.RawMessage(bad)); !isValidation(err) {
			t.Errorf("create with settings %s: %v", bad, err)
		}
	}
	if got, _ := s.Project(ctx, p.ID); got.CropW != 24 || got.CropH != 64 {
		t.Errorf("refused updates changed the crop: %+v", got)
	}
}

// A class the active model predicts cannot be removed (exports and review would show it); another model's
// predictions do not count.
func TestRemoveClassPredictedByActiveModel(t *testing.T) {
	s := newStore(t)
	p := newProject(t, s, "p")
	v := importVolume(t, s, p.ID, "v")
	old := createModel(t, s, p.ID, false)
	savePredictions(t, s, old.ID, v.ID, map[int]float64{1: 0.5}) // class 2 on slice 1, by an inactive model
	if _, err := s.UpdateProject(ctx, p.ID, ProjectUpdate{Classes: wmgm[:1]}); err != nil {
		t.Fatalf("an inactive model's predictions blocked the removal: %v", err)
	}
	if _, err := s.UpdateProject(ctx, p.ID, ProjectUpdate{Classes: wmgm}); err != nil {
		t.Fatal(err)
	}
	active := createModel(t, s, p.ID, true)
	savePredictions(t, s, active.ID, v.ID, map[int]float64{3: 0.5})
	_, err := s.UpdateProject(ctx, p.ID, ProjectUpdate{Classes: wmgm[:1]})
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "active model") || !strings.Contains(err.Error(), "slice 3") {
		t.Errorf("remove a class the active model predicts: %v", err)
	}
	if err := s.SetActiveModel(ctx, p.ID, old.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateProject(ctx, p.ID, ProjectUpdate{Classes: wmgm[:1]}); !errors.Is(err, ErrConflict) {
		t.Errorf("the old model, active again, predicts class 2 too: %v", err)
	}
}

func TestDeleteProject(t *testing.T) {
	s := newStore(t)
	keep := newProject(t, s, "keep")
	kept := importVolume(t, s, keep.ID, "kept")
	p := newProject(t, s, "gone")
	importVolume(t, s, p.ID, "sub-01", SliceMask{Slice: 4, Mask: filled(2, 1)})
	createModel(t, s, p.ID, true)

	run, err := s.CreateRun(ctx, p.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteProject(ctx, p.ID); !errors.Is(err, ErrConflict) {
		t.Fatalf("delete during a run: %v, want ErrConflict", err)
	}
	if _, err := s.FinishRun(ctx, run.ID, RunCancelled, "", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteProject(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Project(ctx, p.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("project still there: %v", err)
	}
	if err := s.DeleteProject(ctx, p.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
	for table, want := range map[string]int{"volumes": 1, "labels": 0, "models": 0, "runs": 0} {
		if n := countRows(t, s, table); n != want {
			t.Errorf("%s: %d rows, want %d", table, n, want)
		}
	}
	if files := volumeFiles(t, s); len(files) != 1 || "volumes/"+files[0] != kept.OriginalFile {
		t.Errorf("volume files %v, want only %s", files, kept.OriginalFile)
	}
	if files := modelFiles(t, s); len(files) != 0 {
		t.Errorf("model files left: %v", files)
	}
	checkIntegrity(t, s)
}
