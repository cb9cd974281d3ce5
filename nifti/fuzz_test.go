package nifti

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime/metrics"
	"strings"
	"testing"

	"github.com/mriworkbench/workbench/internal/testenv"
)

// fuzzMaxVoxels is the voxel limit of the reader fuzz target: small, so that a header claiming more is
// refused, and a read that honours it allocates little.
const fuzzMaxVoxels = 1 << 14

// fuzzAllocSlack covers what a read allocates besides voxels and header extensions: the header, the bufio
// and gzip state (the inflate window and tables are about 45 KiB), error strings, and the runtime counting
// small allocations a whole span at a time.
const fuzzAllocSlack = 512 << 10

// FuzzReadBytes feeds arbitrary bytes to the in-memory reader with a small voxel limit, under a .nii name, or
// gzipped under a .nii.gz name (so mutations of plain content also reach the gzip path with a valid stream).
// A read never panics, never allocates more than the limit and the bytes present allow, refuses an image
// over the limit with ErrTooManyVoxels, and words every refusal on one line. A successful read is
// self-consistent: as many values as the shape holds, the same image again and through gzip, extensions
// within vox_offset, a canonical volume that maps back to the source exactly, and a mask written with its
// header reads back.
func FuzzReadBytes(f *testing.F) {
	le, be := binary.LittleEndian, binary.BigEndian
	f.Add(craft(le, nil, []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}), false)
	f.Add(craft(be, func(h *Header) { h.Datatype, h.Bitpix = DTInt16, 16 }, make([]byte, 24)), true)
	f.Add(craft(le, func(h *Header) {
		h.Datatype, h.Bitpix, h.SclSlope, h.SclInter = DTFloat32, 32, 2, -1
		h.QformCode, h.QuaternB, h.Pixdim[0] = 1, 1, -1 // 180 degrees about x, qfac -1: flips on two axes
	}, bytes.Repeat([]byte{0, 0, 0x80, 0x3f}, 12)), false)
	f.Add(craft(le, func(h *Header) { h.Dim[0], h.Dim[4] = 4, 3 }, make([]byte, 36)), false)               // 3 volumes: refused
	f.Add(craft(le, func(h *Header) { h.Dim = [8]int64{3, 1 << 10, 1 << 10, 1} }, make([]byte, 64)), true) // over the limit
	f.Add(craft(le, func(h *Header) { h.VoxOffset = 1 << 20 }, make([]byte, 64)), true)                    // vox_offset past the end
	withExtension := craft(le, func(h *Header) { h.VoxOffset = nifti1HeaderSize + 4 + 16 }, nil)
	withExtension[nifti1HeaderSize] = 1                                                        // extender: extensions follow
	withExtension = append(withExtension, 16, 0, 0, 0, 6, 0, 0, 0, 'h', 'i', 0, 0, 0, 0, 0, 0) // a comment
	f.Add(append(withExtension, make([]byte, 12)...), false)
	for _, name := range []string{"anatomical.nii", "example_nifti2.nii.gz", "example4d.nii.gz", "standard.nii.gz"} {
		if raw, err := os.ReadFile(filepath.Join(nibabelData, name)); err == nil {
			addRealSeeds(f, raw)
		}
	}
	for _, rel := range []string{
		"msd-hippocampus/imagesTr/hippocampus_001.nii.gz", "msd-hippocampus/labelsTr/hippocampus_001.nii.gz",
		"sct_testing_data/t2s/t2s.nii.gz", "sct_testing_data/t2/t2.nii.gz",
		"gm-challenge-data/sub-9709Ses1/anat/sub-9709Ses1_run-1_T2starw.nii.gz",
	} {
		addRealSeeds(f, readSharedSeed(f, rel))
	}
	f.Fuzz(func(t *testing.T, data []byte, compress bool) {
		name, input := "fuzz.nii", data
		if compress {
			name, input = "fuzz.nii.gz", gzipBytes(t, data)
		}
		opts := ReadOptions{MaxVoxels: fuzzMaxVoxels}
		img, allocated, err := readCountingAllocs(name, input, opts)
		plain, plainLen := gunzipPrefix(input, nifti2HeaderSize)
		// Voxels of at most the limit, held as float32 and read through byte and float64 buffers; header
		// extensions and the stream before the voxels grow only with the bytes actually there.
		if limit := uint64(fuzzAllocSlack + 24*fuzzMaxVoxels + 6*min(plainLen, maxExtensionBytes+1)); allocated > limit {
			// Another goroutine may have allocated meanwhile: count once more before blaming the reader.
			if _, again, _ := readCountingAllocs(name, input, opts); again > limit {
				t.Fatalf("read of %d bytes (%d decoded) allocated %d bytes, more than %d", len(input), plainLen, again, limit)
			}
		}
		if err != nil {
			checkRefusal(t, err, plain)
			return
		}
		checkImage(t, img)
		if again, err := ReadBytesWith("again.nii.gz", input, opts); err != nil {
			t.Fatalf("second read failed after the first succeeded: %v", err)
		} else if !sameImage(img, again) {
			t.Fatalf("second read of the same bytes differs")
		}
		if !isGzip(input) {
			zipped, err := ReadBytesWith("zipped.nii.gz", gzipBytes(t, input), opts)
			if err != nil {
				t.Fatalf("the gzipped bytes of a readable image are refused: %v", err)
			}
			if !sameImage(img, zipped) {
				t.Fatalf("the gzipped bytes read as a different image")
			}
		}
	})
}

