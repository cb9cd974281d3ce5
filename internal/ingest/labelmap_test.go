package ingest

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mriworkbench/workbench/nifti"
	"github.com/mriworkbench/workbench/store"
)

// labelMapFixture reads a file of testdata/labelmaps (written by testdata/gen_labelmaps.py with nibabel).
func labelMapFixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "labelmaps", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func twoClassProject() store.Project {
	return store.Project{Name: "hippo", Classes: []store.Class{{Name: "Anterior"}, {Name: "Posterior"}}}
}

// A label map stored as uint8 or as float32 decodes onto the canonical grid exactly as nibabel's
// as_closest_canonical puts it (the fixture's grid flips two axes).
func TestLabelMapMatchesNibabelCanonical(t *testing.T) {
	img, err := Decode("image.nii.gz", labelMapFixture(t, "image.nii.gz"), nifti.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := labelMapFixture(t, "canonical.bin")
	for _, name := range []string{"labels.nii.gz", "labels_float.nii.gz"} {
		labels, err := ReadLabelMap(name, labelMapFixture(t, name), nifti.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := LabelMap(img.Image, name, labels, twoClassProject())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: canonical class map differs from nibabel's", name)
		}
		counts := map[uint8]int{}
		for _, v := range got {
			counts[v]++
		}
		if len(counts) != 3 {
			t.Errorf("%s: values %v, want all of 0, 1, 2 present", name, counts)
		}
	}
}

// Every map that is not one integer image of class indices on the image's grid is refused with one line
// naming the file and the reason (and the first offending voxel, in the file's own indices).
func TestLabelMapRefusals(t *testing.T) {
	img, err := Decode("image.nii.gz", labelMapFixture(t, "image.nii.gz"), nifti.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"fractional.nii.gz": "label map fractional.nii.gz: value 1.5 at voxel (1,2,3) is not an integer",
		"negative.nii.gz":   "label map negative.nii.gz: value -1 at voxel (2,0,1) is negative",
		"nan.nii.gz":        "label map nan.nii.gz: value NaN at voxel (0,1,2) is not a class index",
		"beyond.nii.gz":     `label map beyond.nii.gz: label value 3 at voxel (4,3,2), but project "hippo" has 2 classes (1=Anterior, 2=Posterior)`,
		"othershape.nii.gz": "label map othershape.nii.gz: shape [6 5 5] differs from the image's [6 5 4]",
		"shifted.nii.gz":    "label map shifted.nii.gz: affine differs from the image's (by up to 5 mm)",
		"fourd.nii.gz":      "label map fourd.nii.gz: unsupported 4-D image with 2 volumes",
	} {
		_, err := readAndCheck(img.Image, file, labelMapFixture(t, file))
		var invalid *store.ValidationError
		if !errors.As(err, &invalid) || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v, want a one-line validation error starting %q", file, err, want)
		}
	}
	truncated := labelMapFixture(t, "labels.nii.gz")
	if _, err := readAndCheck(img.Image, "cut.nii.gz", truncated[:40]); err == nil || !strings.HasPrefix(err.Error(), "label map cut.nii.gz: ") {
		t.Errorf("truncated map: %v", err)
	}
	if _, err := ReadLabelMap("big.nii.gz", labelMapFixture(t, "labels.nii.gz"), nifti.ReadOptions{MaxVoxels: 10}); !errors.As(err, new(*TooLargeError)) {
		t.Errorf("map over the voxel limit: %v, want a TooLargeError", err)
	}
}

func readAndCheck(img *nifti.Image, name string, data []byte) ([]uint8, error) {
	labels, err := ReadLabelMap(name, data, nifti.ReadOptions{})
	if err != nil {
		return nil, err
	}
	return LabelMap(img, name, labels, twoClassProject())
}
