package nifti

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
)

// Header sizes and magic strings of the two NIfTI versions.
const (
	nifti1HeaderSize  = 348
	nifti2HeaderSize  = 540
	nifti1SingleMagic = "n+1"
	nifti1PairMagic   = "ni1"
	nifti2SingleMagic = "n+2"
	nifti2PairMagic   = "ni2"
)

// Datatype codes of the NIfTI standard (the `datatype` header field).
const (
	DTUint8      = 2
	DTInt16      = 4
	DTInt32      = 8
	DTFloat32    = 16
	DTComplex64  = 32
	DTFloat64    = 64
	DTRGB24      = 128
	DTInt8       = 256
	DTUint16     = 512
	DTUint32     = 768
	DTInt64      = 1024
	DTUint64     = 1280
	DTFloat128   = 1536
	DTComplex128 = 1792
	DTComplex256 = 2048
	DTRGBA32     = 2304
)

var datatypeNames = map[int16]string{
	0:            "UNKNOWN",
	1:            "BINARY",
	DTUint8:      "UINT8",
	DTInt16:      "INT16",
	DTInt32:      "INT32",
	DTFloat32:    "FLOAT32",
	DTComplex64:  "COMPLEX64",
	DTFloat64:    "FLOAT64",
	DTRGB24:      "RGB24",
	255:          "ALL",
	DTInt8:       "INT8",
	DTUint16:     "UINT16",
	DTUint32:     "UINT32",
	DTInt64:      "INT64",
	DTUint64:     "UINT64",
	DTFloat128:   "FLOAT128",
	DTComplex128: "COMPLEX128",
	DTComplex256: "COMPLEX256",
	DTRGBA32:     "RGBA32",
}

// DatatypeName is the NIfTI name of a datatype code ("INT16", "RGB24"...), or "code N" when unknown.
func DatatypeName(code int16) string {
	if name, ok := datatypeNames[code]; ok {
		return name
	}
	return fmt.Sprintf("code %d", code)
}

// bytesPerVoxel is the storage size of the datatypes this package reads; 0 for any other.
func bytesPerVoxel(datatype int16) int {
	switch datatype {
	case DTUint8, DTInt8:
		return 1
	case DTInt16, DTUint16:
		return 2
	case DTInt32, DTUint32, DTFloat32:
		return 4
	case DTInt64, DTUint64, DTFloat64:
		return 8
	}
	return 0
}

// Header holds every field of a NIfTI-1 or NIfTI-2 header. NIfTI-1 values are widened to the NIfTI-2 types;
// fields that exist only in NIfTI-1 (the Analyze leftovers DataTypeName..Regular, GlMax, GlMin) are zero for
// NIfTI-2. Values are kept as stored: the fixes nibabel applies when computing geometry (qfac, zero or negative
// pixdim, invalid xform codes) happen in the methods that compute it, so a header copied to a new file keeps
// its original bytes' meaning.
type Header struct {
	Version   int  // 1 or 2
	BigEndian bool // byte order of the file it was read from

	SizeofHdr    int32
	DataTypeName string // NIfTI-1 only (unused Analyze field)
	DBName       string // NIfTI-1 only (unused Analyze field)
	Extents      int32  // NIfTI-1 only (unused Analyze field)
	SessionError int16  // NIfTI-1 only (unused Analyze field)
	Regular      uint8  // NIfTI-1 only (unused Analyze field)
	DimInfo      uint8

	Dim           [8]int64
	IntentP1      float64
	IntentP2      float64
	IntentP3      float64
	IntentCode    int32
	Datatype      int16
	Bitpix        int16
	SliceStart    int64
	Pixdim        [8]float64
	VoxOffset     float64 // float32 in NIfTI-1, int64 in NIfTI-2
	SclSlope      float64
	SclInter      float64
	SliceEnd      int64
	SliceCode     int32
	XYZTUnits     int32
	CalMax        float64
	CalMin        float64
	SliceDuration float64
	TOffset       float64
	GlMax         int32 // NIfTI-1 only
	GlMin         int32 // NIfTI-1 only
	Descrip       string
	AuxFile       string
	QformCode     int32
	SformCode     int32
	QuaternB      float64
	QuaternC      float64
	QuaternD      float64
	QoffsetX      float64
	QoffsetY      float64
	QoffsetZ      float64
	SrowX         [4]float64
	SrowY         [4]float64
	SrowZ         [4]float64
	IntentName    string
	Magic         string // "n+1", "ni1", "n+2" or "ni2"
}

// IsPair reports whether the header belongs to a .hdr/.img pair (magic "ni1"/"ni2") rather than a single file.
func (h *Header) IsPair() bool { return h.Magic == nifti1PairMagic || h.Magic == nifti2PairMagic }

// NDim is the number of dimensions (dim[0]).
func (h *Header) NDim() int { return int(h.Dim[0]) }

