package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mriworkbench/workbench/internal/testenv"
	"github.com/mriworkbench/workbench/nifti"
)

// hippocampusCases are the shared MSD Task04 cases: image and label map share a file name.
var hippocampusCases = []string{"hippocampus_001", "hippocampus_003", "hippocampus_004", "hippocampus_006",
	"hippocampus_033", "hippocampus_044"}

const hippocampusClasses = "Anterior,Posterior"

// labelMapFixture is a file of internal/ingest/testdata/labelmaps (written with nibabel).
func labelMapFixture(name string) string {
	return filepath.Join("..", "..", "internal", "ingest", "testdata", "labelmaps", name)
}

// checkExportedMaps compares each exported NAME_seg.nii.gz to its source label map, voxel for voxel, with our
// reader and then with nibabel.
func checkExportedMaps(t *testing.T, out string, sources map[string]string) {
	t.Helper()
	args := []string{"testdata/check_labelmaps.py", out, hippocampusClasses}
	for name, source := range sources {
		want, err := nifti.Read(source)
		if err != nil {
			t.Fatal(err)
		}
		got, err := nifti.Read(filepath.Join(out, name, name+"_seg.nii.gz"))
		if err != nil {
			t.Fatal(err)
		}
		if got.Shape() != want.Shape() || got.Header.Datatype != nifti.DTUint8 {
			t.Fatalf("%s: exported shape %v datatype %d, source shape %v", name, got.Shape(), got.Header.Datatype, want.Shape())
		}
		labelled := 0
		for i, v := range want.Data {
			if got.Data[i] != v {
				t.Fatalf("%s: exported voxel %d is %v, the source map's %v", name, i, got.Data[i], v)
			}
			if v > 0 {
				labelled++
			}
		}
		if labelled == 0 {
			t.Fatalf("%s: source map has no labelled voxel; the comparison proves nothing", name)
		}
		args = append(args, name+"="+source)
	}
	testenv.RequireNibabel(t)
	t.Logf("nibabel:\n%s", strings.TrimSpace(testenv.RunPython(t, args...)))
}

// The six shared hippocampus cases imported with --labels export as their source label maps.
func TestImportLabelsExportsTheSourceMaps(t *testing.T) {
	base := sharedData(t, "msd-hippocampus")
	data, out := t.TempDir(), t.TempDir()
	sources := map[string]string{}
	for _, name := range hippocampusCases {
		image := filepath.Join(base, "imagesTr", name+".nii.gz")
		labels := filepath.Join(base, "labelsTr", name+".nii.gz")
		stdout := mustRun(t, "import", "--data", data, "--project", "hippo", "--classes", hippocampusClasses, image, "--labels", labels)
		if !strings.Contains(stdout, "labelled slices") || strings.Contains(stdout, "(0 labelled slices)") {
			t.Fatalf("import %s: %q", name, stdout)
		}
		sources[name] = labels
	}
	mustRun(t, "export", "--data", data, "--project", "hippo", "--out", out, "--manual-only")
	checkExportedMaps(t, out, sources)

	// --slices keeps only those slices' labels.
	data2 := t.TempDir()
	image := filepath.Join(base, "imagesTr", "hippocampus_001.nii.gz")
	stdout := mustRun(t, "import", "--data", data2, "--project", "h", "--classes", hippocampusClasses, image,
		"--labels", filepath.Join(base, "labelsTr", "hippocampus_001.nii.gz"), "--slices", "10,20")
	if !strings.Contains(stdout, "(2 labelled slices)") {
		t.Fatalf("import with --slices: %q", stdout)
	}
}

