package ingest

import (
	"errors"
	"strings"
	"testing"

	"github.com/mriworkbench/workbench/nifti"
	"github.com/mriworkbench/workbench/store"
)

// FuzzLabelMap feeds arbitrary bytes as a label map of the fixture image: the decoder and the checks either
// refuse them with one line or return a canonical class map of the image's size holding only class indices;
// they never panic.
func FuzzLabelMap(f *testing.F) {
	for _, name := range []string{"labels.nii.gz", "labels_float.nii.gz", "fractional.nii.gz", "negative.nii.gz",
		"nan.nii.gz", "beyond.nii.gz", "othershape.nii.gz", "shifted.nii.gz", "fourd.nii.gz"} {
		f.Add(labelMapFixture(f, name))
	}
	img, err := Decode("image.nii.gz", labelMapFixture(f, "image.nii.gz"), nifti.ReadOptions{})
	if err != nil {
		f.Fatal(err)
	}
	p := twoClassProject()
	voxels := len(img.Volume.Data)
	f.Fuzz(func(t *testing.T, data []byte) {
		labels, err := ReadLabelMap("map.nii.gz", data, nifti.ReadOptions{MaxVoxels: 1 << 16})
		if err == nil {
			var classMap []uint8
			classMap, err = LabelMap(img.Image, "map.nii.gz", labels, p)
			if err == nil {
				if len(classMap) != voxels {
					t.Fatalf("class map of %d values for %d voxels", len(classMap), voxels)
				}
				for i, v := range classMap {
					if int(v) > len(p.Classes) {
						t.Fatalf("value %d at %d is not a class", v, i)
					}
				}
				return
			}
		}
		var invalid *store.ValidationError
		var tooLarge *TooLargeError
		if !errors.As(err, &invalid) && !errors.As(err, &tooLarge) {
			t.Fatalf("refusal %v (%T) is neither a validation error nor too large", err, err)
		}
		if !strings.HasPrefix(err.Error(), "label map map.nii.gz: ") || strings.Contains(err.Error(), "\n") {
			t.Fatalf("refusal %q is not one line naming the map", err)
		}
	})
}
