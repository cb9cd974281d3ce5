package ingest

import (
	"fmt"
	"math"
	"strings"

	"github.com/mriworkbench/workbench/nifti"
	"github.com/mriworkbench/workbench/store"
)

// ClassMask is a binary mask file of one class, in the grid of the image it labels.
type ClassMask struct {
	Class string // the class's name in the project
	Path  string
}

// MergeMasks reads per-class binary masks of img (same shape and affine, checked) into one class-index map
// on img's canonical grid. Where masks overlap, the later class wins, so "wm=cord, gm=gm" gives WM = cord
// minus GM.
func MergeMasks(img *nifti.Image, p store.Project, masks []ClassMask) ([]uint8, error) {
	srcShape := img.Header.Shape()
	affine := img.Affine()
	merged := make([]uint8, srcShape[0]*srcShape[1]*srcShape[2])
	for _, m := range masks {
		class := classIndex(p.Classes, m.Class)
		if class == 0 {
			return nil, fmt.Errorf("--mask %s: unknown class %q (project classes: %s)", m.Path, m.Class, strings.Join(p.ClassNames(), ","))
		}
		mask, err := nifti.Read(m.Path)
		if err != nil {
			return nil, fmt.Errorf("mask %s: %w", m.Path, err)
		}
		if got := mask.Header.Shape(); got != srcShape {
			return nil, fmt.Errorf("mask %s: shape %v differs from the image's %v", m.Path, got, srcShape)
		}
		if d := maxAbsDiff(mask.Affine(), affine); d > 1e-3 {
			return nil, fmt.Errorf("mask %s: affine differs from the image's (by up to %.3g mm)", m.Path, d)
		}
		for i, v := range mask.Data {
			if v >= 0.5 { // binary masks; a probabilistic one is thresholded at one half
				merged[i] = class
			}
		}
	}
	return img.Orientation().ToCanonical(merged, srcShape), nil
}

// SliceLabels cuts the given axial slices of a canonical class map of shape into labels.
func SliceLabels(classMap []uint8, shape [3]int, slices []int) []store.SliceMask {
	plane := shape[0] * shape[1]
	labels := make([]store.SliceMask, len(slices))
	for i, z := range slices {
		labels[i] = store.SliceMask{Slice: z, Mask: classMap[z*plane : (z+1)*plane]}
	}
	return labels
}

func classIndex(classes []store.Class, name string) uint8 {
	for i, c := range classes {
		if c.Name == name {
			return uint8(i + 1)
		}
	}
	return 0
}

func maxAbsDiff(a, b [4][4]float64) float64 {
	var d float64
	for i := range a {
		for j := range a[i] {
			d = math.Max(d, math.Abs(a[i][j]-b[i][j]))
		}
	}
	return d
}
