package nifti

import (
	"fmt"
	"math"
)

// Orientation is the orientation that takes this image to the closest canonical RAS+ grid: nibabel's
// io_orientation of its affine. An array axis with no world direction (a singular affine, where nibabel
// refuses to reorient) keeps the first free canonical axis, unflipped, so the result is always a permutation.
func (img *Image) Orientation() Orientation { return img.Header.Orientation() }

// Orientation is the canonical orientation of an image with this header; see (*Image).Orientation.
func (h *Header) Orientation() Orientation {
	world, sign := ioOrientation(h.Affine())
	var o Orientation
	used := [3]bool{}
	placed := [3]bool{}
	for src := range 3 {
		if w := world[src]; w >= 0 {
			o.Perm[w] = src
			o.Flip[w] = sign[src] < 0
			used[w] = true
			placed[src] = true
		}
	}
	for src := range 3 {
		if placed[src] {
			continue
		}
		for w := range 3 {
			if !used[w] {
				o.Perm[w], o.Flip[w], used[w] = src, false, true
				break
			}
		}
	}
	return o
}

// Canonical reorients the image onto the closest canonical RAS+ grid by axis permutation and flips only,
// exactly as nibabel.as_closest_canonical does, and returns the volume with the orientation that maps back.
// The voxel data are copied; the image is unchanged.
func (img *Image) Canonical() (*Volume, Orientation) {
	o := img.Orientation()
	return canonicalVolume(&img.Header, o, o.ToCanonicalFloat32(img.Data, img.Shape())), o
}

// canonicalVolume is the Volume of an image with header h whose voxels data are already on the canonical grid
// of orientation o (h's own).
func canonicalVolume(h *Header, o Orientation, data []float32) *Volume {
	src := h.Shape()
	aff := o.CanonicalAffine(h.Affine(), src)
	v := &Volume{Shape: o.CanonicalShape(src), Affine: aff, Data: data}
	for j := range 3 {
		v.Spacing[j] = math.Sqrt(aff[0][j]*aff[0][j] + aff[1][j]*aff[1][j] + aff[2][j]*aff[2][j])
	}
	return v
}

// Validate reports whether Perm is a permutation of 0, 1, 2 (the zero Orientation is not valid; the identity
// is Orientation{Perm: [3]int{0, 1, 2}}).
func (o Orientation) Validate() error {
	seen := [3]bool{}
	for _, p := range o.Perm {
		if p < 0 || p > 2 || seen[p] {
			return fmt.Errorf("invalid orientation: %v is not a permutation of the axes 0, 1, 2", o.Perm)
		}
		seen[p] = true
	}
	return nil
}

// IsIdentity reports whether the source grid already is canonical.
func (o Orientation) IsIdentity() bool {
	return o.Perm == [3]int{0, 1, 2} && o.Flip == [3]bool{}
}

// CanonicalShape is the canonical grid's shape for a source of shape src.
func (o Orientation) CanonicalShape(src [3]int) [3]int {
	return [3]int{src[o.Perm[0]], src[o.Perm[1]], src[o.Perm[2]]}
}

// SourceShape is the source grid's shape for a canonical grid of shape canonical.
func (o Orientation) SourceShape(canonical [3]int) [3]int {
	var s [3]int
	for i, p := range o.Perm {
		s[p] = canonical[i]
	}
	return s
}

// CanonicalAffine is the canonical grid's voxel-to-world affine, given the source's affine and shape
// (nibabel: affine · inv_ornt_aff(ornt, shape)).
func (o Orientation) CanonicalAffine(src [4][4]float64, srcShape [3]int) [4][4]float64 {
	out := src
	for i, p := range o.Perm {
		for r := range 3 {
			col := src[r][p]
			if o.Flip[i] {
				out[r][3] += col * float64(srcShape[p]-1)
				col = -col
			}
			out[r][i] = col
		}
	}
	return out
}

