package nifti

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"testing"
)

// checkDecodeCanonical decodes the file at path straight onto the canonical grid and compares it, bit for
// bit, with img (read in file order) put there by Canonical (vol).
func checkDecodeCanonical(t *testing.T, path string, img *Image, vol *Volume) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	got, gotVol, err := DecodeCanonical(f, info.Size(), ReadOptions{})
	if err != nil {
		t.Fatalf("DecodeCanonical: %v", err)
	}
	compareCanonical(t, got, gotVol, img, vol)
}

func compareCanonical(t *testing.T, got *Image, gotVol *Volume, img *Image, vol *Volume) {
	t.Helper()
	if got.Data != nil {
		t.Error("DecodeCanonical's image holds file-order data too")
	}
	// Printed, so that NaN fields (a damaged header may hold them) compare equal.
	if fmt.Sprint(got.Header) != fmt.Sprint(img.Header) || len(got.Extensions) != len(img.Extensions) {
		t.Errorf("DecodeCanonical header or extensions differ from the file-order read")
	}
	if gotVol.Shape != vol.Shape || gotVol.Affine != vol.Affine || gotVol.Spacing != vol.Spacing {
		t.Errorf("DecodeCanonical geometry %v %v %v, Canonical %v %v %v", gotVol.Shape, gotVol.Spacing, gotVol.Affine,
			vol.Shape, vol.Spacing, vol.Affine)
	}
	if len(gotVol.Data) != len(vol.Data) {
		t.Fatalf("DecodeCanonical has %d voxels, Canonical %d", len(gotVol.Data), len(vol.Data))
	}
	for i := range vol.Data {
		if math.Float32bits(gotVol.Data[i]) != math.Float32bits(vol.Data[i]) {
			t.Fatalf("canonical voxel %d: DecodeCanonical %v, Canonical %v", i, gotVol.Data[i], vol.Data[i])
		}
	}
}

// orientedHeader sets h's sform so that the image's canonical orientation is o, with spacings 1, 2 and 3 mm.
func orientedHeader(h *Header, o Orientation) {
	var rows [3][4]float64
	for i, p := range o.Perm {
		v := float64(i + 1)
		if o.Flip[i] {
			v = -v
		}
		rows[i][p] = v
	}
	h.SformCode = 1
	h.SrowX, h.SrowY, h.SrowZ = rows[0], rows[1], rows[2]
}

// Every permutation and flip, every datatype family, both byte orders, scaled or not, plain or gzipped:
// decoding straight onto the canonical grid gives exactly what reading in file order and Canonical give.
func TestDecodeCanonicalMatchesCanonical(t *testing.T) {
	shape := [3]int{5, 3, 4} // three different lengths, several chunks' worth of rows
	nvox := shape[0] * shape[1] * shape[2]
	perms := [][3]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}}
	types := []struct {
		code int16
		bpv  int
	}{{DTUint8, 1}, {DTInt16, 2}, {DTFloat32, 4}, {DTFloat64, 8}}
	for _, p := range perms {
		for f := range 8 {
			o := Orientation{Perm: p, Flip: [3]bool{f&1 != 0, f&2 != 0, f&4 != 0}}
			for ti, typ := range types {
				order := binary.ByteOrder(binary.LittleEndian)
				if ti%2 == 1 {
					order = binary.BigEndian
				}
				payload := make([]byte, nvox*typ.bpv)
				for i := range payload {
					payload[i] = byte(rand.IntN(256))
				}
				if typ.code == DTFloat32 || typ.code == DTFloat64 {
					// Random bytes may be NaN: keep those, they must land in place too, bit for bit.
					payload[0] = 0x7f
				}
				raw := craft(order, func(h *Header) {
					h.Dim = [8]int64{3, int64(shape[0]), int64(shape[1]), int64(shape[2]), 1, 1, 1, 1}
					h.Datatype, h.Bitpix = typ.code, int16(8*typ.bpv)
					if typ.code == DTInt16 {
						h.SclSlope, h.SclInter = 0.5, -3
					}
					orientedHeader(h, o)
				}, payload)
				for _, data := range [][]byte{raw, gzipBytes(t, raw)} {
					img, err := ReadBytes("x.nii", data)
					if err != nil {
						t.Fatal(err)
					}
					if img.Orientation() != o {
						t.Fatalf("crafted orientation %+v, header gives %+v", o, img.Orientation())
					}
					vol, _ := img.Canonical()
					got, gotVol, err := DecodeCanonical(bytes.NewReader(data), int64(len(data)), ReadOptions{})
					if err != nil {
						t.Fatalf("%+v %s: %v", o, DatatypeName(typ.code), err)
					}
					compareCanonical(t, got, gotVol, img, vol)
				}
			}
		}
	}
}