// Label maps that are not class indices on the image's grid are refused with one line; nothing is stored.
func TestImportLabelsRefusals(t *testing.T) {
	image := labelMapFixture("image.nii.gz")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"fractional", []string{"--labels", labelMapFixture("fractional.nii.gz")}, "value 1.5 at voxel (1,2,3) is not an integer"},
		{"negative", []string{"--labels", labelMapFixture("negative.nii.gz")}, "value -1 at voxel (2,0,1) is negative"},
		{"nan", []string{"--labels", labelMapFixture("nan.nii.gz")}, "value NaN at voxel (0,1,2)"},
		{"beyond the classes", []string{"--labels", labelMapFixture("beyond.nii.gz")}, `label value 3 at voxel (4,3,2), but project "p" has 2 classes`},
		{"other shape", []string{"--labels", labelMapFixture("othershape.nii.gz")}, "shape [6 5 5] differs"},
		{"other affine", []string{"--labels", labelMapFixture("shifted.nii.gz")}, "affine differs"},
		{"4-D", []string{"--labels", labelMapFixture("fourd.nii.gz")}, "4-D image with 2 volumes"},
		{"missing", []string{"--labels", labelMapFixture("absent.nii.gz")}, "no such file"},
		{"with --mask", []string{"--labels", labelMapFixture("labels.nii.gz"), "--mask", "a=" + labelMapFixture("labels.nii.gz")}, "exclusive"},
		{"slice out of range", []string{"--labels", labelMapFixture("labels.nii.gz"), "--slices", "4"}, "outside"},
	}
	data := t.TempDir()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := invoke(t, append([]string{"import", "--data", data, "--project", "p", "--classes", "a,b", image}, c.args...)...)
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			if r.code == 0 || len(lines) != 1 || !strings.Contains(lines[0], c.want) {
				t.Fatalf("exit %d, stderr %q: want a failure in one line containing %q", r.code, r.stderr, c.want)
			}
		})
	}
	assertNothingStored(t, data)
	mustRun(t, "import", "--data", data, "--project", "p", "--classes", "a,b", image, "--labels", labelMapFixture("labels_float.nii.gz"))
}

// datasetLayout is how a dataset folder names its files.
type datasetLayout struct {
	name        string
	datasetJSON string
	imageName   func(caseName string) string // the file name in imagesTr/ and imagesTs/
}

var msdLayout = datasetLayout{"MSD",
	`{"name": "Hippocampus", "modality": {"0": "MRI"}, "labels": {"0": "background", "1": "Anterior", "2": "Posterior"}}`,
	func(c string) string { return c + ".nii.gz" }}

var nnunetLayout = datasetLayout{"nnU-Net v2",
	`{"channel_names": {"0": "MRI"}, "labels": {"background": 0, "Anterior": 1, "Posterior": 2}, "numTraining": 5, "file_ending": ".nii.gz"}`,
	func(c string) string { return c + "_0000.nii.gz" }}

