package store

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
)

func TestLabelVersionsAndHistory(t *testing.T) {
	s := newStore(t)
	p := newProject(t, s, "p")
	v := importVolume(t, s, p.ID, "v")

	if _, err := s.Label(ctx, v.ID, 2); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Label of unlabelled slice: %v", err)
	}
	l1, err := s.SaveLabel(ctx, LabelWrite{VolumeID: v.ID, Slice: 2, Mask: filled(1, 0), Author: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	if l1.Version != 1 || l1.Origin != OriginManual || l1.Verified || l1.Deleted || l1.Author != "ann" || !bytes.Equal(l1.Mask, filled(1, 0)) {
		t.Errorf("first save %+v", l1)
	}
	l2, err := s.SaveLabel(ctx, LabelWrite{VolumeID: v.ID, Slice: 2, BaseVersion: 1, Mask: filled(2, 2), Author: "bob", Origin: OriginPrediction})
	if err != nil || l2.Version != 2 || l2.Origin != OriginPrediction {
		t.Fatalf("second save %+v, %v", l2, err)
	}
	l3, err := s.SetVerified(ctx, v.ID, 2, 2, true, "cat")
	if err != nil || l3.Version != 3 || !l3.Verified || !bytes.Equal(l3.Mask, l2.Mask) || l3.Origin != OriginPrediction {
		t.Fatalf("SetVerified %+v, %v", l3, err)
	}
	cur, err := s.Label(ctx, v.ID, 2)
	if err != nil || cur.Version != 3 || !cur.Verified || !bytes.Equal(cur.Mask, filled(2, 2)) || cur.Author != "cat" {
		t.Errorf("current %+v, %v", cur, err)
	}

	l4, err := s.DeleteLabel(ctx, v.ID, 2, 3, "dan")
	if err != nil || l4.Version != 4 || !l4.Deleted || l4.Mask != nil {
		t.Fatalf("DeleteLabel %+v, %v", l4, err)
	}
	cur, err = s.Label(ctx, v.ID, 2)
	if err != nil || !cur.Deleted || cur.Version != 4 {
		t.Errorf("current after delete %+v, %v (want the tombstone)", cur, err)
	}
	if ls, _ := s.Labels(ctx, v.ID); len(ls) != 0 {
		t.Errorf("Labels after delete: %d, want none", len(ls))
	}
	// A deleted slice takes a new label on top of the tombstone, not from zero.
	if _, err := s.SaveLabel(ctx, LabelWrite{VolumeID: v.ID, Slice: 2, BaseVersion: 0, Mask: filled(1, 1)}); !errors.Is(err, ErrStaleVersion) {
		t.Errorf("save after delete from version 0: %v", err)
	}
	if _, err := s.SetVerified(ctx, v.ID, 2, 4, true, "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("verify a deleted label: %v", err)
	}
	if _, err := s.DeleteLabel(ctx, v.ID, 2, 4, "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("delete a deleted label: %v", err)
	}
	l5, err := s.SaveLabel(ctx, LabelWrite{VolumeID: v.ID, Slice: 2, BaseVersion: 4, Mask: filled(1, 1)})
	if err != nil || l5.Version != 5 {
		t.Fatalf("save after delete %+v, %v", l5, err)
	}

	hist, err := s.LabelHistory(ctx, v.ID, 2)
	if err != nil || len(hist) != 5 {
		t.Fatalf("history %d versions, %v", len(hist), err)
	}
	for i, h := range hist {
		if h.Version != 5-i {
			t.Errorf("history[%d].Version = %d, want newest first", i, h.Version)
		}
	}
	if hist[4].Author != "ann" || !hist[1].Deleted || hist[0].Deleted {
		t.Errorf("history lost a version's metadata: %+v", hist)
	}
	for _, h := range hist {
		if h.Mask != nil {
			t.Errorf("history version %d carries its mask: the history is metadata only", h.Version)
		}
	}
	if v2, err := s.LabelVersion(ctx, v.ID, 2, 2); err != nil || !bytes.Equal(v2.Mask, filled(2, 2)) {
		t.Errorf("LabelVersion 2: %+v, %v", v2, err)
	}
	old, err := s.LabelVersion(ctx, v.ID, 2, 1)
	if err != nil || !bytes.Equal(old.Mask, filled(1, 0)) || old.Author != "ann" {
		t.Errorf("LabelVersion 1: %+v, %v", old, err)
	}
	if _, err := s.LabelVersion(ctx, v.ID, 2, 9); !errors.Is(err, ErrNotFound) {
		t.Errorf("LabelVersion 9: %v", err)
	}
	checkIntegrity(t, s)
}

func TestSaveLabelRefusals(t *testing.T) {
	s := newStore(t)
	p := newProject(t, s, "p")
	v := importVolume(t, s, p.ID, "v", SliceMask{Slice: 0, Mask: filled(1, 0)})

	_, err := s.SaveLabel(ctx, LabelWrite{VolumeID: v.ID, Slice: 0, BaseVersion: 0, Mask: filled(2, 0)})
	var stale *StaleVersionError
	if !errors.Is(err, ErrStaleVersion) || !errors.As(err, &stale) || stale.Current != 1 || stale.Base != 0 {
		t.Errorf("stale save: err = %v, want *StaleVersionError with Current 1", err)
	}
	if _, err := s.SaveLabel(ctx, LabelWrite{VolumeID: v.ID, Slice: 0, BaseVersion: 7, Mask: filled(2, 0)}); !errors.Is(err, ErrStaleVersion) {
		t.Errorf("future base version: %v", err)
	}
	if _, err := s.DeleteLabel(ctx, v.ID, 0, 0, "x"); !errors.Is(err, ErrStaleVersion) {
		t.Errorf("stale delete: %v", err)
	}
	if _, err := s.SetVerified(ctx, v.ID, 0, 2, true, "x"); !errors.Is(err, ErrStaleVersion) {
		t.Errorf("stale verify: %v", err)
	}
	if _, err := s.SetVerified(ctx, v.ID, 3, 0, true, "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("verify an unlabelled slice: %v", err)
	}

	for name, w := range map[string]LabelWrite{
		"negative slice":   {VolumeID: v.ID, Slice: -1, Mask: filled(1, 0)},
		"slice past end":   {VolumeID: v.ID, Slice: 5, Mask: filled(1, 0)},
		"short mask":       {VolumeID: v.ID, Slice: 1, Mask: make([]uint8, 11)},
		"long mask":        {VolumeID: v.ID, Slice: 1, Mask: make([]uint8, 13)},
		"class beyond K":   {VolumeID: v.ID, Slice: 1, Mask: filled(3, 0)},
		"unknown origin":   {VolumeID: v.ID, Slice: 1, Mask: filled(1, 0), Origin: "guess"},
		"control author":   {VolumeID: v.ID, Slice: 1, Mask: filled(1, 0), Author: "a\nb"},
		"very long author": {VolumeID: v.ID, Slice: 1, Mask: filled(1, 0), Author: strings.Repeat("a", 101)},
	} {
		if _, err := s.SaveLabel(ctx, w); !isValidation(err) {
			t.Errorf("%s: err = %v, want *ValidationError", name, err)
		}
	}
	if _, err := s.SaveLabel(ctx, LabelWrite{VolumeID: 999, Slice: 0, Mask: filled(1, 0)}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown volume: %v", err)
	}
	for name, err := range map[string]error{
		"Label":         second(s.Label(ctx, 999, 0)),
		"Labels":        second(s.Labels(ctx, 999)),
		"LabelHistory":  second(s.LabelHistory(ctx, 999, 0)),
		"ProjectLabels": second(s.ProjectLabels(ctx, 999)),
		"DeleteLabel":   second(s.DeleteLabel(ctx, 999, 0, 1, "")),
	} {
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("%s of unknown id: %v", name, err)
		}
	}
	if n := countRows(t, s, "labels"); n != 1 {
		t.Errorf("%d label rows after refused writes, want 1", n)
	}
}