// sourceIndexer returns, for canonical voxels walked x fastest, the source index of canonical (0,0,0) and
// the source index steps along canonical x, y and z.
func (o Orientation) sourceIndexer(srcShape [3]int) (start int, step [3]int) {
	if err := o.Validate(); err != nil {
		panic(err)
	}
	strides := [3]int{1, srcShape[0], srcShape[0] * srcShape[1]}
	for i, p := range o.Perm {
		step[i] = strides[p]
		if o.Flip[i] {
			start += (srcShape[p] - 1) * strides[p]
			step[i] = -step[i]
		}
	}
	return start, step
}

func checkLen(n int, shape [3]int, what string) {
	if shape[0] < 0 || shape[1] < 0 || shape[2] < 0 || n != shape[0]*shape[1]*shape[2] {
		panic(fmt.Sprintf("nifti: %s has %d values, shape %v holds %d", what, n, shape, shape[0]*shape[1]*shape[2]))
	}
}

// toCanonical gathers a source-grid array onto the canonical grid.
func toCanonical[T any](o Orientation, src []T, srcShape [3]int) []T {
	checkLen(len(src), srcShape, "source array")
	cs := o.CanonicalShape(srcShape)
	start, step := o.sourceIndexer(srcShape)
	out := make([]T, len(src))
	c := 0
	for z := 0; z < cs[2]; z++ {
		for y := 0; y < cs[1]; y++ {
			s := start + y*step[1] + z*step[2]
			for x := 0; x < cs[0]; x++ {
				out[c] = src[s]
				c++
				s += step[0]
			}
		}
	}
	return out
}

// toSource scatters a canonical-grid array back onto the source grid.
func toSource[T any](o Orientation, canonical []T, canonicalShape [3]int) []T {
	checkLen(len(canonical), canonicalShape, "canonical array")
	srcShape := o.SourceShape(canonicalShape)
	start, step := o.sourceIndexer(srcShape)
	out := make([]T, len(canonical))
	c := 0
	for z := 0; z < canonicalShape[2]; z++ {
		for y := 0; y < canonicalShape[1]; y++ {
			s := start + y*step[1] + z*step[2]
			for x := 0; x < canonicalShape[0]; x++ {
				out[s] = canonical[c]
				c++
				s += step[0]
			}
		}
	}
	return out
}

// ToSource puts an array on the canonical grid (x fastest) back onto the source grid, in source file order,
// ready to be written with the source's header. It panics if o is invalid or len(canonical) does not match
// canonicalShape.
func (o Orientation) ToSource(canonical []uint8, canonicalShape [3]int) []uint8 {
	return toSource(o, canonical, canonicalShape)
}

// ToSourceFloat32 is ToSource for float32 arrays (e.g. probability maps).
func (o Orientation) ToSourceFloat32(canonical []float32, canonicalShape [3]int) []float32 {
	return toSource(o, canonical, canonicalShape)
}

// ToCanonical puts an array in source file order (e.g. a mask read from a file in the image's grid) onto the
// canonical grid, exactly as Canonical moves the image. It panics if o is invalid or len(source) does not
// match sourceShape.
func (o Orientation) ToCanonical(source []uint8, sourceShape [3]int) []uint8 {
	return toCanonical(o, source, sourceShape)
}

// ToCanonicalFloat32 is ToCanonical for float32 arrays (e.g. an Image's Data).
func (o Orientation) ToCanonicalFloat32(source []float32, sourceShape [3]int) []float32 {
	return toCanonical(o, source, sourceShape)
}

// SliceLen is the number of voxels in one axial slice.
func (v *Volume) SliceLen() int { return v.Shape[0] * v.Shape[1] }

// NumSlices is the number of axial slices (0 = most inferior).
func (v *Volume) NumSlices() int { return v.Shape[2] }

// Slice returns axial slice z (x fastest, then y: index x + y*Shape[0]) as a view into Data, not a copy.
// It panics if z is out of range.
func (v *Volume) Slice(z int) []float32 {
	if z < 0 || z >= v.Shape[2] {
		panic(fmt.Sprintf("nifti: slice %d out of range [0, %d)", z, v.Shape[2]))
	}
	n := v.SliceLen()
	return v.Data[z*n : (z+1)*n : (z+1)*n]
}

// Index is the position of voxel (x, y, z) in Data.
func (v *Volume) Index(x, y, z int) int { return x + v.Shape[0]*(y+v.Shape[1]*z) }
