package nifti

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"strings"
	"testing"
)

// craft builds a single-file NIfTI-1 image in the given byte order: header, empty extender, then payload.
func craft(o binary.ByteOrder, mutate func(h *Header), payload []byte) []byte {
	h := &Header{
		Version:   1,
		SizeofHdr: nifti1HeaderSize,
		Dim:       [8]int64{3, 2, 3, 2, 1, 1, 1, 1},
		Datatype:  DTUint8,
		Bitpix:    8,
		Pixdim:    [8]float64{1, 1, 1, 1},
		VoxOffset: nifti1HeaderSize + 4,
		SclSlope:  1,
		Magic:     nifti1SingleMagic,
	}
	if mutate != nil {
		mutate(h)
	}
	b := encodeNifti1(h, o)
	b = append(b, 0, 0, 0, 0)
	return append(b, payload...)
}

func expectError(t *testing.T, what string, data []byte, prefix, contains string) {
	t.Helper()
	img, err := ReadBytes("upload.nii", data)
	if err == nil {
		t.Errorf("%s: read without error (shape %v)", what, img.Shape())
		return
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, prefix) || !strings.Contains(msg, contains) || strings.Contains(msg, "\n") {
		t.Errorf("%s: error %q, want one line starting %q containing %q", what, msg, prefix, contains)
	}
}

func TestMalformed(t *testing.T) {
	le := binary.LittleEndian
	valid := craft(le, nil, make([]byte, 12))
	if _, err := ReadBytes("ok.nii", valid); err != nil {
		t.Fatalf("the crafted base image does not read: %v", err)
	}

	expectError(t, "text file", []byte("this is a text file, not an image at all, but it is long enough"), "not a NIfTI file", "header size")
	expectError(t, "empty", nil, "not a NIfTI file", "0 bytes")
	expectError(t, "header cut short", valid[:200], "not a NIfTI file", "header truncated")
	bad := bytes.Clone(valid)
	copy(bad[344:], "xyz")
	expectError(t, "bad magic", bad, "not a NIfTI file", "magic")

	gz := gzipBytes(t, valid)
	expectError(t, "truncated gzip", gz[:len(gz)/2], "truncated gzip data", "")
	expectError(t, "gzip without its trailer", gz[:len(gz)-4], "truncated gzip data", "")
	corrupt := bytes.Clone(gz)
	corrupt[len(corrupt)-6] ^= 0xff // inside the CRC-32 trailer
	expectError(t, "gzip checksum", corrupt, "corrupt gzip data", "")

	expectError(t, "dim[0] = 0", craft(le, func(h *Header) { h.Dim[0] = 0 }, nil), "invalid NIfTI header", "dim[0] = 0")
	expectError(t, "dim[0] = 9", craft(le, func(h *Header) { h.Dim[0] = 9 }, nil), "invalid NIfTI header", "dim[0] = 9")
	expectError(t, "negative dim", craft(le, func(h *Header) { h.Dim[2] = -5 }, nil), "invalid NIfTI header", "dim[2] = -5")
	expectError(t, "zero dim", craft(le, func(h *Header) { h.Dim[3] = 0 }, nil), "invalid NIfTI header", "dim[3] = 0")
	expectError(t, "product overflow", craft(le, func(h *Header) {
		h.Dim = [8]int64{7, 32767, 32767, 32767, 32767, 32767, 32767, 32767}
	}, nil), "invalid NIfTI header", "more than")
	expectError(t, "dims beyond the data", craft(le, func(h *Header) { h.Dim = [8]int64{3, 1000, 1000, 100} }, make([]byte, 64)),
		"truncated file", "100000000 voxels")
	expectError(t, "gzipped dims beyond the data", gzipBytes(t, craft(le, func(h *Header) { h.Dim = [8]int64{3, 1000, 1000, 100} }, make([]byte, 64))),
		"truncated file", "only 64 present") // the gzip stream is whole; its content is short
	expectError(t, "vox_offset past the end", craft(le, func(h *Header) { h.VoxOffset = 1 << 40 }, make([]byte, 12)), "vox_offset", "past the end")
	expectError(t, "negative vox_offset", craft(le, func(h *Header) { h.VoxOffset = -16 }, nil), "invalid NIfTI header", "vox_offset")
	expectError(t, "RGB24", craft(le, func(h *Header) { h.Datatype, h.Bitpix = DTRGB24, 24 }, make([]byte, 36)), "unsupported datatype 128 (RGB24)", "")
	expectError(t, "complex", craft(le, func(h *Header) { h.Datatype, h.Bitpix = DTComplex64, 64 }, make([]byte, 96)), "unsupported datatype 32 (COMPLEX64)", "")
	expectError(t, "unknown datatype", craft(le, func(h *Header) { h.Datatype = 3 }, nil), "unsupported datatype 3 (code 3)", "")
	expectError(t, "bitpix mismatch", craft(le, func(h *Header) { h.Bitpix = 16 }, make([]byte, 12)), "invalid NIfTI header", "bitpix 16")
	expectError(t, "several volumes", craft(le, func(h *Header) { h.Dim[0], h.Dim[4] = 4, 3 }, make([]byte, 36)), "unsupported 4-D image with 3 volumes", "")
	expectError(t, "5-D", craft(le, func(h *Header) { h.Dim[0], h.Dim[5] = 5, 2 }, make([]byte, 24)), "unsupported 5-D image with 2 volumes", "")
	expectError(t, "lone .hdr", craft(le, func(h *Header) { h.Magic = nifti1PairMagic }, nil), "header-only NIfTI file", ".img")
	expectError(t, "infinite intercept", craft(le, func(h *Header) { h.SclSlope, h.SclInter = 2, math.Inf(1) }, make([]byte, 12)), "invalid NIfTI header", "scl_inter")

	ext := craft(le, func(h *Header) { h.VoxOffset = 384 }, nil)
	ext[348] = 1
	ext = append(ext, make([]byte, 32+12)...)
	le.PutUint32(ext[352:], 1000) // an extension larger than the space before the data
	le.PutUint32(ext[356:], 6)
	expectError(t, "corrupt extension", ext, "corrupt header extension", "size 1000")

	if _, err := Read("/nonexistent/file.nii.gz"); err == nil || !strings.HasPrefix(err.Error(), "cannot open image") {
		t.Errorf("missing file: %v", err)
	}
}