// Shape is the spatial shape (dim[1..3]); dimensions beyond NDim are 1.
func (h *Header) Shape() [3]int {
	s := [3]int{1, 1, 1}
	for i := 0; i < 3 && i < h.NDim(); i++ {
		s[i] = int(h.Dim[i+1])
	}
	return s
}

// Volumes is the number of 3-D volumes (the product of dim[4..dim[0]]).
func (h *Header) Volumes() int64 {
	n := int64(1)
	for i := 4; i <= h.NDim() && i < 8; i++ {
		n *= h.Dim[i]
	}
	return n
}

// headerVersion inspects the first four bytes (sizeof_hdr) and reports the NIfTI version and byte order.
func headerVersion(b []byte) (version int, order binary.ByteOrder, ok bool) {
	if len(b) < 4 {
		return 0, nil, false
	}
	switch {
	case binary.LittleEndian.Uint32(b) == nifti1HeaderSize:
		return 1, binary.LittleEndian, true
	case binary.BigEndian.Uint32(b) == nifti1HeaderSize:
		return 1, binary.BigEndian, true
	case binary.LittleEndian.Uint32(b) == nifti2HeaderSize:
		return 2, binary.LittleEndian, true
	case binary.BigEndian.Uint32(b) == nifti2HeaderSize:
		return 2, binary.BigEndian, true
	}
	return 0, nil, false
}

// ParseHeader decodes a NIfTI-1 (348-byte) or NIfTI-2 (540-byte) header from the start of b and checks that
// it describes an image this package can read: magic, dimensions, datatype, bitpix and vox_offset. It does
// not look at extensions or voxel data.
func ParseHeader(b []byte) (*Header, error) {
	version, order, ok := headerVersion(b)
	if !ok {
		if len(b) < 4 {
			return nil, fmt.Errorf("not a NIfTI file: only %d bytes", len(b))
		}
		return nil, fmt.Errorf("not a NIfTI file: header size field is %d, want 348 or 540", int32(binary.LittleEndian.Uint32(b)))
	}
	size := nifti1HeaderSize
	if version == 2 {
		size = nifti2HeaderSize
	}
	if len(b) < size {
		return nil, fmt.Errorf("not a NIfTI file: header truncated at %d of %d bytes", len(b), size)
	}
	var h *Header
	if version == 1 {
		h = decodeNifti1(b[:size], order)
	} else {
		h = decodeNifti2(b[:size], order)
	}
	if err := h.validate(); err != nil {
		return nil, err
	}
	return h, nil
}

// cString returns the bytes up to the first NUL.
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

func decodeNifti1(b []byte, o binary.ByteOrder) *Header {
	i16 := func(off int) int16 { return int16(o.Uint16(b[off:])) }
	i32 := func(off int) int32 { return int32(o.Uint32(b[off:])) }
	f32 := func(off int) float64 { return float64(math.Float32frombits(o.Uint32(b[off:]))) }
	h := &Header{
		Version:       1,
		BigEndian:     o == binary.BigEndian,
		SizeofHdr:     i32(0),
		DataTypeName:  cString(b[4:14]),
		DBName:        cString(b[14:32]),
		Extents:       i32(32),
		SessionError:  i16(36),
		Regular:       b[38],
		DimInfo:       b[39],
		IntentP1:      f32(56),
		IntentP2:      f32(60),
		IntentP3:      f32(64),
		IntentCode:    int32(i16(68)),
		Datatype:      i16(70),
		Bitpix:        i16(72),
		SliceStart:    int64(i16(74)),
		VoxOffset:     f32(108),
		SclSlope:      f32(112),
		SclInter:      f32(116),
		SliceEnd:      int64(i16(120)),
		SliceCode:     int32(b[122]),
		XYZTUnits:     int32(b[123]),
		CalMax:        f32(124),
		CalMin:        f32(128),
		SliceDuration: f32(132),
		TOffset:       f32(136),
		GlMax:         i32(140),
		GlMin:         i32(144),
		Descrip:       cString(b[148:228]),
		AuxFile:       cString(b[228:252]),
		QformCode:     int32(i16(252)),
		SformCode:     int32(i16(254)),
		QuaternB:      f32(256),
		QuaternC:      f32(260),
		QuaternD:      f32(264),
		QoffsetX:      f32(268),
		QoffsetY:      f32(272),
		QoffsetZ:      f32(276),
		IntentName:    cString(b[328:344]),
		Magic:         cString(b[344:348]),
	}
	for i := range 8 {
		h.Dim[i] = int64(i16(40 + 2*i))
		h.Pixdim[i] = f32(76 + 4*i)
	}
	for i := range 4 {
		h.SrowX[i] = f32(280 + 4*i)
		h.SrowY[i] = f32(296 + 4*i)
		h.SrowZ[i] = f32(312 + 4*i)
	}
	return h
}

