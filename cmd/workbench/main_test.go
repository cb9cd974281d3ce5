package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mriworkbench/workbench/internal/testenv"
	"github.com/mriworkbench/workbench/nifti"
)

// sharedData returns a path under <repo root>/../shared/data: a missing one skips the test, or fails it when
// WORKBENCH_REQUIRE_DATA=1 (as in CI).
var sharedData = testenv.SharedData

type result struct {
	code           int
	stdout, stderr string
}

func invoke(t *testing.T, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	r := invoke(t, args...)
	if r.code != 0 {
		t.Fatalf("workbench %s: exit %d: %s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

func checkExport(t *testing.T, image, outDir, name, masks, slices string) {
	t.Helper()
	out := testenv.RunPython(t, "testdata/check_export.py", image, outDir, name, masks, slices)
	t.Logf("nibabel: %s", strings.TrimSpace(out))
}

func TestImportExportGMChallenge(t *testing.T) {
	testenv.RequireNibabel(t)
	base := sharedData(t, "gm-challenge-data")
	image := filepath.Join(base, "sub-9709Ses1/anat/sub-9709Ses1_run-1_T2starw.nii.gz")
	cord := filepath.Join(base, "derivatives/labels/sub-9709Ses1/anat/sub-9709Ses1_run-1_T2starw_seg-manual.nii.gz")
	gm := filepath.Join(base, "derivatives/labels/sub-9709Ses1/anat/sub-9709Ses1_run-1_T2starw_gmseg-manual.nii.gz")
	data, out := t.TempDir(), t.TempDir()

	mustRun(t, "import", "--data", data, "--project", "demo", "--classes", "wm,gm", image,
		"--mask", "wm="+cord, "--mask", "gm="+gm, "--slices", "2,9,15")
	mustRun(t, "export", "--data", data, "--project", "demo", "--out", out)
	checkExport(t, image, out, "sub-9709Ses1_run-1_T2starw", "wm="+cord+",gm="+gm, "2,9,15")
}

func TestImportExportPSR(t *testing.T) {
	testenv.RequireNibabel(t)
	image := sharedData(t, "sct_testing_data", "t2", "t2.nii.gz")
	cord := sharedData(t, "sct_testing_data", "t2", "t2_seg-manual.nii.gz")
	data, out := t.TempDir(), t.TempDir()

	stdout := mustRun(t, "import", "--data", data, "--project", "cord", "--classes", "cord", image,
		"--mask", "cord="+cord, "--slices", "10,20,30")
	// PSR source: the canonical grid's axial axis is source axis 1 (55 slices).
	if !strings.Contains(stdout, "canonical shape 52x60x55") {
		t.Fatalf("unexpected canonical shape in %q", stdout)
	}
	mustRun(t, "export", "--data", data, "--project", "cord", "--out", out)
	checkExport(t, image, out, "t2", "cord="+cord, "10,20,30")
}

func TestImportExportBigEndian(t *testing.T) {
	testenv.RequireNibabel(t)
	image := testenv.NibabelFile(t, "anatomical.nii")
	img, err := nifti.Read(image)
	if err != nil {
		t.Fatal(err)
	}
	// A mask in the image's own grid: the brighter half of the voxels.
	mask := make([]uint8, len(img.Data))
	var sum float64
	for _, v := range img.Data {
		sum += float64(v)
	}
	mean := float32(sum / float64(len(img.Data)))
	for i, v := range img.Data {
		if v > mean {
			mask[i] = 1
		}
	}
	dir, data, out := t.TempDir(), t.TempDir(), t.TempDir()
	maskPath := filepath.Join(dir, "bright.nii.gz")
	writeFile(t, maskPath, encoded(t, func(w io.Writer) error { return nifti.EncodeMask(w, &img.Header, mask) }))
	mustRun(t, "import", "--data", data, "--project", "be", "--classes", "bright", image, "--mask", "bright="+maskPath, "--slices", "0,3")
	mustRun(t, "export", "--data", data, "--project", "be", "--out", out)
	checkExport(t, image, out, "anatomical", "bright="+maskPath, "0,3")
}

// TestImportRefusals: every malformed input ends with a non-zero exit and one line, and leaves nothing stored.
func TestImportRefusals(t *testing.T) {
	image := sharedData(t, "sct_testing_data", "t2s", "t2s.nii.gz")
	gm := sharedData(t, "sct_testing_data", "t2s", "t2s_gmseg_manual.nii.gz")
	otherShape := sharedData(t, "sct_testing_data", "mt", "mt1_seg.nii.gz")
	dir := t.TempDir()

	notNifti := filepath.Join(dir, "notes.nii")
	writeFile(t, notNifti, []byte("these are my notes, not an image"))
	raw, err := os.ReadFile(image)
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.nii.gz")
	writeFile(t, truncated, raw[:len(raw)/2])
	absurd := filepath.Join(dir, "absurd.nii")
	writeFile(t, absurd, absurdHeader(t, image))
	// A readable image whose volume name the store refuses: the failure comes after the project was created.
	spaced := filepath.Join(dir, " spaced.nii.gz")
	writeFile(t, spaced, raw)
	// The image's own voxels under a shifted affine: the right shape, the wrong place.
	img, err := nifti.Read(gm)
	if err != nil {
		t.Fatal(err)
	}
	shifted := img.Header
	shifted.SrowX[3] += 5
	shifted.QoffsetX += 5
	moved := filepath.Join(dir, "moved.nii.gz")
	mask := make([]uint8, len(img.Data))
	for i, v := range img.Data {
		mask[i] = uint8(v)
	}
	writeFile(t, moved, encoded(t, func(w io.Writer) error { return nifti.EncodeMask(w, &shifted, mask) }))

	cases := []struct {
		name string
		args []string
		want string
	}{
		{"not nifti", []string{notNifti}, "not a NIfTI"},
		{"truncated gzip", []string{truncated}, "truncated"},
		{"absurd dims", []string{absurd}, "dim"},
		{"missing file", []string{filepath.Join(dir, "absent.nii.gz")}, "no such file"},
		{"mask of wrong shape", []string{image, "--mask", "gm=" + otherShape}, "shape"},
		{"mask of wrong affine", []string{image, "--mask", "gm=" + moved}, "affine"},
		{"unknown class", []string{image, "--mask", "csf=" + gm}, "unknown class"},
		{"slice out of range", []string{image, "--mask", "gm=" + gm, "--slices", "0,9"}, "outside"},
		{"bad mask flag", []string{image, "--mask", "gm"}, "CLASS=FILE"},
		{"half of a pair", []string{filepath.Join(dir, "pair.hdr")}, ".nii"},
		{"empty class name", []string{image, "--classes", "wm,,gm"}, "empty class name"},
		{"name the store refuses", []string{spaced}, "name"},
	}
	data := t.TempDir()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"import", "--data", data, "--project", "p", "--classes", "wm,gm"}, c.args...)
			r := invoke(t, args...)
			if r.code == 0 {
				t.Fatalf("exit 0, want failure; stdout %q", r.stdout)
			}
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			if len(lines) != 1 || !strings.Contains(strings.ToLower(lines[0]), strings.ToLower(c.want)) {
				t.Fatalf("stderr %q: want one line mentioning %q", r.stderr, c.want)
			}
		})
	}
	assertNothingStored(t, data)

	// The same store then takes a good import, and class lists compare by trimmed names.
	mustRun(t, "import", "--data", data, "--project", "p", "--classes", "wm, gm", image, "--mask", "gm="+gm, "--slices", "1")
	out := mustRun(t, "import", "--data", data, "--project", "p", "--classes", " wm,gm ", gm)
	if strings.Contains(out, "created project") {
		t.Fatalf("second import created the project again: %q", out)
	}
}