// buildDataset lays the shared hippocampus cases out as a dataset: all but the last in imagesTr/ with their
// label maps in labelsTr/ (symlinks), the last in imagesTs/ without its labels. It returns the folder and the
// label map of each training case, by volume name.
func buildDataset(t *testing.T, layout datasetLayout) (string, map[string]string) {
	t.Helper()
	base := sharedData(t, "msd-hippocampus")
	dir := t.TempDir()
	for _, sub := range []string{"imagesTr", "labelsTr", "imagesTs"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	link := func(from, to string) {
		if err := os.Symlink(from, to); err != nil {
			t.Fatal(err)
		}
	}
	sources := map[string]string{}
	last := len(hippocampusCases) - 1
	for _, c := range hippocampusCases[:last] {
		img := layout.imageName(c)
		link(filepath.Join(base, "imagesTr", c+".nii.gz"), filepath.Join(dir, "imagesTr", img))
		link(filepath.Join(base, "labelsTr", c+".nii.gz"), filepath.Join(dir, "labelsTr", c+".nii.gz"))
		sources[strings.TrimSuffix(img, ".nii.gz")] = filepath.Join(base, "labelsTr", c+".nii.gz")
	}
	test := hippocampusCases[last]
	link(filepath.Join(base, "imagesTr", test+".nii.gz"), filepath.Join(dir, "imagesTs", layout.imageName(test)))
	// What macOS leaves in archives (MSD's tar holds such files) is not a case.
	writeFile(t, filepath.Join(dir, "imagesTr", "._"+layout.imageName(hippocampusCases[0])), []byte("resource fork"))
	writeFile(t, filepath.Join(dir, "dataset.json"), []byte(layout.datasetJSON))
	return dir, sources
}

// import-dataset on an MSD and an nnU-Net v2 folder built from the shared cases creates the project with the
// dataset's classes, labels every slice of the training cases, leaves the test case unlabelled, and exports
// the source label maps again.
func TestImportDatasetExportsTheSourceMaps(t *testing.T) {
	for _, layout := range []datasetLayout{msdLayout, nnunetLayout} {
		t.Run(layout.name, func(t *testing.T) {
			dir, sources := buildDataset(t, layout)
			data, out := t.TempDir(), t.TempDir()
			stdout := mustRun(t, "import-dataset", dir, "--data", data, "--project", "hippo")
			for _, want := range []string{"checked 6 cases", "5 with label maps, 1 without", `created project "hippo" with classes Anterior,Posterior`,
				"[1/6] ", "[6/6] ", "imported 6 volumes"} {
				if !strings.Contains(stdout, want) {
					t.Fatalf("stdout lacks %q:\n%s", want, stdout)
				}
			}
			if n := strings.Count(stdout, "] "); n != 6 {
				t.Fatalf("%d progress lines, want one per case:\n%s", n, stdout)
			}
			test := strings.TrimSuffix(layout.imageName(hippocampusCases[len(hippocampusCases)-1]), ".nii.gz")
			if !strings.Contains(stdout, test+": volume 6, 38x48x33, 0 labelled slices") {
				t.Fatalf("the imagesTs/ case should be unlabelled:\n%s", stdout)
			}
			mustRun(t, "export", "--data", data, "--project", "hippo", "--out", out, "--manual-only")
			checkExportedMaps(t, out, sources)

			// Again into the same project: refused while names exist, then skipped when asked.
			r := invoke(t, "import-dataset", dir, "--data", data, "--project", "hippo")
			if r.code == 0 || !strings.Contains(r.stderr, "already has volume") || !strings.Contains(r.stderr, "--skip-existing") {
				t.Fatalf("second import: exit %d, %q", r.code, r.stderr)
			}
			stdout = mustRun(t, "import-dataset", dir, "--data", data, "--project", "hippo", "--skip-existing")
			if !strings.Contains(stdout, "imported 0 volumes") || strings.Count(stdout, "skipped ") != 6 {
				t.Fatalf("--skip-existing: %s", stdout)
			}
			if n := volumeCount(t, data); n != 6 {
				t.Fatalf("%d volumes after the repeated imports, want 6", n)
			}
		})
	}
}

func volumeCount(t *testing.T, data string) int {
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
	n := 0
	for _, p := range projects {
		volumes, err := st.Volumes(context.Background(), p.ID)
		if err != nil {
			t.Fatal(err)
		}
		n += len(volumes)
	}
	return n
}

// A dataset with anything wrong, a bad label map in its last case included, is refused in one line before
// anything is stored.
func TestImportDatasetRefusals(t *testing.T) {
	spoil := func(t *testing.T, dir string, spoilt func(dir string)) string { spoilt(dir); return dir }
	replace := func(path string, with string) func(string) {
		return func(dir string) {
			target := filepath.Join(dir, path)
			os.Remove(target)
			if err := os.Symlink(with, target); err != nil {
				t.Fatal(err)
			}
		}
	}
	otherGrid := sharedData(t, "msd-hippocampus", "labelsTr", "hippocampus_001.nii.gz")
	cases := []struct {
		name   string
		layout datasetLayout
		spoilt func(dir string)
		want   string
	}{
		{"label map of another grid", msdLayout, replace("labelsTr/hippocampus_033.nii.gz", otherGrid), "label map hippocampus_033.nii.gz: shape"},
		// The first voxel of value 2 in hippocampus_001's file order is (13,30,9) by numpy.
		{"label values beyond the classes", msdLayout, func(dir string) {
			writeFile(t, filepath.Join(dir, "dataset.json"), []byte(`{"labels": {"0": "background", "1": "Hippocampus"}}`))
		}, `label value 2 at voxel (13,30,9), but project "hippo" has 1 class (1=Hippocampus)`},
		{"missing label map", nnunetLayout, func(dir string) { os.Remove(filepath.Join(dir, "labelsTr", "hippocampus_004.nii.gz")) },
			"imagesTr/hippocampus_004_0000.nii.gz has no label map in labelsTr/ (looked for hippocampus_004_0000.nii.gz or hippocampus_004.nii.gz)"},
		{"label map without image", msdLayout, func(dir string) { os.Remove(filepath.Join(dir, "imagesTr", "hippocampus_004.nii.gz")) },
			"labelsTr/hippocampus_004.nii.gz has no image in imagesTr/"},
		{"two channels", nnunetLayout, replace("imagesTr/hippocampus_001_0001.nii.gz", sharedData(t, "msd-hippocampus", "imagesTr", "hippocampus_001.nii.gz")),
			`case "hippocampus_001" has 2 channels`},
		{"image the store would refuse", msdLayout, func(dir string) {
			// Readable, but longer than the store's 4096 voxels along an axis; unlabelled, in imagesTs/.
			long := nifti.Header{Dim: [8]int64{3, 5000, 1, 1, 1, 1, 1, 1}, Pixdim: [8]float64{1, 1, 1, 1}}
			writeFile(t, filepath.Join(dir, "imagesTs", "long.nii.gz"),
				encoded(t, func(w io.Writer) error { return nifti.EncodeMask(w, &long, make([]uint8, 5000)) }))
		}, "long.nii.gz: volume shape [5000 1 1] is larger than 4096"},
		{"no dataset.json", msdLayout, func(dir string) { os.Remove(filepath.Join(dir, "dataset.json")) }, "dataset.json: no such file"},
		{"region labels", nnunetLayout, func(dir string) {
			writeFile(t, filepath.Join(dir, "dataset.json"), []byte(`{"labels": {"background": 0, "whole": [1, 2], "Posterior": 2}}`))
		}, "not regions"},
		{"gap in the values", msdLayout, func(dir string) {
			writeFile(t, filepath.Join(dir, "dataset.json"), []byte(`{"labels": {"0": "background", "2": "Posterior"}}`))
		}, "1 is missing"},
		{"not JSON", msdLayout, func(dir string) { writeFile(t, filepath.Join(dir, "dataset.json"), []byte(`{"labels": `)) }, "dataset.json"},
		{"not NIfTI", nnunetLayout, func(dir string) {
			writeFile(t, filepath.Join(dir, "dataset.json"), []byte(`{"labels": {"background": 0, "a": 1, "b": 2}, "file_ending": ".png"}`))
		}, "only NIfTI"},
	}
	data := t.TempDir()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir, _ := buildDataset(t, c.layout)
			r := invoke(t, "import-dataset", spoil(t, dir, c.spoilt), "--data", data, "--project", "hippo")
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			if r.code == 0 || len(lines) != 1 || !strings.Contains(lines[0], c.want) {
				t.Fatalf("exit %d, stderr %q: want a failure in one line containing %q", r.code, r.stderr, c.want)
			}
		})
	}
	assertNothingStored(t, data)

	// An existing project must have the dataset's classes.
	mustRun(t, "import", "--data", data, "--project", "other", "--classes", "Posterior,Anterior", labelMapFixture("image.nii.gz"))
	dir, _ := buildDataset(t, msdLayout)
	r := invoke(t, "import-dataset", dir, "--data", data, "--project", "other")
	if r.code == 0 || !strings.Contains(r.stderr, `project "other" has classes Posterior,Anterior, not Anterior,Posterior`) {
		t.Fatalf("classes differing: exit %d, %q", r.code, r.stderr)
	}
	if n := volumeCount(t, data); n != 1 {
		t.Fatalf("%d volumes stored, want only the one imported before", n)
	}
}

