package store

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mriworkbench/workbench/nifti"
)

// volumeFiles lists the files under volumes/.
func volumeFiles(t *testing.T, s *Store) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(s.DataDir(), "volumes"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func countRows(t *testing.T, s *Store, table string) int {
	t.Helper()
	var n int
	if err := s.db.QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestImportVolume(t *testing.T) {
	s := newStore(t)
	p := newProject(t, s, "p")
	v := importVolume(t, s, p.ID, "sub-01", SliceMask{Slice: 4, Mask: filled(2, 1)})
	if v.ID == 0 || v.ProjectID != p.ID || v.Name != "sub-01" || v.OriginalName != "sub-01.nii.gz" || v.CreatedAt.IsZero() {
		t.Errorf("meta %+v", v)
	}
	if v.Geometry != testGeometry || v.Stats.P99 != 9.5 {
		t.Errorf("geometry or stats not kept: %+v", v)
	}
	if !strings.HasPrefix(v.OriginalFile, "volumes/") || !strings.HasSuffix(v.OriginalFile, ".nii.gz") {
		t.Errorf("original file %q, want volumes/....nii.gz", v.OriginalFile)
	}
	path := s.OriginalPath(v)
	data, err := os.ReadFile(path)
	if err != nil || string(data) != "original bytes of sub-01" {
		t.Errorf("original file content %q, %v", data, err)
	}
	sum := sha256.Sum256(data)
	if v.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("sha256 %s", v.SHA256)
	}
	if info, _ := os.Stat(path); info.Mode().Perm()&0o222 != 0 {
		t.Errorf("original file is writable: %v", info.Mode())
	}
	l, err := s.Label(ctx, v.ID, 4)
	if err != nil || l.Version != 1 || l.Origin != OriginManual || l.Author != "importer" || l.Mask[0] != 2 || l.Mask[1] != 1 {
		t.Errorf("initial label %+v, %v", l, err)
	}
	got, err := s.Volume(ctx, v.ID)
	if err != nil || got.Geometry != v.Geometry || got.OriginalFile != v.OriginalFile {
		t.Errorf("Volume = %+v, %v", got, err)
	}
	if _, err := s.Volume(ctx, 999); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown volume: %v", err)
	}
}

func TestImportVolumeFailuresLeaveNothing(t *testing.T) {
	s := newStore(t)
	p := newProject(t, s, "p")
	importVolume(t, s, p.ID, "taken")
	filesBefore, rowsBefore := len(volumeFiles(t, s)), countRows(t, s, "volumes")

	base := func() ImportRequest {
		return ImportRequest{ProjectID: p.ID, Name: "new", OriginalName: "new.nii", Original: strings.NewReader("bytes"),
			Geometry: testGeometry, Author: "a"}
	}
	cases := map[string]struct {
		edit func(*ImportRequest)
		want func(error) bool
	}{
		"label slice out of range": {func(r *ImportRequest) {
			r.Labels = []SliceMask{{Slice: 0, Mask: filled(1, 0)}, {Slice: 5, Mask: filled(1, 0)}}
		}, isValidation},
		"label wrong length":   {func(r *ImportRequest) { r.Labels = []SliceMask{{Slice: 0, Mask: []uint8{1}}} }, isValidation},
		"label class beyond K": {func(r *ImportRequest) { r.Labels = []SliceMask{{Slice: 1, Mask: filled(3, 0)}} }, isValidation},
		"slice labelled twice": {func(r *ImportRequest) {
			r.Labels = []SliceMask{{Slice: 1, Mask: filled(1, 0)}, {Slice: 1, Mask: filled(1, 0)}}
		}, isValidation},
		"duplicate name":   {func(r *ImportRequest) { r.Name = "taken" }, func(err error) bool { return errors.Is(err, ErrConflict) }},
		"unknown project":  {func(r *ImportRequest) { r.ProjectID = 999 }, func(err error) bool { return errors.Is(err, ErrNotFound) }},
		"empty name":       {func(r *ImportRequest) { r.Name = "" }, isValidation},
		"zero shape":       {func(r *ImportRequest) { r.Geometry.Shape[2] = 0 }, isValidation},
		"bad spacing":      {func(r *ImportRequest) { r.Geometry.Spacing[0] = math.NaN() }, isValidation},
		"bad orientation":  {func(r *ImportRequest) { r.Geometry.Orientation.Perm = [3]int{0, 0, 1} }, isValidation},
		"non-finite stats": {func(r *ImportRequest) { r.Stats.Max = math.Inf(1) }, isValidation},
		"no file":          {func(r *ImportRequest) { r.Original = nil }, isValidation},
		"file read error":  {func(r *ImportRequest) { r.Original = io.MultiReader(strings.NewReader("x"), failingReader{}) }, func(err error) bool { return err != nil }},
	}
	for name, c := range cases {
		req := base()
		c.edit(&req)
		_, err := s.ImportVolume(ctx, req)
		if !c.want(err) {
			t.Errorf("%s: err = %v", name, err)
		}
		if n := len(volumeFiles(t, s)); n != filesBefore {
			t.Errorf("%s: %d files under volumes/, want %d", name, n, filesBefore)
		}
		if n := countRows(t, s, "volumes"); n != rowsBefore {
			t.Errorf("%s: %d volume rows, want %d", name, n, rowsBefore)
		}
		if n := countRows(t, s, "labels"); n != 0 {
			t.Errorf("%s: %d label rows left", name, n)
		}
	}
	checkIntegrity(t, s)
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("upload interrupted") }

