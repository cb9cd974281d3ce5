package store

import (
	"bytes"
	"compress/zlib"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mriworkbench/workbench/internal/testenv"
	"github.com/mriworkbench/workbench/nifti"
)

// FuzzMaskCodec feeds arbitrary bytes to the decoder of stored label masks and arbitrary masks to the
// encoder and to the check that guards it. Decoding never panics, and what it decodes encodes back to the
// same mask; every mask encodes and decodes to itself; checkMask accepts exactly the masks of the slice's
// size whose values are classes of the project, and what it stores decodes to the mask.
func FuzzMaskCodec(f *testing.F) {
	f.Add(packMask(nil), []byte{}, uint16(1), uint8(2))
	f.Add(packMask(filled(1, 0)), filled(1, 0), uint16(4), uint8(2))
	f.Add(packMask(filled(2, 2)), filled(3, 2), uint16(4), uint8(2)) // class 3 of 2: refused
	f.Add([]byte("not zlib at all"), bytes.Repeat([]byte{1}, 100), uint16(10), uint8(1))
	packed := packMask(filled(0, 1))
	f.Add(packed[:len(packed)-2], filled(0, 1)[:5], uint16(3), uint8(1)) // truncated checksum, short mask
	var dict bytes.Buffer                                                // a preset dictionary the decoder has not got
	zw, _ := zlib.NewWriterLevelDict(&dict, zlib.BestSpeed, []byte("dictionary"))
	zw.Write(filled(1, 1))
	zw.Close()
	f.Add(dict.Bytes(), filled(1, 1), uint16(4), uint8(1))
	for _, seed := range realMaskSeeds(f) {
		f.Add(packMask(seed.mask), seed.mask, uint16(seed.width), uint8(seed.classes))
	}
	f.Fuzz(func(t *testing.T, packed, mask []byte, width uint16, classes uint8) {
		if decoded, err := unpackMask(packed); err == nil {
			if again, err := unpackMask(packMask(decoded)); err != nil || !bytes.Equal(again, decoded) {
				t.Fatalf("a decoded mask of %d bytes does not survive encoding again: %v", len(decoded), err)
			}
		} else if msg := err.Error(); msg == "" || strings.Contains(msg, "\n") {
			t.Fatalf("decode refusal %q is not one line", msg)
		}

		stored := packMask(mask)
		if decoded, err := unpackMask(stored); err != nil || !bytes.Equal(decoded, mask) {
			t.Fatalf("a mask of %d bytes does not round-trip: %v", len(mask), err)
		}

		// A slice of width columns and as many rows as the mask fills (its length need not fit the grid).
		w := max(1, int(width%512))
		g := Geometry{Shape: [3]int{w, max(1, len(mask)/w), 3}}
		want := len(mask) == g.SliceLen()
		for _, v := range mask {
			want = want && int(v) <= int(classes)
		}
		checked, err := checkMask(g, int(classes), 1, mask)
		switch {
		case err != nil && want:
			t.Fatalf("a %dx%d mask with classes up to %d is refused: %v", g.Shape[0], g.Shape[1], classes, err)
		case err == nil && !want:
			t.Fatalf("a mask of %d values for a %dx%d slice with %d classes is accepted", len(mask), g.Shape[0], g.Shape[1], classes)
		case err != nil && !isValidation(err):
			t.Fatalf("refusal %v is not a one-line validation error", err)
		case err == nil:
			if decoded, err := unpackMask(checked); err != nil || !bytes.Equal(decoded, mask) {
				t.Fatalf("a checked mask does not decode to itself: %v", err)
			}
		}
	})
}

type maskSeed struct {
	mask           []uint8
	width, classes int
}

// realMaskSeeds returns axial slices of expert masks from the shared MRI data (on the canonical grid, as the
// store keeps them): for each file its most labelled slice and an edge slice. Absent data leaves the
// synthetic seeds, unless WORKBENCH_REQUIRE_DATA=1.
func realMaskSeeds(f *testing.F) []maskSeed {
	var seeds []maskSeed
	for _, c := range []struct {
		rel     string
		classes int
	}{
		{"msd-hippocampus/labelsTr/hippocampus_001.nii.gz", 2},
		{"msd-hippocampus/labelsTr/hippocampus_044.nii.gz", 2},
		{"sct_testing_data/t2s/t2s_gmseg_manual.nii.gz", 1},
		{"sct_testing_data/t2/t2_seg-manual.nii.gz", 1},
		{"gm-challenge-data/derivatives/labels/sub-9709Ses1/anat/sub-9709Ses1_run-1_T2starw_gmseg-manual.nii.gz", 1},
	} {
		path := filepath.Join(testenv.RepoRoot(f), "..", "shared", "data", filepath.FromSlash(c.rel))
		if _, err := os.Stat(path); err != nil {
			if testenv.DataRequired() {
				f.Fatalf("fuzz seed %s: %v (%s=1: required)", c.rel, err, testenv.RequireDataEnv)
			}
			continue
		}
		img, err := nifti.Read(path)
		if err != nil {
			f.Fatalf("fuzz seed %s: %v", c.rel, err)
		}
		vol, _ := img.Canonical()
		best, bestCount := 0, -1
		for z := range vol.NumSlices() {
			count := 0
			for _, v := range vol.Slice(z) {
				if v != 0 {
					count++
				}
			}
			if count > bestCount {
				best, bestCount = z, count
			}
		}
		for _, z := range []int{best, 0} {
			mask := make([]uint8, vol.SliceLen())
			for i, v := range vol.Slice(z) {
				mask[i] = uint8(min(max(v, 0), float32(c.classes)))
			}
			seeds = append(seeds, maskSeed{mask: mask, width: vol.Shape[0], classes: c.classes})
		}
	}
	return seeds
}
