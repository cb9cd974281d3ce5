package store

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
)

// The labels table is rebuilt by migration 0004 to take the new origins: rows written before it keep their ids,
// versions and masks, and the new origins are then accepted while an unknown one is still refused.
func TestLabelOriginsMigrationKeepsLabels(t *testing.T) {
	dir := t.TempDir()
	upTo3 := fstest.MapFS{}
	for _, name := range []string{"0001_init.sql", "0002_run_owner_crop.sql", "0003_identity.sql"} {
		data, err := os.ReadFile(filepath.Join(testMigrations, name))
		if err != nil {
			t.Fatal(err)
		}
		upTo3[name] = &fstest.MapFile{Data: data}
	}
	old, err := Open(dir, upTo3)
	if err != nil {
		t.Fatal(err)
	}
	_, vid := oldFixture(t, old, "v", "volumes/v.nii.gz")
	v := VolumeMeta{ID: vid}
	oldLabel(t, old, vid, 1, 1, filled(1, 0), "ann", OriginManual)
	oldLabel(t, old, vid, 1, 2, filled(2, 1), "bob", OriginPrediction)
	old.Close()

	s, err := Open(dir, os.DirFS(testMigrations), WithFullIntegrityCheck())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	history, err := s.LabelHistory(ctx, v.ID, 1)
	if err != nil || len(history) != 2 {
		t.Fatalf("history after migration: %d versions, %v", len(history), err)
	}
	cur, err := s.Label(ctx, v.ID, 1)
	if err != nil || cur.Version != 2 || cur.Author != "bob" || cur.Origin != OriginPrediction || cur.Mask[0] != filled(2, 1)[0] {
		t.Fatalf("current label after migration %+v, %v", cur, err)
	}
	base := cur.Version
	for _, origin := range []string{OriginInterpolated, OriginAdjudicated, OriginConsensus} {
		l, err := s.SaveLabel(ctx, LabelWrite{VolumeID: v.ID, Slice: 1, BaseVersion: base, Mask: filled(1, 1), Author: "c", Origin: origin})
		if err != nil || l.Origin != origin {
			t.Fatalf("save with origin %s: %+v, %v", origin, l, err)
		}
		base = l.Version
	}
	var verr *ValidationError
	if _, err := s.SaveLabel(ctx, LabelWrite{VolumeID: v.ID, Slice: 1, BaseVersion: base, Mask: filled(1, 1), Origin: "guessed"}); !errors.As(err, &verr) {
		t.Errorf("unknown origin: %v, want a validation error", err)
	}
}