// Open removes the partial files of dead writers and stale ones, and keeps those a live process is writing.
func TestOpenRemovesPartialFiles(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	s.Close()
	live := startProcess(t)
	files := map[string]bool{ // name -> should survive
		fmt.Sprintf("%s%d-1", tempPrefix, deadPID(t)):       false,
		fmt.Sprintf("%s%d-2", tempPrefix, live.Process.Pid): true,
		fmt.Sprintf("%s%d-3", tempPrefix, os.Getpid()):      true,
		fmt.Sprintf("%s%d-4", tempPrefix, live.Process.Pid): false, // too old to be in flight
		tempPrefix + "123": true, // writer unknown: kept until old
		tempPrefix + "124": false,
	}
	old := time.Now().Add(-2 * partialMaxAge)
	for name := range files {
		path := filepath.Join(dir, "models", name)
		if err := os.WriteFile(path, []byte("half a model"), 0o644); err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(name, "-4") || strings.HasSuffix(name, "124") {
			if err := os.Chtimes(path, old, old); err != nil {
				t.Fatal(err)
			}
		}
	}
	openStore(t, dir)
	for name, survives := range files {
		_, err := os.Stat(filepath.Join(dir, "models", name))
		if survives && err != nil {
			t.Errorf("%s was removed by Open: %v", name, err)
		}
		if !survives && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s survived Open: %v", name, err)
		}
	}
}

