package nifti

import (
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// EncodeMask writes a uint8 label map (source file order, x fastest) as a gzipped single-file NIfTI-1 image
// (the content of a .nii.gz file) with the geometry of like (see outputHeader) to w: a file through the
// program's atomic writer, an HTTP response or a zip entry. The package writes no files itself.
func EncodeMask(w io.Writer, like *Header, data []uint8) error {
	h, err := outputHeader(like, DTUint8, len(data))
	if err != nil {
		return err
	}
	return encode(w, true, encodeNifti1(h, binary.LittleEndian), data)
}

// outputHeader builds the little-endian single-file NIfTI-1 header of an image with like's geometry: dim,
// pixdim (qfac included), xyzt_units, dim_info, slice timing fields, qform and sform codes and parameters are
// copied; datatype is set, scaling is identity and there are no extensions. NIfTI-2 values are narrowed to
// NIfTI-1 types, which fails only for dimensions above 32767.
func outputHeader(like *Header, datatype int16, n int) (*Header, error) {
	nd := like.NDim()
	if nd < 1 || nd > 7 {
		return nil, fmt.Errorf("cannot write image: dim[0] = %d, want 1 to 7", like.Dim[0])
	}
	total := int64(1)
	for i := 1; i <= nd; i++ {
		if like.Dim[i] <= 0 || like.Dim[i] > math.MaxInt16 {
			return nil, fmt.Errorf("cannot write NIfTI-1 image: dim[%d] = %d is outside 1..%d", i, like.Dim[i], math.MaxInt16)
		}
		total *= like.Dim[i]
	}
	if int64(n) != total {
		return nil, fmt.Errorf("cannot write image: %d values for dimensions %v (%d voxels)", n, like.Dim[1:nd+1], total)
	}
	h := &Header{
		Version:       1,
		SizeofHdr:     nifti1HeaderSize,
		DimInfo:       like.DimInfo,
		Dim:           like.Dim,
		Datatype:      datatype,
		Bitpix:        int16(8 * bytesPerVoxel(datatype)),
		Pixdim:        like.Pixdim,
		VoxOffset:     nifti1HeaderSize + 4,
		SclSlope:      1,
		SclInter:      0,
		XYZTUnits:     like.XYZTUnits,
		SliceDuration: like.SliceDuration,
		TOffset:       like.TOffset,
		QformCode:     like.QformCode,
		SformCode:     like.SformCode,
		QuaternB:      like.QuaternB,
		QuaternC:      like.QuaternC,
		QuaternD:      like.QuaternD,
		QoffsetX:      like.QoffsetX,
		QoffsetY:      like.QoffsetY,
		QoffsetZ:      like.QoffsetZ,
		SrowX:         like.SrowX,
		SrowY:         like.SrowY,
		SrowZ:         like.SrowZ,
		Magic:         nifti1SingleMagic,
	}
	for i := nd + 1; i < 8; i++ {
		h.Dim[i] = min(max(h.Dim[i], 0), math.MaxInt16)
	}
	// Slice-timing fields are kept when they fit NIfTI-1's narrower types (they always do for NIfTI-1 sources).
	if fitsInt16(like.SliceStart) && fitsInt16(like.SliceEnd) && like.SliceCode >= 0 && like.SliceCode <= math.MaxUint8 {
		h.SliceStart, h.SliceEnd, h.SliceCode = like.SliceStart, like.SliceEnd, like.SliceCode
	}
	if h.XYZTUnits < 0 || h.XYZTUnits > math.MaxUint8 {
		h.XYZTUnits = 0
	}
	if !fitsInt16(int64(h.QformCode)) || !fitsInt16(int64(h.SformCode)) {
		return nil, fmt.Errorf("cannot write NIfTI-1 image: qform_code %d / sform_code %d out of range", h.QformCode, h.SformCode)
	}
	return h, nil
}

func fitsInt16(v int64) bool { return v >= math.MinInt16 && v <= math.MaxInt16 }

// encodeNifti1 lays out a header as 348 NIfTI-1 bytes in the given byte order.
func encodeNifti1(h *Header, o binary.ByteOrder) []byte {
	b := make([]byte, nifti1HeaderSize)
	i16 := func(off int, v int64) { o.PutUint16(b[off:], uint16(int16(v))) }
	i32 := func(off int, v int32) { o.PutUint32(b[off:], uint32(v)) }
	f32 := func(off int, v float64) { o.PutUint32(b[off:], math.Float32bits(float32(v))) }
	str := func(off, size int, s string) { copy(b[off:off+size-1], s) }

	i32(0, nifti1HeaderSize)
	str(4, 10, h.DataTypeName)
	str(14, 18, h.DBName)
	i32(32, h.Extents)
	i16(36, int64(h.SessionError))
	b[38] = h.Regular
	b[39] = h.DimInfo
	for i := range 8 {
		i16(40+2*i, h.Dim[i])
		f32(76+4*i, h.Pixdim[i])
	}
	f32(56, h.IntentP1)
	f32(60, h.IntentP2)
	f32(64, h.IntentP3)
	i16(68, int64(h.IntentCode))
	i16(70, int64(h.Datatype))
	i16(72, int64(h.Bitpix))
	i16(74, h.SliceStart)
	f32(108, h.VoxOffset)
	f32(112, h.SclSlope)
	f32(116, h.SclInter)
	i16(120, h.SliceEnd)
	b[122] = uint8(h.SliceCode)
	b[123] = uint8(h.XYZTUnits)
	f32(124, h.CalMax)
	f32(128, h.CalMin)
	f32(132, h.SliceDuration)
	f32(136, h.TOffset)
	i32(140, h.GlMax)
	i32(144, h.GlMin)
	str(148, 80, h.Descrip)
	str(228, 24, h.AuxFile)
	i16(252, int64(h.QformCode))
	i16(254, int64(h.SformCode))
	f32(256, h.QuaternB)
	f32(260, h.QuaternC)
	f32(264, h.QuaternD)
	f32(268, h.QoffsetX)
	f32(272, h.QoffsetY)
	f32(276, h.QoffsetZ)
	for i := range 4 {
		f32(280+4*i, h.SrowX[i])
		f32(296+4*i, h.SrowY[i])
		f32(312+4*i, h.SrowZ[i])
	}
	str(328, 16, h.IntentName)
	str(344, 4, h.Magic)
	return b
}

// encode writes a single-file image: header, the 4-byte extension flag (no extensions) and payload,
// gzipped when asked.
func encode(dst io.Writer, gzipped bool, header, payload []byte) error {
	w := dst
	var zw *gzip.Writer
	if gzipped {
		zw = gzip.NewWriter(dst)
		w = zw
	}
	for _, part := range [][]byte{header, {0, 0, 0, 0}, payload} {
		if _, err := w.Write(part); err != nil {
			return err
		}
	}
	if zw != nil {
		return zw.Close()
	}
	return nil
}
