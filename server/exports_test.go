package server

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path/filepath"
	"slices"
	"testing"

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
	meta, err := ImportNIfTI(ctx, e.store, p.ID, "t2.nii.gz", readShared(t, "sct_testing_data/t2/t2.nii.gz"),
		canonicalSlices(canonical, vol.Shape, chosen), "importer")
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	paths, err := ExportVolume(ctx, e.store, meta.ID, out, false)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(out, "t2_seg.nii.gz"), filepath.Join(out, "t2_cord_seg.nii.gz")}
	if !slices.Equal(paths, want) {
		t.Fatalf("export wrote %v, want %v", paths, want)
	}
	marks := inChosenSlices(o, vol.Shape, chosen)
	var labelled int
	for _, path := range paths {
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
	v, err := ImportNIfTI(ctx, e.store, p.ID, "t2s.nii.gz", readShared(t, t2sPath), canonicalSlices(canonical, vol.Shape, manual), "")
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
		paths, err := ExportVolume(ctx, e.store, v.ID, t.TempDir(), manualOnly)
		if err != nil {
			t.Fatal(err)
		}
		if len(paths) != 3 || filepath.Base(paths[1]) != "t2s_wm_seg.nii.gz" || filepath.Base(paths[2]) != "t2s_gm_seg.nii.gz" {
			t.Fatalf("paths %v", paths)
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
		if _, err := nifti.ReadBytes(f.Name, data); err != nil {
			t.Fatalf("zip entry %s: %v", f.Name, err)
		}
	}
	// Volumes come by name: t2 before t2s.
	want := append(ExportFileNames("t2", p.Classes), ExportFileNames("t2s", p.Classes)...)
	if !slices.Equal(names, want) || b.Name != "t2" {
		t.Fatalf("zip holds %v, want %v", names, want)
	}
	e.get("/api/projects/999/export.zip").expect(t, http.StatusNotFound)
}