func TestVolumesAndStatuses(t *testing.T) {
	s := newStore(t)
	p := newProject(t, s, "p")
	other := newProject(t, s, "other")
	b := importVolume(t, s, p.ID, "b", SliceMask{Slice: 0, Mask: filled(1, 0)}, SliceMask{Slice: 1, Mask: filled(1, 0)})
	a := importVolume(t, s, p.ID, "a")
	importVolume(t, s, other.ID, "b") // same name in another project is fine
	if _, err := s.SetVerified(ctx, b.ID, 1, 1, true, "x"); err != nil {
		t.Fatal(err)
	}
	m := createModel(t, s, p.ID, true)
	// Predictions on slices 1 (labelled: label wins) and 2, 3.
	savePredictions(t, s, m.ID, b.ID, map[int]float64{1: 0.9, 2: 0.5, 3: 0.1})

	vs, err := s.Volumes(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2 || vs[0].ID != a.ID || vs[1].ID != b.ID {
		t.Fatalf("Volumes = %+v, want a, b", vs)
	}
	if want := (SliceCounts{Unlabelled: 5}); vs[0].Counts != want {
		t.Errorf("a counts %+v, want %+v", vs[0].Counts, want)
	}
	if want := (SliceCounts{Unlabelled: 1, Predicted: 2, Labelled: 1, Verified: 1}); vs[1].Counts != want {
		t.Errorf("b counts %+v, want %+v", vs[1].Counts, want)
	}
	st, err := statusesOf(s, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{StatusLabelled, StatusVerified, StatusPredicted, StatusPredicted, StatusUnlabelled}
	if strings.Join(st, ",") != strings.Join(want, ",") {
		t.Errorf("statuses %v, want %v", st, want)
	}
	if _, err := s.Volumes(ctx, 999); !errors.Is(err, ErrNotFound) {
		t.Errorf("Volumes of unknown project: %v", err)
	}
	if _, err := statusesOf(s, 999); !errors.Is(err, ErrNotFound) {
		t.Errorf("statuses of unknown volume: %v", err)
	}
	if _, err := s.SliceStates(ctx, 999); !errors.Is(err, ErrNotFound) {
		t.Errorf("SliceStates of unknown volume: %v", err)
	}
}

// SliceStates gives each slice's label version (tombstones included), flags, origin, author and the active
// model's uncertainty.
func TestSliceStates(t *testing.T) {
	s := newStore(t)
	p := newProject(t, s, "p")
	v := importVolume(t, s, p.ID, "v", SliceMask{Slice: 0, Mask: filled(1, 0)}, SliceMask{Slice: 1, Mask: filled(1, 0)},
		SliceMask{Slice: 2, Mask: filled(1, 0)})
	if _, err := s.SetVerified(ctx, v.ID, 1, 1, true, "vera"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteLabel(ctx, v.ID, 2, 1, "dan"); err != nil {
		t.Fatal(err)
	}
	inactive := createModel(t, s, p.ID, false)
	savePredictions(t, s, inactive.ID, v.ID, map[int]float64{4: 0.7})
	m := createModel(t, s, p.ID, true)
	savePredictions(t, s, m.ID, v.ID, map[int]float64{0: 0.9, 2: 0.5, 3: 0.25})

	got, err := s.SliceStates(ctx, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	u := func(x float64) *float64 { return &x }
	want := []SliceState{
		{Slice: 0, Status: StatusLabelled, LabelVersion: 1, Origin: OriginManual, Author: "importer", Uncertainty: u(0.9)},
		{Slice: 1, Status: StatusVerified, LabelVersion: 2, Verified: true, Origin: OriginManual, Author: "vera"},
		{Slice: 2, Status: StatusPredicted, LabelVersion: 2, Deleted: true, Origin: OriginManual, Author: "dan", Uncertainty: u(0.5)},
		{Slice: 3, Status: StatusPredicted, Uncertainty: u(0.25)},
		{Slice: 4, Status: StatusUnlabelled},
	}
	if len(got) != len(want) {
		t.Fatalf("%d states, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if (g.Uncertainty == nil) != (w.Uncertainty == nil) || (g.Uncertainty != nil && *g.Uncertainty != *w.Uncertainty) {
			t.Errorf("slice %d uncertainty %v, want %v", i, g.Uncertainty, w.Uncertainty)
		}
		g.Uncertainty, w.Uncertainty = nil, nil
		if g != w {
			t.Errorf("slice %d: %+v, want %+v", i, g, w)
		}
	}
	if got[2].Labelled() || !got[1].Labelled() || got[3].Labelled() {
		t.Error("Labelled does not follow live labels")
	}
}

func TestDeleteVolume(t *testing.T) {
	s := newStore(t)
	p := newProject(t, s, "p")
	v := importVolume(t, s, p.ID, "v", SliceMask{Slice: 0, Mask: filled(1, 0)})
	m := createModel(t, s, p.ID, true)
	savePredictions(t, s, m.ID, v.ID, map[int]float64{1: 0.5})
	if err := s.DeleteVolume(ctx, v.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.OriginalPath(v)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("original file still there: %v", err)
	}
	if n := countRows(t, s, "labels") + countRows(t, s, "predictions"); n != 0 {
		t.Errorf("%d label and prediction rows left", n)
	}
	if err := s.DeleteVolume(ctx, v.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	// The name is free again.
	importVolume(t, s, p.ID, "v")
	checkIntegrity(t, s)
}

func TestGeometryOf(t *testing.T) {
	vol := &nifti.Volume{Shape: [3]int{4, 3, 5}, Spacing: [3]float64{1, 2, 3}, Affine: testGeometry.Affine}
	g := GeometryOf(vol, testGeometry.Orientation)
	if g.Shape != vol.Shape || g.Spacing != vol.Spacing || g.Affine != vol.Affine || g.Orientation != testGeometry.Orientation || g.SliceLen() != 12 {
		t.Errorf("GeometryOf = %+v", g)
	}
}

func TestStoredExt(t *testing.T) {
	for in, want := range map[string]string{
		"a.nii.gz": ".nii.gz", "A.NII.GZ": ".nii.gz", "dir/b.nii": ".nii", "c.hdr": ".hdr", "c.img.gz": ".gz",
		"noext": ".bin", "weird.ex$t": ".bin", "../../etc/passwd": ".bin",
	} {
		if got := storedExt(in); got != want {
			t.Errorf("storedExt(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestComputeStats(t *testing.T) {
	data := make([]float32, 0, 102)
	for i := 1; i <= 100; i++ {
		data = append(data, float32(i))
	}
	data = append(data, float32(math.NaN()), float32(math.Inf(1)))
	st := ComputeStats(data)
	// numpy: np.percentile(np.arange(1, 101), [1, 99]) = [1.99, 99.01]; std (ddof 0) = 28.866070...
	if st.Min != 1 || st.Max != 100 || st.Mean != 50.5 || math.Abs(st.Std-28.86607004772212) > 1e-9 ||
		math.Abs(st.P1-1.99) > 1e-9 || math.Abs(st.P99-99.01) > 1e-9 {
		t.Errorf("stats %+v", st)
	}
	if (ComputeStats([]float32{float32(math.NaN())}) != IntensityStats{}) {
		t.Error("stats of no finite values should be zero")
	}
}
