package store

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// oldFixture writes a project "p" (classes wm, gm) and a volume named name on testGeometry straight in SQL of
// the first schema, with its original file at rel under the data directory: tests of directories made by older
// workbenches need data in an old schema, which today's code (reading the latest schema) cannot write.
func oldFixture(t *testing.T, s *Store, name, rel string) (projectID, volumeID int64) {
	t.Helper()
	classes, _ := json.Marshal(wmgm)
	res, err := s.db.Exec(`INSERT INTO projects (name, classes, settings, created_at) VALUES ('p', ?, '{}', 1)`, string(classes))
	if err != nil {
		t.Fatal(err)
	}
	projectID, _ = res.LastInsertId()
	if err := os.MkdirAll(filepath.Dir(s.abs(rel)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.abs(rel), []byte("original bytes of "+name), 0o644); err != nil {
		t.Fatal(err)
	}
	g := testGeometry
	spacing, _ := json.Marshal(g.Spacing)
	affine, _ := json.Marshal(g.Affine)
	orientation, _ := json.Marshal(g.Orientation)
	stats, _ := json.Marshal(IntensityStats{Min: 0, Max: 10, Mean: 5, Std: 2, P1: 0.5, P99: 9.5})
	res, err = s.db.Exec(`INSERT INTO volumes (project_id, name, original_file, original_name, sha256, nx, ny, nz,
		spacing, affine, orientation, stats, created_at) VALUES (?, ?, ?, ?, 'sum', ?, ?, ?, ?, ?, ?, ?, 1)`,
		projectID, name, rel, name+".nii.gz", g.Shape[0], g.Shape[1], g.Shape[2], string(spacing), string(affine), string(orientation), string(stats))
	if err != nil {
		t.Fatal(err)
	}
	volumeID, _ = res.LastInsertId()
	return projectID, volumeID
}

// oldLabel writes a label version in SQL of the first schema.
func oldLabel(t *testing.T, s *Store, volumeID int64, slice, version int, mask []uint8, author, origin string) {
	t.Helper()
	if _, err := s.db.Exec(`INSERT INTO labels (volume_id, slice, version, mask, author, origin, verified, deleted, created_at)
		VALUES (?, ?, ?, ?, ?, ?, 0, 0, 1)`, volumeID, slice, version, packMask(mask), author, origin); err != nil {
		t.Fatal(err)
	}
}