// TestDatatypes decodes every supported datatype in both byte orders, with and without scaling.
func TestDatatypes(t *testing.T) {
	values := []float64{0, 1, -2, 100, -128, 127}
	types := []struct {
		code   int16
		signed bool
		put    func(o binary.ByteOrder, b []byte, v float64)
	}{
		{DTUint8, false, func(_ binary.ByteOrder, b []byte, v float64) { b[0] = uint8(v) }},
		{DTInt8, true, func(_ binary.ByteOrder, b []byte, v float64) { b[0] = uint8(int8(v)) }},
		{DTInt16, true, func(o binary.ByteOrder, b []byte, v float64) { o.PutUint16(b, uint16(int16(v))) }},
		{DTUint16, false, func(o binary.ByteOrder, b []byte, v float64) { o.PutUint16(b, uint16(v)) }},
		{DTInt32, true, func(o binary.ByteOrder, b []byte, v float64) { o.PutUint32(b, uint32(int32(v))) }},
		{DTUint32, false, func(o binary.ByteOrder, b []byte, v float64) { o.PutUint32(b, uint32(v)) }},
		{DTInt64, true, func(o binary.ByteOrder, b []byte, v float64) { o.PutUint64(b, uint64(int64(v))) }},
		{DTUint64, false, func(o binary.ByteOrder, b []byte, v float64) { o.PutUint64(b, uint64(v)) }},
		{DTFloat32, true, func(o binary.ByteOrder, b []byte, v float64) { o.PutUint32(b, math.Float32bits(float32(v))) }},
		{DTFloat64, true, func(o binary.ByteOrder, b []byte, v float64) { o.PutUint64(b, math.Float64bits(v)) }},
	}
	for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		for _, typ := range types {
			bpv := bytesPerVoxel(typ.code)
			var vals []float64
			for _, v := range values {
				if v >= 0 || typ.signed {
					vals = append(vals, v)
				}
			}
			payload := make([]byte, len(vals)*bpv)
			for i, v := range vals {
				typ.put(order, payload[i*bpv:], v)
			}
			for _, sc := range []struct{ slope, inter, wantSlope, wantInter float64 }{
				{1, 0, 1, 0}, {0, 5, 1, 0}, {math.NaN(), 5, 1, 0}, {2.5, -3, 2.5, -3},
			} {
				data := craft(order, func(h *Header) {
					h.Dim = [8]int64{3, int64(len(vals)), 1, 1, 1, 1, 1, 1}
					h.Datatype, h.Bitpix = typ.code, int16(8*bpv)
					h.SclSlope, h.SclInter = sc.slope, sc.inter
				}, payload)
				img, err := ReadBytes("t.nii", data)
				if err != nil {
					t.Fatalf("%s %v: %v", DatatypeName(typ.code), order, err)
				}
				if img.Header.BigEndian != (order == binary.BigEndian) {
					t.Errorf("%s %v: byte order not recorded", DatatypeName(typ.code), order)
				}
				for i, v := range vals {
					if want := float32(v*sc.wantSlope + sc.wantInter); img.Data[i] != want {
						t.Errorf("%s %v slope %g inter %g: voxel %d = %g, want %g", DatatypeName(typ.code), order, sc.slope, sc.inter, i, img.Data[i], want)
					}
				}
			}
		}
	}
}