// A volume large enough to span many chunks, whose dimensions are no multiple of a chunk, a row group or a
// plane group, reads the same both ways whichever source axis becomes canonical x (direct rows, slabs of
// rows, slabs of planes), flipped or not.
func TestDecodeCanonicalManyChunks(t *testing.T) {
	shape := [3]int{67, 129, 37} // 319,791 voxels: chunks end mid-row and mid-plane
	payload := make([]byte, 2*shape[0]*shape[1]*shape[2])
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	for _, o := range []Orientation{
		{Perm: [3]int{0, 2, 1}, Flip: [3]bool{true, false, true}},
		{Perm: [3]int{1, 0, 2}, Flip: [3]bool{false, true, false}},
		{Perm: [3]int{1, 2, 0}, Flip: [3]bool{true, true, true}},
		{Perm: [3]int{2, 0, 1}, Flip: [3]bool{true, false, true}},
		{Perm: [3]int{2, 1, 0}, Flip: [3]bool{false, false, false}},
	} {
		raw := gzipBytes(t, craft(binary.LittleEndian, func(h *Header) {
			h.Dim = [8]int64{3, int64(shape[0]), int64(shape[1]), int64(shape[2]), 1, 1, 1, 1}
			h.Datatype, h.Bitpix = DTUint16, 16
			orientedHeader(h, o)
		}, payload))
		img, err := ReadBytes("x.nii.gz", raw)
		if err != nil {
			t.Fatal(err)
		}
		vol, _ := img.Canonical()
		got, gotVol, err := DecodeCanonical(bytes.NewReader(raw), int64(len(raw)), ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		compareCanonical(t, got, gotVol, img, vol)
	}
}

// BenchmarkDecodeCanonical decodes a 512x512x128 uint8 volume (128 MiB as float32) straight onto the
// canonical grid, per source axis that becomes canonical x; compare with BenchmarkReadThenCanonical.
func BenchmarkDecodeCanonical(b *testing.B) {
	for _, c := range benchOrientations {
		raw := benchVolumeFile(b, c.o)
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(512 * 512 * 128 * 4)
			for b.Loop() {
				if _, _, err := DecodeCanonical(bytes.NewReader(raw), int64(len(raw)), ReadOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReadThenCanonical is the same work the way it was done before DecodeCanonical: read in file order,
// then Canonical's copy.
func BenchmarkReadThenCanonical(b *testing.B) {
	for _, c := range benchOrientations {
		raw := benchVolumeFile(b, c.o)
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(512 * 512 * 128 * 4)
			for b.Loop() {
				img, err := ReadBytes("x.nii.gz", raw)
				if err != nil {
					b.Fatal(err)
				}
				img.Canonical()
			}
		})
	}
}

var benchOrientations = []struct {
	name string
	o    Orientation
}{
	{"x-is-x", Orientation{Perm: [3]int{0, 1, 2}, Flip: [3]bool{true, false, false}}},
	{"y-is-x", Orientation{Perm: [3]int{1, 0, 2}, Flip: [3]bool{false, true, false}}},
	{"z-is-x", Orientation{Perm: [3]int{2, 0, 1}, Flip: [3]bool{false, true, true}}}, // sagittal
}

func benchVolumeFile(b *testing.B, o Orientation) []byte {
	data := make([]byte, 512*512*128)
	for i := range data {
		data[i] = byte(i % 251)
	}
	return gzipBytes(b, craft(binary.LittleEndian, func(h *Header) {
		h.Dim = [8]int64{3, 512, 512, 128, 1, 1, 1, 1}
		orientedHeader(h, o)
	}, data))
}

// Truncated and damaged files are refused with the file-order reader's reasons; a header claiming more data
// than the bytes given can hold is refused before the voxel buffer is allocated.
func TestDecodeCanonicalRefusals(t *testing.T) {
	le := binary.LittleEndian
	full := craft(le, func(h *Header) { h.Dim = [8]int64{3, 40, 50, 60, 1, 1, 1, 1} }, make([]byte, 40*50*60))
	for _, data := range [][]byte{full[:len(full)-1000], gzipBytes(t, full[:len(full)-1000]), gzipBytes(t, full)[:200]} {
		_, want := ReadBytes("x.nii", data)
		_, _, err := DecodeCanonical(bytes.NewReader(data), int64(len(data)), ReadOptions{})
		if want == nil || err == nil || err.Error() != want.Error() {
			t.Errorf("DecodeCanonical error %v, file-order reader %v", err, want)
		}
	}
	// Unknown size: the stream itself shows the truncation.
	_, want := ReadBytes("x.nii", full[:len(full)-1])
	if _, _, err := DecodeCanonical(bytes.NewReader(full[:len(full)-1]), -1, ReadOptions{}); err == nil || err.Error() != want.Error() {
		t.Errorf("unknown size: error %v, want %v", err, want)
	}

	// 1 KB of gzip claiming 1000x1000x1000 float32 (4 GB): more than deflate can expand 1 KB to.
	claim := gzipBytes(t, craft(le, func(h *Header) {
		h.Dim = [8]int64{3, 1000, 1000, 1000, 1, 1, 1, 1}
		h.Datatype, h.Bitpix = DTFloat32, 32
	}, make([]byte, 1<<20)))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, err := DecodeCanonical(bytes.NewReader(claim), int64(len(claim)), ReadOptions{})
	runtime.ReadMemStats(&after)
	if err == nil || !strings.HasPrefix(err.Error(), "truncated file: 1000x1000x1000 voxels of FLOAT32") || !strings.Contains(err.Error(), "gzip") {
		t.Errorf("%d bytes of gzip claiming 4 GB: error %v, want a truncation naming gzip", len(claim), err)
	}
	if allocated := after.TotalAlloc - before.TotalAlloc; allocated > 8<<20 {
		t.Errorf("refusal allocated %d bytes", allocated)
	}
	// The voxel limit still applies first.
	if _, _, err := DecodeCanonical(bytes.NewReader(claim), int64(len(claim)), ReadOptions{MaxVoxels: 1000}); err == nil ||
		!strings.Contains(err.Error(), ErrTooManyVoxels.Error()) {
		t.Errorf("over the voxel limit: %v", err)
	}
}

// The deflate bound holds for the most compressible data there is, at the strongest level.
func TestDeflateRatioBound(t *testing.T) {
	zeros := make([]byte, 64<<20)
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(zeros)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	gz := buf.Bytes()
	if ratio := float64(len(zeros)) / float64(len(gz)); ratio >= maxDeflateRatio {
		t.Errorf("64 MiB of zeros gzip to %d bytes, ratio %.1f, not under %d", len(gz), ratio, maxDeflateRatio)
	}
}