// readCountingAllocs reads with ReadBytesWith and returns how many heap bytes the read allocated.
func readCountingAllocs(name string, data []byte, opts ReadOptions) (*Image, uint64, error) {
	sample := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(sample)
	before := sample[0].Value.Uint64()
	img, err := ReadBytesWith(name, data, opts)
	metrics.Read(sample)
	return img, sample[0].Value.Uint64() - before, err
}

// checkRefusal checks a refused read: a one-line reason, and ErrTooManyVoxels for a valid single-file,
// single-volume header over the limit (plain holds the decoded start of the input).
func checkRefusal(t *testing.T, err error, plain []byte) {
	t.Helper()
	msg := err.Error()
	if msg == "" || strings.Contains(msg, "\n") {
		t.Fatalf("refusal %q is not one line", msg)
	}
	h, herr := ParseHeader(plain)
	if herr != nil || h.IsPair() || h.Volumes() != 1 {
		return
	}
	s := h.Shape()
	if int64(s[0])*int64(s[1])*int64(s[2]) > fuzzMaxVoxels && !errors.Is(err, ErrTooManyVoxels) {
		t.Fatalf("shape %v is over the limit of %d voxels, but the refusal is %q", s, fuzzMaxVoxels, msg)
	}
}

// checkImage checks what a successful read returned against itself.
func checkImage(t *testing.T, img *Image) {
	t.Helper()
	h := &img.Header
	s := img.Shape()
	n := s[0] * s[1] * s[2]
	if s[0] <= 0 || s[1] <= 0 || s[2] <= 0 || n > fuzzMaxVoxels || len(img.Data) != n {
		t.Fatalf("shape %v with %d values under a limit of %d voxels", s, len(img.Data), fuzzMaxVoxels)
	}
	if h.IsPair() || h.Volumes() != 1 {
		t.Fatalf("read a %q image with %d volumes", h.Magic, h.Volumes())
	}
	headerEnd := int64(nifti1HeaderSize)
	if h.Version == 2 {
		headerEnd = nifti2HeaderSize
	}
	room := max(int64(h.VoxOffset), headerEnd+4) - headerEnd - 4
	for _, e := range img.Extensions {
		room -= int64(8 + len(e.Data))
	}
	if room < 0 {
		t.Fatalf("extensions hold %d bytes more than vox_offset %g leaves", -room, h.VoxOffset)
	}

	vol, o := img.Canonical()
	if err := o.Validate(); err != nil {
		t.Fatalf("orientation %+v: %v", o, err)
	}
	if vol.Shape != o.CanonicalShape(s) || o.SourceShape(vol.Shape) != s || len(vol.Data) != n {
		t.Fatalf("canonical shape %v (%d values) for source shape %v under %+v", vol.Shape, len(vol.Data), s, o)
	}
	back := o.ToSourceFloat32(vol.Data, vol.Shape)
	for i := range back {
		if math.Float32bits(back[i]) != math.Float32bits(img.Data[i]) {
			t.Fatalf("canonical volume maps back with voxel %d = %g, read %g", i, back[i], img.Data[i])
		}
	}

	// A mask in this image's grid, written with its header, reads back with the same shape and values.
	mask := make([]uint8, n)
	for i := range mask {
		mask[i] = uint8(i % 3)
	}
	var encoded bytes.Buffer
	if err := EncodeMask(&encoded, h, mask); err != nil {
		if h.Version == 1 {
			t.Fatalf("cannot write a mask with a readable NIfTI-1 header: %v", err)
		}
		return // NIfTI-2 dimensions or codes that do not fit NIfTI-1 are refused with a reason
	}
	written, err := ReadBytes("mask.nii.gz", encoded.Bytes())
	if err != nil {
		t.Fatalf("a mask written with a readable header does not read back: %v", err)
	}
	if written.Shape() != s {
		t.Fatalf("mask written with shape %v reads back as %v", s, written.Shape())
	}
	for i, v := range written.Data {
		if v != float32(mask[i]) {
			t.Fatalf("mask voxel %d written %d reads back %g", i, mask[i], v)
		}
	}
}