// fifoServing makes path a named pipe that serves each of contents to one reader in turn: an image that reads
// well when checked and badly when stored, so that the import fails after storing some cases.
func fifoServing(t *testing.T, path string, contents ...[]byte) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, c := range contents {
			f, err := os.OpenFile(path, os.O_WRONLY, 0) // blocks until a reader opens the pipe
			if err != nil {
				return
			}
			f.Write(c)
			f.Close()
			// The next content is for the next reader: wait until this one has closed the pipe (a non-blocking
			// open for writing then fails with ENXIO), or it would read both.
			for {
				w, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0)
				if err != nil {
					break
				}
				w.Close()
				time.Sleep(5 * time.Millisecond)
			}
		}
	}()
	t.Cleanup(func() {
		// Unblock the writer should its readers not have come.
		for {
			select {
			case <-done:
				return
			default:
			}
			if f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
				f.Close()
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

// An import that fails after storing some cases removes them again: the project it created, or, in an
// existing project, the volumes it added.
func TestImportDatasetUndoesAFailedImport(t *testing.T) {
	good, err := os.ReadFile(sharedData(t, "msd-hippocampus", "imagesTr", "hippocampus_044.nii.gz"))
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	for _, existing := range []bool{false, true} {
		dir, _ := buildDataset(t, msdLayout)
		os.Remove(filepath.Join(dir, "imagesTs", "hippocampus_044.nii.gz"))
		fifoServing(t, filepath.Join(dir, "imagesTs", "late.nii.gz"), good, []byte("gone bad"))
		r := invoke(t, "import-dataset", dir, "--data", data, "--project", "hippo")
		if r.code == 0 || !strings.Contains(r.stderr, "late") || !strings.Contains(r.stdout, "[5/6] ") {
			t.Fatalf("existing project %v: exit %d, stdout %q, stderr %q: want a failure at the sixth case", existing, r.code, r.stdout, r.stderr)
		}
		if !existing {
			assertNothingStored(t, data)
			mustRun(t, "import", "--data", data, "--project", "hippo", "--classes", hippocampusClasses, labelMapFixture("image.nii.gz"))
		} else if n := volumeCount(t, data); n != 1 {
			t.Fatalf("%d volumes after the failed import into an existing project, want the 1 it had", n)
		}
	}
}