// TestNibabelFallbacks checks geometry nibabel derives from odd headers: pixdim-only affine (x flipped,
// centred), invalid xform codes counted as 0, qfac other than -1 counted as 1, zero pixdim counted as 1.
func TestNibabelFallbacks(t *testing.T) {
	h := &Header{Version: 1, Dim: [8]int64{3, 3, 5, 7}, Pixdim: [8]float64{0, 3, 2, 1}}
	want := [4][4]float64{{-3, 0, 0, 3}, {0, 2, 0, -4}, {0, 0, 1, -3}, {0, 0, 0, 1}} // nibabel's docstring example
	if got := h.Affine(); got != want {
		t.Errorf("pixdim-only affine %v, want %v", got, want)
	}
	h.SformCode, h.SrowX = 9, [4]float64{5, 0, 0, 0}
	if got := h.Affine(); got != want {
		t.Errorf("sform_code 9 should count as 0: affine %v", got)
	}
	h.QformCode, h.Pixdim = 1, [8]float64{0, 3, 0, 1}
	h.QoffsetX, h.QoffsetY, h.QoffsetZ = 1, 2, 3
	if got, want := h.Affine(), ([4][4]float64{{3, 0, 0, 1}, {0, 1, 0, 2}, {0, 0, 1, 3}, {0, 0, 0, 1}}); got != want {
		t.Errorf("qform with qfac 0 and pixdim[2] 0: %v, want %v", got, want)
	}
	h.Pixdim[0] = -1
	if got := h.Affine(); got[2][2] != -1 {
		t.Errorf("qfac -1 should negate z: %v", got)
	}
}

// FuzzReadHeader feeds arbitrary bytes to the header parser and the whole in-memory reader: neither may
// panic, and input without a NIfTI header size must be refused.
func FuzzReadHeader(f *testing.F) {
	f.Add(craft(binary.LittleEndian, nil, make([]byte, 12)))
	f.Add(craft(binary.BigEndian, func(h *Header) { h.Datatype, h.Bitpix = DTInt16, 16 }, make([]byte, 24)))
	f.Add(craft(binary.LittleEndian, func(h *Header) { h.Dim[0], h.Dim[4] = 4, 3 }, make([]byte, 36)))
	for _, name := range []string{"anatomical.nii", "example_nifti2.nii.gz", "example4d.nii.gz", "standard.nii.gz", "nifti1.hdr", "nifti2.hdr"} {
		if raw, err := os.ReadFile(nibabelData + "/" + name); err == nil {
			f.Add(raw[:min(len(raw), 1024)])
		}
	}
	f.Add([]byte("not a nifti file"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := ParseHeader(data)
		if _, _, ok := headerVersion(data); !ok && err == nil {
			t.Fatalf("accepted a header without a NIfTI size field")
		}
		if err == nil {
			if s := h.Shape(); s[0] <= 0 || s[1] <= 0 || s[2] <= 0 || bytesPerVoxel(h.Datatype) == 0 {
				t.Fatalf("accepted shape %v datatype %d", s, h.Datatype)
			}
			h.Affine()
			h.Orientation()
		}
		img, err := ReadBytes("fuzz.nii", data)
		if err == nil {
			s := img.Shape()
			if len(img.Data) != s[0]*s[1]*s[2] {
				t.Fatalf("%d values for shape %v", len(img.Data), s)
			}
			img.Canonical()
		} else if strings.Contains(err.Error(), "\n") {
			t.Fatalf("multi-line error %q", err)
		}
	})
}

// TestShapes reads the shapes a 3-D reader accepts besides plain 3-D: 4-D (and 7-D) with a single volume,
// and 2-D as one slice.
func TestShapes(t *testing.T) {
	le := binary.LittleEndian
	for _, c := range []struct {
		dim  [8]int64
		want [3]int
	}{
		{[8]int64{4, 2, 3, 2, 1, 0, 0, 0}, [3]int{2, 3, 2}},
		{[8]int64{7, 2, 3, 2, 1, 1, 1, 1}, [3]int{2, 3, 2}},
		{[8]int64{2, 4, 3, 9, 9, 9, 9, 9}, [3]int{4, 3, 1}},
	} {
		img, err := ReadBytes("s.nii", craft(le, func(h *Header) { h.Dim = c.dim }, make([]byte, 12)))
		if err != nil {
			t.Fatalf("dim %v: %v", c.dim, err)
		}
		if img.Shape() != c.want || len(img.Data) != 12 {
			t.Errorf("dim %v: shape %v with %d values, want %v", c.dim, img.Shape(), len(img.Data), c.want)
		}
		if vol, _ := img.Canonical(); vol.Shape != c.want {
			t.Errorf("dim %v: canonical shape %v", c.dim, vol.Shape)
		}
	}
}