func decodeNifti2(b []byte, o binary.ByteOrder) *Header {
	i16 := func(off int) int16 { return int16(o.Uint16(b[off:])) }
	i32 := func(off int) int32 { return int32(o.Uint32(b[off:])) }
	i64 := func(off int) int64 { return int64(o.Uint64(b[off:])) }
	f64 := func(off int) float64 { return math.Float64frombits(o.Uint64(b[off:])) }
	h := &Header{
		Version:       2,
		BigEndian:     o == binary.BigEndian,
		SizeofHdr:     i32(0),
		Magic:         cString(b[4:8]),
		Datatype:      i16(12),
		Bitpix:        i16(14),
		IntentP1:      f64(80),
		IntentP2:      f64(88),
		IntentP3:      f64(96),
		VoxOffset:     float64(i64(168)),
		SclSlope:      f64(176),
		SclInter:      f64(184),
		CalMax:        f64(192),
		CalMin:        f64(200),
		SliceDuration: f64(208),
		TOffset:       f64(216),
		SliceStart:    i64(224),
		SliceEnd:      i64(232),
		Descrip:       cString(b[240:320]),
		AuxFile:       cString(b[320:344]),
		QformCode:     i32(344),
		SformCode:     i32(348),
		QuaternB:      f64(352),
		QuaternC:      f64(360),
		QuaternD:      f64(368),
		QoffsetX:      f64(376),
		QoffsetY:      f64(384),
		QoffsetZ:      f64(392),
		SliceCode:     i32(496),
		XYZTUnits:     i32(500),
		IntentCode:    i32(504),
		IntentName:    cString(b[508:524]),
		DimInfo:       b[524],
	}
	for i := range 8 {
		h.Dim[i] = i64(16 + 8*i)
		h.Pixdim[i] = f64(104 + 8*i)
	}
	for i := range 4 {
		h.SrowX[i] = f64(400 + 8*i)
		h.SrowY[i] = f64(432 + 8*i)
		h.SrowZ[i] = f64(464 + 8*i)
	}
	return h
}

// maxVoxels bounds the voxel count of one volume (2^31, i.e. an 8 GiB float32 array) so that sizes never
// overflow and a hostile header cannot make us allocate without limit.
const maxVoxels = 1 << 31

// validate rejects headers this package cannot or must not read, before anything is allocated for the data.
func (h *Header) validate() error {
	switch {
	case h.Version == 1 && h.Magic != nifti1SingleMagic && h.Magic != nifti1PairMagic,
		h.Version == 2 && h.Magic != nifti2SingleMagic && h.Magic != nifti2PairMagic:
		return fmt.Errorf("not a NIfTI file: magic %q is not a NIfTI-%d magic", h.Magic, h.Version)
	}
	nd := h.NDim()
	if nd < 1 || nd > 7 {
		return fmt.Errorf("invalid NIfTI header: dim[0] = %d, want 1 to 7", h.Dim[0])
	}
	total := int64(1)
	for i := 1; i <= nd; i++ {
		if h.Dim[i] <= 0 {
			return fmt.Errorf("invalid NIfTI header: dim[%d] = %d, dimensions must be positive", i, h.Dim[i])
		}
		if h.Dim[i] > maxVoxels || total > maxVoxels/h.Dim[i] {
			return fmt.Errorf("invalid NIfTI header: dimensions %v hold more than %d voxels", h.Dim[1:nd+1], int64(maxVoxels))
		}
		total *= h.Dim[i]
	}
	bpv := bytesPerVoxel(h.Datatype)
	if bpv == 0 {
		return fmt.Errorf("unsupported datatype %d (%s)", h.Datatype, DatatypeName(h.Datatype))
	}
	if int(h.Bitpix) != 8*bpv {
		return fmt.Errorf("invalid NIfTI header: bitpix %d does not match datatype %s (%d bits)", h.Bitpix, DatatypeName(h.Datatype), 8*bpv)
	}
	if math.IsNaN(h.VoxOffset) || h.VoxOffset < 0 || h.VoxOffset > math.MaxInt64/2 {
		return fmt.Errorf("invalid NIfTI header: vox_offset %g", h.VoxOffset)
	}
	return nil
}

// dataOffset is where voxel data start: in the .img file for pairs, after the header and extensions for single
// files (a single file with vox_offset below the header end is read from the header end, as nifti_clib does).
func (h *Header) dataOffset() int64 {
	off := int64(h.VoxOffset)
	if !h.IsPair() {
		minimum := int64(nifti1HeaderSize + 4)
		if h.Version == 2 {
			minimum = nifti2HeaderSize + 4
		}
		off = max(off, minimum)
	}
	return off
}

// scaling returns the slope and intercept to apply, following nibabel: a zero or non-finite slope means none.
func (h *Header) scaling() (slope, inter float64, err error) {
	if h.SclSlope == 0 || math.IsNaN(h.SclSlope) || math.IsInf(h.SclSlope, 0) {
		return 1, 0, nil
	}
	if math.IsNaN(h.SclInter) || math.IsInf(h.SclInter, 0) {
		return 0, 0, fmt.Errorf("invalid NIfTI header: scl_slope %g with scl_inter %g", h.SclSlope, h.SclInter)
	}
	return h.SclSlope, h.SclInter, nil
}
