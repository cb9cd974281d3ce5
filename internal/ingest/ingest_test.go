package ingest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/mriworkbench/workbench/internal/testenv"
	"github.com/mriworkbench/workbench/nifti"
	"github.com/mriworkbench/workbench/store"
)

func openStore(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(t.TempDir(), os.DirFS("../../migrations"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func readShared(t testing.TB, rel string) []byte {
	t.Helper()
	data, err := os.ReadFile(testenv.SharedData(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func importBytes(ctx context.Context, st *store.Store, projectID int64, name string, data []byte) (store.VolumeMeta, error) {
	img, err := Decode(name, data, nifti.ReadOptions{})
	if err != nil {
		return store.VolumeMeta{}, err
	}
	v, _, err := Import(ctx, st, projectID, name, data, img, nil, "")
	return v, err
}

// Volume names come from file names, whatever the separator or the extension's case.
func TestVolumeName(t *testing.T) {
	for file, want := range map[string]string{
		"dir/sub-01_T2w.nii.gz": "sub-01_T2w", `C:\scans\a.NII`: "a", "b.nii": "b",
		"pair.hdr": "pair", "pair.IMG.gz": "pair", "notes.txt": "notes.txt",
	} {
		if got := VolumeName(file); got != want {
			t.Errorf("VolumeName(%q) = %q, want %q", file, got, want)
		}
	}
}

// Files that cannot become a volume are refused with a reason before anything is stored; a name differing
// from another volume's only in case is a conflict.
func TestImportRefusals(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	p, err := st.CreateProject(ctx, "names", []store.Class{{Name: "gm", Color: "#00ff00"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	data := readShared(t, "sct_testing_data/t2s/t2s.nii.gz")
	for name, reason := range map[string]string{"..nii": "cannot name a directory", "scan.hdr": ".hdr/.img pair",
		"scan.img.gz": ".hdr/.img pair", "notes.txt": "only .nii and .nii.gz"} {
		_, err := importBytes(ctx, st, p.ID, name, data)
		var invalid *store.ValidationError
		if !errors.As(err, &invalid) || !strings.Contains(err.Error(), reason) {
			t.Errorf("import %s: %v, want a validation error saying %q", name, err, reason)
		}
	}
	if _, err := importBytes(ctx, st, p.ID, "broken.nii.gz", data[:100]); err == nil || !strings.Contains(err.Error(), "broken.nii.gz") {
		t.Errorf("truncated file: %v", err)
	}
	if _, err := Decode("big.nii.gz", data, nifti.ReadOptions{MaxVoxels: 10}); !errors.As(err, new(*TooLargeError)) {
		t.Errorf("over the voxel limit: %v, want a TooLargeError", err)
	}
	if _, err := importBytes(ctx, st, p.ID, "Sub-01.nii.gz", data); err != nil {
		t.Fatal(err)
	}
	if _, err := importBytes(ctx, st, p.ID, "SUB-01.nii", data); !errors.Is(err, store.ErrConflict) {
		t.Errorf("import differing in case: error %v, want a conflict", err)
	}
	if volumes, err := st.Volumes(ctx, p.ID); err != nil || len(volumes) != 1 {
		t.Errorf("%d volumes stored (%v), want only Sub-01", len(volumes), err)
	}
}

// The stored volume reads back as the file's canonical voxels.
func TestImportThenLoadCanonical(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	p, err := st.CreateProject(ctx, "load", []store.Class{{Name: "gm", Color: "#00ff00"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	data := readShared(t, "sct_testing_data/t2/t2.nii.gz") // PSR: reoriented on import
	img, err := Decode("t2.nii.gz", data, nifti.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v, vol, err := Import(ctx, st, p.ID, "t2.nii.gz", data, img, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadCanonical(ctx, st, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if v.Name != "t2" || loaded.Shape != vol.Shape || v.Shape != vol.Shape || len(loaded.Data) != len(vol.Data) {
		t.Fatalf("stored %+v, loaded shape %v, imported %v", v, loaded.Shape, vol.Shape)
	}
	for i := range vol.Data {
		if loaded.Data[i] != vol.Data[i] {
			t.Fatalf("voxel %d: loaded %v, imported %v", i, loaded.Data[i], vol.Data[i])
		}
	}
}

// BenchmarkImport measures an upload's work: parse, canonicalise, statistics, store.
func BenchmarkImport(b *testing.B) {
	data := readShared(b, "gm-challenge-data/sub-9709Ses1/anat/sub-9709Ses1_run-1_T2starw.nii.gz")
	st := openStore(b)
	p, err := st.CreateProject(context.Background(), "bench", []store.Class{{Name: "gm", Color: "#00ff00"}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		if _, err := importBytes(context.Background(), st, p.ID, fmt.Sprintf("v%d.nii.gz", i), data); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
