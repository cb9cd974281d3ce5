package nifti

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// A few kilobytes of gzip can claim a volume of gigabytes: the voxel limit refuses it from the header, before
// the voxels are read, quickly and without allocating for them.
func TestMaxVoxelsRefusesBeforeReading(t *testing.T) {
	le := binary.LittleEndian
	// 2000x2000x500 uint8 claims 2 G voxels (8 GB as float32); 1 MB of zeros follows, compressed to ~1 KB.
	claim := craft(le, func(h *Header) { h.Dim = [8]int64{3, 2000, 2000, 500, 1, 1, 1, 1} }, make([]byte, 1<<20))
	data := gzipBytes(t, claim)
	if len(data) > 8<<10 {
		t.Fatalf("crafted upload is %d bytes, want a tiny one", len(data))
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	_, err := ReadBytesWith("bomb.nii.gz", data, ReadOptions{MaxVoxels: 1 << 28})
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooManyVoxels) {
		t.Fatalf("error %v, want one wrapping ErrTooManyVoxels", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "2000x2000x500") || strings.Contains(msg, "\n") {
		t.Errorf("error %q should name the shape on one line", msg)
	}
	t.Logf("refused %d bytes of gzip claiming 2000x2000x500 in %v, allocating %d bytes", len(data), elapsed, after.TotalAlloc-before.TotalAlloc)
	if allocated := after.TotalAlloc - before.TotalAlloc; allocated > 4<<20 {
		t.Errorf("refusal allocated %d bytes, want well under the claimed volume", allocated)
	}
	if elapsed > time.Second {
		t.Errorf("refusal took %v", elapsed)
	}

	// Within the limit, the same reader reads normally.
	small := craft(le, nil, make([]byte, 12))
	if _, err := ReadBytesWith("ok.nii", small, ReadOptions{MaxVoxels: 12}); err != nil {
		t.Errorf("image at the limit: %v", err)
	}
	if _, err := ReadBytesWith("big.nii", small, ReadOptions{MaxVoxels: 11}); !errors.Is(err, ErrTooManyVoxels) {
		t.Errorf("image one voxel over the limit: error %v", err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "bomb.nii.gz")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadWith(path, ReadOptions{MaxVoxels: 1 << 28}); !errors.Is(err, ErrTooManyVoxels) {
		t.Errorf("ReadWith: error %v, want one wrapping ErrTooManyVoxels", err)
	}
}

// Extension bytes claimed by vox_offset are bounded too: they are buffered before the voxels.
func TestHugeVoxOffsetRefused(t *testing.T) {
	const offset = 80 << 20
	data := gzipBytes(t, craft(binary.LittleEndian, func(h *Header) { h.VoxOffset = offset }, make([]byte, offset)))
	if _, err := ReadBytes("far.nii.gz", data); err == nil || !strings.Contains(err.Error(), "header extensions") {
		t.Errorf("vox_offset of 80 MiB: error %v, want one about header extensions", err)
	}
}

// ReadHeader reads the header of single files, gzipped or not, and of pairs named by either file, without
// needing the voxel data.
func TestReadHeader(t *testing.T) {
	le, be := binary.LittleEndian, binary.BigEndian
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	shape := [8]int64{3, 4, 5, 6, 1, 1, 1, 1}
	single := craft(le, func(h *Header) { h.Dim = shape }, make([]byte, 4*5*6))
	// Header only: the voxels are missing, which Read refuses and ReadHeader does not need.
	truncated := craft(be, func(h *Header) { h.Dim = shape }, nil)
	pairHdr := encodeNifti1(&Header{Version: 1, SizeofHdr: nifti1HeaderSize, Dim: shape, Datatype: DTInt16, Bitpix: 16,
		Pixdim: [8]float64{1, 1, 1, 1}, Magic: nifti1PairMagic}, le)

	cases := map[string]string{
		"plain":             write("a.nii", single),
		"gzip":              write("b.nii.gz", gzipBytes(t, single)),
		"header only":       write("c.nii", truncated),
		"pair by .hdr":      write("d.hdr", pairHdr),
		"pair by .img":      write("d.img", make([]byte, 2*4*5*6)),
		"gzip pair by .img": write("e.img.gz", gzipBytes(t, make([]byte, 2*4*5*6))),
	}
	write("e.hdr.gz", gzipBytes(t, pairHdr))
	for what, path := range cases {
		h, err := ReadHeader(path)
		if err != nil {
			t.Errorf("%s: %v", what, err)
			continue
		}
		if h.Shape() != [3]int{4, 5, 6} {
			t.Errorf("%s: shape %v", what, h.Shape())
		}
	}
	if _, err := Read(cases["header only"]); err == nil {
		t.Error("Read of a header without voxels succeeded")
	}
	if _, err := ReadHeader(write("junk.nii", bytes.Repeat([]byte("x"), 400))); err == nil {
		t.Error("ReadHeader of junk succeeded")
	}
	if _, err := ReadHeader(filepath.Join(dir, "missing.nii")); err == nil {
		t.Error("ReadHeader of a missing file succeeded")
	}
}
