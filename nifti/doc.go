// Package nifti reads and encodes NIfTI-1 and NIfTI-2 images and puts them on the canonical RAS+ grid.
// It depends on the standard library only, and writes no files: callers put what EncodeMask streams into
// files through the program's one atomic writer (internal/atomicfile).
//
// Reading (Read, ReadBytes, Decode; ReadWith and ReadBytesWith with a voxel limit for untrusted input;
// ReadHeader for the header alone) follows nibabel: the same affine choice (sform, else qform, else the
// pixdim diagonal), the same scaling rules and the same header fixes, checked against nibabel on real files
// by the golden tests. DecodeCanonical reads straight onto the canonical grid, holding the voxels once (what
// an import needs); (*Image).Canonical puts an image read in file order there, with a copy. Either way the
// Orientation is kept; masks drawn there go back to the source grid with Orientation.ToSource and are
// encoded with EncodeMask using the source's Header, so exports keep the source's grid, affine, qform/sform
// codes and pixdim. Masks that come in the source grid go the other way with Orientation.ToCanonical.
package nifti

// Orientation maps a source array onto the closest canonical RAS+ array by axis permutation and flips only
// (never resampling): canonical axis i is source axis Perm[i], reversed when Flip[i]. Kept with every volume
// so that masks drawn on the canonical grid are written back in the source's exact grid.
type Orientation struct {
	Perm [3]int  `json:"perm"`
	Flip [3]bool `json:"flip"`
}

// Volume is a 3-D image on the canonical grid: axis 0 left->right, axis 1 posterior->anterior,
// axis 2 inferior->superior, so axial slices are planes of constant axis 2. Data holds scaled voxel values,
// axis 0 fastest (index x + y*Shape[0] + z*Shape[0]*Shape[1]).
type Volume struct {
	Shape   [3]int
	Spacing [3]float64    // mm along each canonical axis
	Affine  [4][4]float64 // canonical voxel index -> world (RAS mm)
	Data    []float32
}