// sameImage reports whether two reads returned the same header, extensions and voxel bits.
func sameImage(a, b *Image) bool {
	if fmt.Sprintf("%v", a.Header) != fmt.Sprintf("%v", b.Header) || len(a.Extensions) != len(b.Extensions) || len(a.Data) != len(b.Data) {
		return false
	}
	for i, e := range a.Extensions {
		if e.Code != b.Extensions[i].Code || !bytes.Equal(e.Data, b.Extensions[i].Data) {
			return false
		}
	}
	for i := range a.Data {
		if math.Float32bits(a.Data[i]) != math.Float32bits(b.Data[i]) {
			return false
		}
	}
	return true
}

func isGzip(b []byte) bool { return len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b }

// gunzipPrefix returns the first n bytes of what the reader decodes from b (b itself unless it starts with
// the gzip magic) and how many bytes decoding yields in all, counting up to 256 MiB.
func gunzipPrefix(b []byte, n int) (prefix []byte, total int) {
	if !isGzip(b) {
		return b[:min(n, len(b))], len(b)
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, 0
	}
	var head bytes.Buffer
	got, _ := io.CopyN(&head, zr, int64(n))
	rest, _ := io.Copy(io.Discard, io.LimitReader(zr, 256<<20))
	return head.Bytes(), int(got + rest)
}

// readSharedSeed returns a file of the shared MRI data, or nil when it is absent: the target still fuzzes
// from its synthetic seeds without the data, unless WORKBENCH_REQUIRE_DATA=1.
func readSharedSeed(f *testing.F, rel string) []byte {
	f.Helper()
	path := filepath.Join(testenv.RepoRoot(f), "..", "shared", "data", filepath.FromSlash(rel))
	raw, err := os.ReadFile(path)
	if err != nil && testenv.DataRequired() {
		f.Fatalf("fuzz seed %s: %v (%s=1: required)", rel, err, testenv.RequireDataEnv)
	}
	return raw
}

// addRealSeeds adds a real image file as seeds: the file itself (over the voxel limit, refused from its
// header), and its header with the grid cut down under the limit followed by its first voxel bytes, plain
// and gzipped, so that mutations start from real headers that read.
func addRealSeeds(f *testing.F, raw []byte) {
	if len(raw) == 0 {
		return
	}
	f.Add(raw, false)
	plain := raw
	if isGzip(raw) {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return
		}
		if plain, err = io.ReadAll(zr); err != nil {
			return
		}
	}
	h, err := ParseHeader(plain)
	if err != nil || h.IsPair() {
		return
	}
	dims := [3]int64{min(h.Dim[1], 24), min(h.Dim[2], 24), 1}
	dims[2] = max(1, min(h.Dim[3], fuzzMaxVoxels/(dims[0]*dims[1])))
	offset := h.dataOffset()
	voxelBytes := dims[0] * dims[1] * dims[2] * int64(bytesPerVoxel(h.Datatype))
	if offset+voxelBytes > int64(len(plain)) {
		return
	}
	cut := bytes.Clone(plain[:offset+voxelBytes])
	order := binary.ByteOrder(binary.LittleEndian)
	if h.BigEndian {
		order = binary.BigEndian
	}
	for i, d := range [8]int64{3, dims[0], dims[1], dims[2], 1, 1, 1, 1} {
		if h.Version == 1 {
			order.PutUint16(cut[40+2*i:], uint16(d))
		} else {
			order.PutUint64(cut[16+8*i:], uint64(d))
		}
	}
	f.Add(cut, false)
	f.Add(cut, true)
}
