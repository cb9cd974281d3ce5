package nifti

import (
	"fmt"
	"io"
)

// maxDeflateRatio bounds how many bytes a byte of gzip data can expand to: deflate codes a 258-byte match in
// no less than 2 bits, so no stream decompresses to more than 1032 times its size (zlib's documented limit).
const maxDeflateRatio = 1032

// DecodeCanonical reads a single-file NIfTI image (.nii, or .nii.gz detected by its magic bytes) of size bytes
// from r straight onto its closest canonical grid: each voxel is decoded into its place on the grid that
// (*Image).Canonical would give, so an import holds the voxels once, not in file order and again
// canonically. The Image it returns carries the file's header and extensions and no Data; its Orientation()
// maps the volume back onto the file's grid.
//
// The voxel buffer is allocated at its full size once the header has passed opts and size shows the data can
// be there (at most 1032 times size for gzip, deflate's limit; exactly for plain data), so a tiny file cannot
// claim a large buffer; size < 0 (unknown) leaves only opts.MaxVoxels to bound it.
func DecodeCanonical(r io.Reader, size int64, opts ReadOptions) (*Image, *Volume, error) {
	src, err := newSource(r)
	if err != nil {
		return nil, nil, err
	}
	h, exts, err := decodeHeader(src, "", readOptions{ReadOptions: opts})
	if err != nil {
		return nil, nil, err
	}
	if err := checkPresent(h, src.gz != nil, size); err != nil {
		return nil, nil, err
	}
	o := h.Orientation()
	shape := h.Shape()
	out := make([]float32, shape[0]*shape[1]*shape[2])
	if o.IsIdentity() {
		err = readChunks(src, h, func(start, n int) []float32 { return out[start : start+n] }, nil)
	} else {
		place := newScatter(o, shape, out).placer()
		chunk := make([]float32, min(len(out), voxelChunk))
		err = readChunks(src, h, func(_, n int) []float32 { return chunk[:n] }, place)
	}
	if err != nil {
		return nil, nil, err
	}
	if err := src.finish(); err != nil {
		return nil, nil, err
	}
	img := &Image{Header: *h, Extensions: exts}
	return img, canonicalVolume(h, o, out), nil
}

// checkPresent refuses, before the voxel buffer is allocated, an image whose voxel data cannot fit in a
// stream of size bytes (plain, or gzip when gzipped).
func checkPresent(h *Header, gzipped bool, size int64) error {
	if size < 0 {
		return nil
	}
	shape := h.Shape()
	need := h.dataOffset() + int64(shape[0])*int64(shape[1])*int64(shape[2])*int64(bytesPerVoxel(h.Datatype))
	switch {
	case !gzipped && need > size:
		return truncatedError(h, size-h.dataOffset())
	case gzipped && need > size*maxDeflateRatio:
		return fmt.Errorf("truncated file: %dx%dx%d voxels of %s need %d bytes of data, more than %d bytes of gzip can hold",
			shape[0], shape[1], shape[2], DatatypeName(h.Datatype), need, size)
	}
	return nil
}

// scatter puts voxels arriving in source file order (x fastest) into their places on the canonical grid.
type scatter struct {
	out     []float32
	shape   [3]int // source shape
	base    int    // canonical index of source voxel (0, 0, 0)
	step    [3]int // canonical index step along source x, y and z
	x, y, z int    // source position of the next voxel
	row     int    // canonical index of source voxel (0, y, z)
}

func newScatter(o Orientation, srcShape [3]int, out []float32) *scatter {
	if err := o.Validate(); err != nil {
		panic(err)
	}
	cs := o.CanonicalShape(srcShape)
	cstride := [3]int{1, cs[0], cs[0] * cs[1]}
	s := &scatter{out: out, shape: srcShape}
	// Canonical axis i is source axis Perm[i], reversed when Flip[i].
	for i, p := range o.Perm {
		s.step[p] = cstride[i]
		if o.Flip[i] {
			s.base += (srcShape[p] - 1) * cstride[i]
			s.step[p] = -cstride[i]
		}
	}
	s.row = s.base
	return s
}

