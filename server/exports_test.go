package server

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mriworkbench/workbench/internal/event"
	"github.com/mriworkbench/workbench/internal/export"
	"github.com/mriworkbench/workbench/nifti"
	"github.com/mriworkbench/workbench/store"
)

// sourceMask reads a shared binary or label mask in its file's grid as uint8 values.
func sourceMask(t *testing.T, rel string) (*nifti.Image, []uint8) {
	t.Helper()
	img, err := nifti.Read(sharedData(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	out := make([]uint8, len(img.Data))
	for i, v := range img.Data {
		if v > 0.5 {
			out[i] = 1
		}
	}
	return img, out
}

// readExport reads an exported file, failing unless it has the source's grid and geometry.
func readExport(t *testing.T, path string, source *nifti.Image) []uint8 {
	t.Helper()
	img, err := nifti.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	sh, eh := source.Header, img.Header
	if img.Shape() != source.Shape() || img.Affine() != source.Affine() || eh.QformCode != sh.QformCode ||
		eh.SformCode != sh.SformCode || [3]float64(eh.Pixdim[1:4]) != [3]float64(sh.Pixdim[1:4]) || eh.Datatype != 2 {
		t.Fatalf("%s: shape %v affine %v codes %d/%d pixdim %v datatype %d; source shape %v affine %v codes %d/%d pixdim %v",
			filepath.Base(path), img.Shape(), img.Affine(), eh.QformCode, eh.SformCode, eh.Pixdim[1:4], eh.Datatype,
			source.Shape(), source.Affine(), sh.QformCode, sh.SformCode, sh.Pixdim[1:4])
	}
	out := make([]uint8, len(img.Data))
	for i, v := range img.Data {
		out[i] = uint8(v)
	}
	return out
}

// canonicalSlices cuts a canonical array into per-slice masks of the chosen slices.
func canonicalSlices(vol []uint8, shape [3]int, chosen []int) []store.SliceMask {
	n := shape[0] * shape[1]
	var out []store.SliceMask
	for _, z := range chosen {
		out = append(out, store.SliceMask{Slice: z, Mask: slices.Clone(vol[z*n : (z+1)*n])})
	}
	return out
}

// inChosenSlices marks, in source file order, the voxels that lie on the chosen canonical slices.
func inChosenSlices(o nifti.Orientation, shape [3]int, chosen []int) []uint8 {
	n := shape[0] * shape[1]
	marks := make([]uint8, n*shape[2])
	for _, z := range chosen {
		for i := range n {
			marks[z*n+i] = 1
		}
	}
	return o.ToSource(marks, shape)
}

// The PSR-ordered t2 volume: labels painted on canonical slices come back in the source grid, equal to the
// expert mask on those slices and zero elsewhere.
func TestExportVolumeRoundTripPSR(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	p := e.createProject("t2", "cord")
	src, err := nifti.Read(sharedData(t, "sct_testing_data/t2/t2.nii.gz"))
	if err != nil {
		t.Fatal(err)
	}
	_, cord := sourceMask(t, "sct_testing_data/t2/t2_seg-manual.nii.gz")
	vol, o := src.Canonical()
	if o.IsIdentity() {
		t.Fatal("t2 is expected to be stored in PSR order, not canonical")
	}
	canonical := o.ToCanonical(cord, src.Shape())
	// Slices through the cord, found from the mask itself.
	n := vol.SliceLen()
	var chosen []int
	for z := range vol.Shape[2] {
		if slices.Contains(canonical[z*n:(z+1)*n], 1) && len(chosen) < 3 && z%7 == 0 {
			chosen = append(chosen, z)
		}
	}
	if len(chosen) < 2 {
		t.Fatalf("the cord mask covers too few slices: %v", chosen)
	}
	meta, err := importFile(ctx, e.store, p.ID, "t2.nii.gz", readShared(t, "sct_testing_data/t2/t2.nii.gz"),
		canonicalSlices(canonical, vol.Shape, chosen), "importer")
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	paths, err := export.Volume(ctx, e.store, meta.ID, out, false)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(out, "t2")
	want := []string{filepath.Join(dir, "t2_seg.nii.gz"), filepath.Join(dir, "t2_cord_seg.nii.gz"), filepath.Join(dir, "t2_areas.csv")}
	if !slices.Equal(paths, want) {
		t.Fatalf("export wrote %v, want %v", paths, want)
	}
	marks := inChosenSlices(o, vol.Shape, chosen)
	var labelled int
	for _, path := range paths[:2] {
		got := readExport(t, path, src)
		for i := range got {
			if w := cord[i] * marks[i]; got[i] != w {
				t.Fatalf("%s voxel %d = %d, want %d", filepath.Base(path), i, got[i], w)
			}
			labelled += int(got[i])
		}
	}
	if labelled == 0 {
		t.Fatal("the export holds no labelled voxel")
	}
}

// Two classes on the t2s volume (white matter = cord minus grey matter), with a model prediction on another
// slice: manual labels win, predictions fill unlabelled slices unless manualOnly.
func TestExportVolumeClassesAndPredictions(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	p := e.createProject("t2s", "wm", "gm")
	src, err := nifti.Read(sharedData(t, t2sPath))
	if err != nil {
		t.Fatal(err)
	}
	_, cord := sourceMask(t, "sct_testing_data/t2s/t2s_seg.nii.gz")
	_, gm := sourceMask(t, "sct_testing_data/t2s/t2s_gmseg_manual.nii.gz")
	classes := make([]uint8, len(cord))
	for i := range classes {
		switch {
		case gm[i] == 1:
			classes[i] = 2
		case cord[i] == 1:
			classes[i] = 1
		}
	}
	vol, o := src.Canonical()
	canonical := o.ToCanonical(classes, src.Shape())
	manual := []int{0, vol.Shape[2] - 1}
	predicted := vol.Shape[2] / 2
	v, err := importFile(ctx, e.store, p.ID, "t2s.nii.gz", readShared(t, t2sPath), canonicalSlices(canonical, vol.Shape, manual), "")
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.store.CreateModel(ctx, store.NewModel{ProjectID: p.ID, Arch: "smallunet", Activate: true,
		Write: func(w io.Writer) error { _, err := w.Write([]byte("weights")); return err }})
	if err != nil {
		t.Fatal(err)
	}
	n := vol.SliceLen()
	if err := e.store.SavePredictions(ctx, m.ID, []store.Prediction{
		{VolumeID: v.ID, Slice: predicted, Mask: canonical[predicted*n : (predicted+1)*n], Uncertainty: 0.3},
		// A prediction on a labelled slice must not replace the label.
		{VolumeID: v.ID, Slice: manual[0], Mask: make([]uint8, n), Uncertainty: 0.1},
	}); err != nil {
		t.Fatal(err)
	}

	for _, manualOnly := range []bool{false, true} {
		chosen := manual
		if !manualOnly {
			chosen = append(slices.Clone(manual), predicted)
		}
		marks := inChosenSlices(o, vol.Shape, chosen)
		paths, err := export.Volume(ctx, e.store, v.ID, t.TempDir(), manualOnly)
		if err != nil {
			t.Fatal(err)
		}
		if len(paths) != 4 || filepath.Base(paths[1]) != "t2s_wm_seg.nii.gz" || filepath.Base(paths[2]) != "t2s_gm_seg.nii.gz" ||
			filepath.Base(paths[3]) != "t2s_areas.csv" || filepath.Base(filepath.Dir(paths[0])) != "t2s" {
			t.Fatalf("paths %v", paths)
		}
		// The area table describes the exported masks: the predicted slice is empty in the manual-only export.
		table := readAreas(t, paths[3])
		wantStatus, wantArea := "predicted", true
		if manualOnly {
			wantStatus, wantArea = "unlabelled", false
		}
		if row := table[predicted]; row[3] != wantStatus || (row[4] != "0.0000" || row[5] != "0.0000") == !wantArea {
			t.Fatalf("manualOnly=%v: areas row of the predicted slice %v, want status %s with areas %v", manualOnly, row, wantStatus, wantArea)
		}
		if row := table[manual[0]]; row[3] != "labelled" || row[4] == "0.0000" {
			t.Fatalf("manualOnly=%v: areas row of a labelled slice %v", manualOnly, row)
		}
		multi := readExport(t, paths[0], src)
		wm := readExport(t, paths[1], src)
		grey := readExport(t, paths[2], src)
		var counts [3]int
		for i := range multi {
			want := classes[i] * marks[i]
			if multi[i] != want || wm[i] != b2u(want == 1) || grey[i] != b2u(want == 2) {
				t.Fatalf("manualOnly=%v voxel %d: seg %d wm %d gm %d, want class %d", manualOnly, i, multi[i], wm[i], grey[i], want)
			}
			counts[want]++
		}
		if counts[1] == 0 || counts[2] == 0 {
			t.Fatalf("manualOnly=%v: class voxel counts %v; the test needs both classes present", manualOnly, counts)
		}
	}
}

func b2u(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

func TestExportDownloads(t *testing.T) {
	e := newTestEnv(t)
	p := e.createProject("downloads", "wm", "gm")
	a := e.uploadVolume(p.ID, t2sPath)
	b := e.uploadVolume(p.ID, "sct_testing_data/t2/t2.nii.gz")
	src, err := nifti.Read(sharedData(t, t2sPath))
	if err != nil {
		t.Fatal(err)
	}
	mask := make([]byte, a.Shape[0]*a.Shape[1])
	mask[len(mask)/2] = 2
	e.putMask(a.ID, 1, 0, mask, nil).expect(t, http.StatusOK)

	r := e.get(fmt.Sprintf("/api/volumes/%d/export?manualOnly=1", a.ID)).expect(t, http.StatusOK)
	if r.Header.Get("Content-Type") != "application/gzip" || r.Uncompressed {
		t.Fatalf("export content type %q, re-compressed %v", r.Header.Get("Content-Type"), r.Uncompressed)
	}
	if _, params, _ := mime.ParseMediaType(r.Header.Get("Content-Disposition")); params["filename"] != "t2s_seg.nii.gz" {
		t.Fatalf("content disposition %q", r.Header.Get("Content-Disposition"))
	}
	img, err := nifti.ReadBytes("t2s_seg.nii.gz", r.body)
	if err != nil {
		t.Fatal(err)
	}
	var total float32
	for _, v := range img.Data {
		total += v
	}
	if img.Shape() != src.Shape() || img.Affine() != src.Affine() || total != 2 {
		t.Fatalf("downloaded export shape %v affine %v sum %v", img.Shape(), img.Affine(), total)
	}
	e.get(fmt.Sprintf("/api/volumes/%d/export?manualOnly=maybe", a.ID)).expect(t, http.StatusBadRequest)
	e.get("/api/volumes/999/export").expect(t, http.StatusNotFound)

	z := e.get(fmt.Sprintf("/api/projects/%d/export.zip", p.ID)).expect(t, http.StatusOK)
	zr, err := zip.NewReader(bytes.NewReader(z.body), int64(len(z.body)))
	if err != nil {
		t.Fatal(err)
	}
	names := zipNames(t, zr)
	// Volumes come by name: t2 before t2s, each in its own directory.
	want := []string{"t2/t2_seg.nii.gz", "t2/t2_wm_seg.nii.gz", "t2/t2_gm_seg.nii.gz", "t2/t2_areas.csv",
		"t2s/t2s_seg.nii.gz", "t2s/t2s_wm_seg.nii.gz", "t2s/t2s_gm_seg.nii.gz", "t2s/t2s_areas.csv"}
	if !slices.Equal(names, want) || b.Name != "t2" {
		t.Fatalf("zip holds %v, want %v", names, want)
	}
	e.get("/api/projects/999/export.zip").expect(t, http.StatusNotFound)
}

// zipNames lists a zip's entries, failing unless each .nii.gz entry is a readable image and each .csv an
// area table.
func zipNames(t *testing.T, zr *zip.Reader) []string {
	t.Helper()
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		switch {
		case strings.HasSuffix(f.Name, ".nii.gz"):
			if f.Method != zip.Store {
				t.Errorf("zip entry %s is compressed twice", f.Name)
			}
			if _, err := nifti.ReadBytes(f.Name, data); err != nil {
				t.Fatalf("zip entry %s: %v", f.Name, err)
			}
		case strings.HasSuffix(f.Name, ".csv"):
			if !bytes.HasPrefix(data, []byte("volume,slice,position_mm,status,")) {
				t.Fatalf("zip entry %s is not an area table: %.100s", f.Name, data)
			}
		}
	}
	return names
}

// readAreas reads an exported area table's rows, header left out.
func readAreas(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) < 2 {
		t.Fatalf("%s: %d rows, %v", path, len(rows), err)
	}
	return rows[1:]
}

// tinyImage is a small synthetic NIfTI file (.nii.gz bytes) of the given shape, values rising with the index.
func tinyImage(t testing.TB, shape [3]int) []byte {
	t.Helper()
	like := &nifti.Header{Version: 1, Dim: [8]int64{3, int64(shape[0]), int64(shape[1]), int64(shape[2]), 1, 1, 1, 1},
		Pixdim: [8]float64{1, 0.5, 0.5, 2, 1, 1, 1, 1}, QformCode: 1, SformCode: 1,
		SrowX: [4]float64{0.5, 0, 0, 0}, SrowY: [4]float64{0, 0.5, 0, 0}, SrowZ: [4]float64{0, 0, 2, 0}}
	data := make([]uint8, shape[0]*shape[1]*shape[2])
	for i := range data {
		data[i] = uint8(i % 97)
	}
	var b bytes.Buffer
	if err := nifti.EncodeMask(&b, like, data); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Volume "a_gm" and class "gm" of volume "a" used to share a_gm_seg.nii.gz; every volume now exports into a
// directory of its own, on disk and in the zip.
func TestExportNamesDoNotCollide(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	p := e.createProject("collide", "gm")
	img := tinyImage(t, [3]int{4, 3, 2})
	a := e.upload(p.ID, "a.nii.gz", img).expect(t, http.StatusCreated)
	var va event.VolumeSummary
	a.json(t, &va)
	e.upload(p.ID, "a_gm.nii.gz", img).expect(t, http.StatusCreated)
	mask := make([]byte, 4*3)
	mask[5] = 1
	e.putMask(va.ID, 0, 0, mask, nil).expect(t, http.StatusOK)

	out := t.TempDir()
	volumes, err := e.store.Volumes(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	written := map[string]bool{}
	for _, v := range volumes {
		paths, err := export.Volume(ctx, e.store, v.ID, out, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range paths {
			rel, _ := filepath.Rel(out, path)
			if written[rel] {
				t.Fatalf("%s written twice", rel)
			}
			written[rel] = true
		}
	}
	// Volume a's class map holds its label; volume a_gm's, nothing.
	for rel, want := range map[string]float32{"a/a_gm_seg.nii.gz": 1, "a_gm/a_gm_seg.nii.gz": 0} {
		got, err := nifti.Read(filepath.Join(out, rel))
		if err != nil {
			t.Fatal(err)
		}
		var sum float32
		for _, v := range got.Data {
			sum += v
		}
		if sum != want {
			t.Errorf("%s holds %v labelled voxels, want %v", rel, sum, want)
		}
	}

	z := e.get(fmt.Sprintf("/api/projects/%d/export.zip", p.ID)).expect(t, http.StatusOK)
	zr, err := zip.NewReader(bytes.NewReader(z.body), int64(len(z.body)))
	if err != nil {
		t.Fatal(err)
	}
	names := zipNames(t, zr)
	want := []string{"a/a_seg.nii.gz", "a/a_gm_seg.nii.gz", "a/a_areas.csv", "a_gm/a_gm_seg.nii.gz", "a_gm/a_gm_gm_seg.nii.gz", "a_gm/a_gm_areas.csv"}
	if !slices.Equal(names, want) {
		t.Fatalf("zip holds %v, want %v", names, want)
	}
}

// A project whose files cannot all be read gets an error status, not a 200 with a cut archive; a volume that
// fails once the archive is under way is named in ERRORS.txt inside it.
func TestProjectZipFailures(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	p := e.createProject("broken", "gm")
	img := tinyImage(t, [3]int{4, 3, 2})
	e.upload(p.ID, "a.nii.gz", img).expect(t, http.StatusCreated)
	e.upload(p.ID, "b.nii.gz", img).expect(t, http.StatusCreated)
	volumes, err := e.store.Volumes(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	bPath := e.store.OriginalPath(volumes[1].VolumeMeta)
	original, err := os.ReadFile(bPath)
	if err != nil {
		t.Fatal(err)
	}

	// Checked before the response starts.
	if err := os.WriteFile(bPath, original[:20], 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.get(fmt.Sprintf("/api/projects/%d/export.zip", p.ID))
	if r.StatusCode != http.StatusInternalServerError || r.Header.Get("Content-Type") == "application/zip" {
		t.Fatalf("export of a project with a damaged file: status %d, content type %q", r.StatusCode, r.Header.Get("Content-Type"))
	}
	r.errorMessage(t)

	// Failing after the check: the archive says which volume is missing, and keeps the others.
	if err := os.WriteFile(bPath, original, 0o644); err != nil {
		t.Fatal(err)
	}
	checked, err := export.PrepareZip(ctx, e.store, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(bPath); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	err = checked.Write(ctx, &buf, false)
	if err == nil || !strings.Contains(err.Error(), `b:`) {
		t.Fatalf("zip with a volume failing mid-way: error %v, want one naming b", err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	names := zipNames(t, zr)
	if want := []string{"a/a_seg.nii.gz", "a/a_gm_seg.nii.gz", "a/a_areas.csv", "ERRORS.txt"}; !slices.Equal(names, want) {
		t.Fatalf("zip holds %v, want %v", names, want)
	}
	rc, err := zr.File[3].Open()
	if err != nil {
		t.Fatal(err)
	}
	report, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Contains(report, []byte("\nb: ")) {
		t.Fatalf("ERRORS.txt does not name volume b:\n%s", report)
	}
}

// Names that cannot name an export directory, and halves of .hdr/.img pairs, are refused at upload with a
// reason (internal/ingest tests how names come from file names).
func TestUploadRefusesUnusableNames(t *testing.T) {
	e := newTestEnv(t)
	p := e.createProject("names", "wm")
	img := tinyImage(t, [3]int{2, 2, 2})
	for file, reason := range map[string]string{"..nii": "cannot name a directory", "...nii.gz": "cannot name a directory",
		"scan.hdr": ".hdr/.img pair", "scan.img.gz": ".hdr/.img pair"} {
		if msg := e.upload(p.ID, file, img).expect(t, http.StatusBadRequest).errorMessage(t); !strings.Contains(msg, reason) {
			t.Errorf("upload %s: reason %q, want one saying %q", file, msg, reason)
		}
	}
	// Names differing only in case would share an export directory on macOS and Windows.
	e.upload(p.ID, "Sub-01.nii.gz", img).expect(t, http.StatusCreated)
	if msg := e.upload(p.ID, "sub-01.nii.gz", img).expect(t, http.StatusConflict).errorMessage(t); !strings.Contains(msg, "only in case") {
		t.Errorf("upload differing in case: reason %q", msg)
	}
	if _, err := importFile(context.Background(), e.store, p.ID, "SUB-01.nii", img, nil, ""); !errors.Is(err, store.ErrConflict) {
		t.Errorf("import differing in case: error %v, want a conflict", err)
	}
}
