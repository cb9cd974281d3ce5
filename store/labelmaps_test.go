package store

import (
	"bytes"
	"errors"
	"testing"
)

// Labels of several slices go in together or not at all: labelled slices are refused, all named, unless
// replacing, which stacks new versions on the history; a bad mask anywhere stores none.
func TestSaveSliceLabels(t *testing.T) {
	s := newStore(t)
	p := newProject(t, s, "maps")
	v := importVolume(t, s, p.ID, "vol", SliceMask{Slice: 1, Mask: filled(0, 1)}, SliceMask{Slice: 3, Mask: filled(0, 2)})
	if _, err := s.DeleteLabel(ctx, v.ID, 3, 1, "someone"); err != nil { // a deleted label counts as none
		t.Fatal(err)
	}

	batch := []SliceMask{{Slice: 0, Mask: filled(1, 2)}, {Slice: 1, Mask: filled(2, 2)}, {Slice: 3, Mask: filled(0, 1)}}
	_, err := s.SaveSliceLabels(ctx, v.ID, batch, "uploader", false)
	var already *AlreadyLabelledError
	if !errors.As(err, &already) || !errors.Is(err, ErrConflict) || len(already.Slices) != 1 || already.Slices[0] != 1 ||
		err.Error() != "volume 1: slice 1 already has a label" {
		t.Fatalf("onto a labelled slice: %v, want a conflict naming slice 1", err)
	}
	bad := append(append([]SliceMask{}, batch[0]), SliceMask{Slice: 2, Mask: filled(3, 0)})
	if _, err := s.SaveSliceLabels(ctx, v.ID, bad, "uploader", true); !errors.As(err, new(*ValidationError)) {
		t.Fatalf("a mask with class 3 of 2: %v, want a validation error", err)
	}
	if _, err := s.SaveSliceLabels(ctx, v.ID, []SliceMask{batch[0], batch[0]}, "uploader", true); !errors.As(err, new(*ValidationError)) {
		t.Fatalf("a slice twice: %v, want a validation error", err)
	}
	if labels, err := s.Labels(ctx, v.ID); err != nil || len(labels) != 1 || labels[0].Slice != 1 || labels[0].Version != 1 {
		t.Fatalf("after refusals: labels %+v (%v), want only slice 1 version 1", labels, err)
	}

	saved, err := s.SaveSliceLabels(ctx, v.ID, batch, "uploader", true)
	if err != nil {
		t.Fatal(err)
	}
	wantVersions := map[int]int{0: 1, 1: 2, 3: 3}
	for _, l := range saved {
		if l.Version != wantVersions[l.Slice] || l.Author != "uploader" || l.Origin != OriginManual || l.Mask != nil {
			t.Errorf("saved %+v, want version %d by uploader", l, wantVersions[l.Slice])
		}
	}
	for _, m := range batch {
		l, err := s.Label(ctx, v.ID, m.Slice)
		if err != nil || !bytes.Equal(l.Mask, m.Mask) || l.Version != wantVersions[m.Slice] {
			t.Errorf("slice %d: %+v (%v), want the uploaded mask as version %d", m.Slice, l, err, wantVersions[m.Slice])
		}
	}
	if old, err := s.LabelVersion(ctx, v.ID, 1, 1); err != nil || !bytes.Equal(old.Mask, filled(0, 1)) {
		t.Errorf("history lost the replaced version: %+v (%v)", old, err)
	}
	_, err = s.SaveSliceLabels(ctx, v.ID, batch, "uploader", false)
	if !errors.As(err, &already) || err.Error() != "volume 1: slices 0, 1, 3 already have labels" {
		t.Errorf("second upload: %v, want all three slices named", err)
	}
}