// slabBytes bounds the buffer of a slab scatter.
const slabBytes = 64 << 20

// slabUnits is how many source rows or planes a slab scatter gathers, so that each write it makes along
// canonical x fills a 64-byte cache line.
const slabUnits = 16

// placer returns the function that places the chunks. When source x is canonical x, rows land in place
// directly. Otherwise consecutive canonical x values come from consecutive source rows (or planes): writing
// voxel by voxel would touch a cache line per voxel, so a slab of slabUnits rows (or planes) is gathered
// first and written out in runs along canonical x.
func (s *scatter) placer() func(start int, chunk []float32) {
	along := 0 // the source axis that is canonical x
	for p, st := range s.step {
		if st == 1 || st == -1 {
			along = p
		}
	}
	if along == 0 {
		return s.place
	}
	unit := s.shape[0] // voxels per row
	if along == 2 {
		unit *= s.shape[1] // voxels per plane
	}
	units := min(slabUnits, slabBytes/(4*unit), s.shape[along])
	if units < 2 {
		return s.place
	}
	sl := &slab{scatter: s, along: along, unit: unit, buf: make([]float32, units*unit), units: units}
	return sl.place
}

// place writes the next len(chunk) voxels of the source order; chunks arrive in order.
func (s *scatter) place(_ int, chunk []float32) {
	nx, ny := s.shape[0], s.shape[1]
	for k := 0; k < len(chunk); {
		run := min(nx-s.x, len(chunk)-k)
		c := s.row + s.x*s.step[0]
		if s.step[0] == 1 {
			copy(s.out[c:c+run], chunk[k:k+run])
		} else {
			for _, v := range chunk[k : k+run] {
				s.out[c] = v
				c += s.step[0]
			}
		}
		k += run
		s.x += run
		if s.x == nx {
			s.x = 0
			if s.y++; s.y == ny {
				s.y = 0
				s.z++
			}
			s.row = s.base + s.y*s.step[1] + s.z*s.step[2]
		}
	}
}

// slab gathers up to units consecutive source rows (along = 1: source y is canonical x) or planes (along =
// 2: source z is) and writes them out in runs along canonical x. Rows are gathered within one plane.
type slab struct {
	*scatter
	along  int       // source axis that is canonical x: 1 or 2
	unit   int       // voxels per row or plane
	buf    []float32 // the gathered units, one after the other
	units  int       // units per slab at most
	first  int       // index along `along` of the slab's first unit
	filled int       // voxels gathered
	plane  int       // source z of the rows gathered (along = 1)
}

func (sl *slab) place(_ int, chunk []float32) {
	extent := sl.shape[sl.along]
	for len(chunk) > 0 {
		want := min(sl.units, extent-sl.first) * sl.unit
		n := copy(sl.buf[sl.filled:want], chunk)
		sl.filled += n
		chunk = chunk[n:]
		if sl.filled < want {
			return
		}
		sl.flush(want / sl.unit)
		sl.filled = 0
		if sl.first += want / sl.unit; sl.first == extent {
			sl.first = 0
			sl.plane++
		}
	}
}

// flush writes the k gathered units: for each voxel position within a unit, a run of k canonical x values.
func (sl *slab) flush(k int) {
	s := sl.scatter
	stepAlong := s.step[sl.along]
	start := s.base + sl.first*stepAlong
	if sl.along == 1 {
		start += sl.plane * s.step[2]
	}
	nx := s.shape[0]
	rows := sl.unit / nx
	for y := range rows {
		for x := range nx {
			pos := x + y*nx
			c := start + x*s.step[0] + y*s.step[1]
			for u := range k {
				s.out[c] = sl.buf[u*sl.unit+pos]
				c += stepAlong
			}
		}
	}
}