// assertNothingStored checks that refused imports left no project, no volume row and no file.
func assertNothingStored(t *testing.T, data string) {
	t.Helper()
	st, err := openStore(data)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	projects, err := st.Projects(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(projects) != 0 {
		t.Fatalf("refused imports left projects: %+v", projects)
	}
	entries, err := os.ReadDir(filepath.Join(data, "volumes"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Fatalf("files left in volumes/: %v", entries)
	}
}

// absurdHeader returns the image's header with dimensions whose product far exceeds the data present.
func absurdHeader(t *testing.T, gzPath string) []byte {
	t.Helper()
	f, err := os.Open(gzPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(zr); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	for i := 42; i < 48; i += 2 { // dim[1..3], little-endian int16
		b[i], b[i+1] = 0xff, 0x7f
	}
	return b
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// encoded is what write writes, e.g. a mask file's bytes from nifti.EncodeMask.
func encoded(t *testing.T, write func(io.Writer) error) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := write(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestExportRefusals(t *testing.T) {
	data := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"export", "--data", data, "--out", t.TempDir()}, "--project"},
		{[]string{"export", "--data", data, "--project", "nope", "--out", t.TempDir()}, "nope"},
		{[]string{"bogus"}, "unknown command"},
	} {
		r := invoke(t, c.args...)
		if r.code == 0 || !strings.Contains(r.stderr, c.want) {
			t.Fatalf("%v: exit %d stderr %q, want failure mentioning %q", c.args, r.code, r.stderr, c.want)
		}
	}
}