func second[T any](_ T, err error) error { return err }

func TestConcurrentSavesOnSameVersion(t *testing.T) {
	s := newStore(t)
	p := newProject(t, s, "p")
	v := importVolume(t, s, p.ID, "v")
	const writers = 8
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.SaveLabel(ctx, LabelWrite{VolumeID: v.ID, Slice: 3, BaseVersion: 0, Mask: filled(uint8(i%3), 0)})
		}()
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, ErrStaleVersion):
			t.Errorf("writer %d: %v, want success or ErrStaleVersion", i, err)
		}
	}
	if won != 1 {
		t.Errorf("%d writers won, want exactly 1", won)
	}
	if hist, _ := s.LabelHistory(ctx, v.ID, 3); len(hist) != 1 {
		t.Errorf("%d versions stored, want 1", len(hist))
	}
}

func TestLabelsAndProjectLabels(t *testing.T) {
	s := newStore(t)
	p := newProject(t, s, "p")
	other := newProject(t, s, "other")
	a := importVolume(t, s, p.ID, "a", SliceMask{Slice: 3, Mask: filled(1, 0)}, SliceMask{Slice: 1, Mask: filled(2, 0)})
	b := importVolume(t, s, p.ID, "b", SliceMask{Slice: 0, Mask: filled(1, 1)})
	importVolume(t, s, other.ID, "c", SliceMask{Slice: 0, Mask: filled(1, 1)})
	if _, err := s.SaveLabel(ctx, LabelWrite{VolumeID: a.ID, Slice: 3, BaseVersion: 1, Mask: filled(2, 2)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteLabel(ctx, b.ID, 0, 1, ""); err != nil {
		t.Fatal(err)
	}
	ls, err := s.Labels(ctx, a.ID)
	if err != nil || len(ls) != 2 || ls[0].Slice != 1 || ls[1].Slice != 3 || ls[1].Version != 2 || !bytes.Equal(ls[1].Mask, filled(2, 2)) {
		t.Errorf("Labels(a) = %+v, %v", ls, err)
	}
	pl, err := s.ProjectLabels(ctx, p.ID)
	if err != nil || len(pl) != 2 {
		t.Fatalf("ProjectLabels = %d labels, %v; want a's two (b's was deleted, c is another project)", len(pl), err)
	}
	for _, l := range pl {
		if l.VolumeID != a.ID || l.Deleted {
			t.Errorf("unexpected training label %+v", l)
		}
	}
}
