package nifti

import (
	"io"
	"testing"
)

// BenchmarkRead reads the 256x192x20 int16 gm-challenge T2* volume (1 MB gzipped).
func BenchmarkRead(b *testing.B) {
	path := sharedFile(b, "gm-challenge-data/sub-9709Ses1/anat/sub-9709Ses1_run-1_T2starw.nii.gz")
	for b.Loop() {
		if _, err := Read(path); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCanonical reorients the PSR t2 volume (60x55x52), a full permutation with a flip.
func BenchmarkCanonical(b *testing.B) {
	img, err := Read(sharedFile(b, "sct_testing_data/t2/t2.nii.gz"))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		img.Canonical()
	}
}

// BenchmarkEncodeMask encodes a 256x192x20 uint8 mask as .nii.gz content, as an export writes it.
func BenchmarkEncodeMask(b *testing.B) {
	img, err := Read(sharedFile(b, "gm-challenge-data/sub-9709Ses1/anat/sub-9709Ses1_run-1_T2starw.nii.gz"))
	if err != nil {
		b.Fatal(err)
	}
	mask := make([]uint8, len(img.Data))
	for i := range mask {
		mask[i] = uint8(i / 4096 % 3)
	}
	for b.Loop() {
		if err := EncodeMask(io.Discard, &img.Header, mask); err != nil {
			b.Fatal(err)
		}
	}
}
