package ingest

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/mriworkbench/workbench/nifti"
	"github.com/mriworkbench/workbench/store"
)

// ReadLabelMap decodes a label map file's bytes (a single .nii or .nii.gz file) under opts. A refusal is a
// *store.ValidationError naming the file, or a *TooLargeError; a 4-D map with several volumes (e.g. one-hot
// channels) is refused by the reader.
func ReadLabelMap(fileName string, data []byte, opts nifti.ReadOptions) (*nifti.Image, error) {
	labels, err := nifti.ReadBytesWith(fileName, data, opts)
	if err != nil {
		msg := store.OneLine(fmt.Sprintf("label map %s: %v", baseName(fileName), err))
		if errors.Is(err, nifti.ErrTooManyVoxels) {
			return nil, &TooLargeError{Msg: msg}
		}
		return nil, &store.ValidationError{Msg: msg}
	}
	return labels, nil
}

// LabelMap checks a label map of img (one integer image: same shape and affine as img, value k for the
// project's k-th class, 0 for background) and returns it as a class-index map on img's canonical grid.
// Values that are not class indices (NaN or infinite, fractional, negative, beyond the project's classes)
// are refused, naming the first such voxel in the file's own (i,j,k) indices. name words the errors; a
// refusal is a *store.ValidationError.
func LabelMap(img *nifti.Image, name string, labels *nifti.Image, p store.Project) ([]uint8, error) {
	srcShape := img.Header.Shape()
	refuse := func(format string, args ...any) error {
		return &store.ValidationError{Msg: store.OneLine(fmt.Sprintf("label map %s: ", baseName(name)) + fmt.Sprintf(format, args...))}
	}
	if n := labels.Header.Volumes(); n > 1 {
		return nil, refuse("a %d-D image with %d volumes; a label map is one 3-D integer image", labels.Header.NDim(), n)
	}
	if got := labels.Header.Shape(); got != srcShape {
		return nil, refuse("shape %v differs from the image's %v", got, srcShape)
	}
	if d := maxAbsDiff(labels.Affine(), img.Affine()); d > 1e-3 {
		return nil, refuse("affine differs from the image's (by up to %.3g mm)", d)
	}
	classes := len(p.Classes)
	out := make([]uint8, len(labels.Data))
	for idx, v := range labels.Data {
		if v == 0 {
			continue
		}
		f := float64(v)
		var problem string
		switch {
		case math.IsNaN(f) || math.IsInf(f, 0):
			problem = fmt.Sprintf("value %v at voxel %s is not a class index", v, voxel(idx, srcShape))
		case f != math.Trunc(f):
			problem = fmt.Sprintf("value %v at voxel %s is not an integer", v, voxel(idx, srcShape))
		case f < 0:
			problem = fmt.Sprintf("value %v at voxel %s is negative", v, voxel(idx, srcShape))
		case f > float64(classes):
			problem = fmt.Sprintf("label value %v at voxel %s, but project %q has %d %s (%s)",
				v, voxel(idx, srcShape), p.Name, classes, plural(classes, "class", "classes"), classList(p))
		}
		if problem != "" {
			return nil, refuse("%s", problem)
		}
		out[idx] = uint8(f)
	}
	return img.Orientation().ToCanonical(out, srcShape), nil
}

// voxel words a file-order index as the file's (i,j,k) voxel indices.
func voxel(idx int, shape [3]int) string {
	i := idx % shape[0]
	j := idx / shape[0] % shape[1]
	k := idx / (shape[0] * shape[1])
	return fmt.Sprintf("(%d,%d,%d)", i, j, k)
}

// classList names the classes by value: "1=Anterior, 2=Posterior".
func classList(p store.Project) string {
	s := ""
	for i, c := range p.Classes {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%d=%s", i+1, c.Name)
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// ParseSlices reads a list of axial slice indices such as "0,3,7" (empty: every slice of n), checking each
// is a slice of the volume; the result is sorted, without repeats. A refusal is a *store.ValidationError.
func ParseSlices(list string, n int) ([]int, error) {
	if strings.TrimSpace(list) == "" {
		all := make([]int, n)
		for i := range all {
			all[i] = i
		}
		return all, nil
	}
	seen := map[int]bool{}
	var out []int
	for _, f := range strings.Split(list, ",") {
		z, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, &store.ValidationError{Msg: fmt.Sprintf("slices: %q is not a slice index", f)}
		}
		if z < 0 || z >= n {
			return nil, &store.ValidationError{Msg: fmt.Sprintf("slices: %d is outside the volume's axial slices 0..%d", z, n-1)}
		}
		if !seen[z] {
			seen[z] = true
			out = append(out, z)
		}
	}
	sort.Ints(out)
	return out, nil
}
