package interp

import "testing"

const benchSize = 320

// cordPair is two labelled 320x320 slices of a cord-sized disc holding an inner class, moved and grown.
func cordPair() (lower, upper []uint8) {
	const w, h = benchSize, benchSize
	lower = disk(w, h, 160, 160, 40, 1)
	paint(lower, w, 145, 175, 150, 170, 2)
	upper = disk(w, h, 170, 150, 50, 1)
	paint(upper, w, 150, 190, 140, 165, 2)
	return lower, upper
}

// BenchmarkFillGap10 is the target (under 150 ms): a gap of 10 slices at 320x320 between two
// labelled slices, 2 classes, every voxel of the 10 drafts decided.
func BenchmarkFillGap10(b *testing.B) {
	lower, upper := cordPair()
	benchmarkGap10(b, Options{}, lower, upper)
}

// BenchmarkFillGap10Align is the same with Options.Align: every distance map sampled moved, per slice.
func BenchmarkFillGap10Align(b *testing.B) {
	lower, upper := cordPair()
	benchmarkGap10(b, Options{Align: true}, lower, upper)
}

// BenchmarkFillGap10Large has a structure filling most of the slice (a brain rather than a cord), so the
// crop around it saves little.
func BenchmarkFillGap10Large(b *testing.B) {
	const w, h = benchSize, benchSize
	lower, upper := disk(w, h, 160, 160, 140, 1), disk(w, h, 165, 155, 150, 1)
	paint(lower, w, 100, 200, 120, 200, 2)
	paint(upper, w, 110, 220, 110, 190, 2)
	benchmarkGap10(b, Options{}, lower, upper)
}

func benchmarkGap10(b *testing.B, opts Options, lower, upper []uint8) {
	g := Grid{Width: benchSize, Height: benchSize, Depth: 12, SpacingX: 0.5, SpacingY: 0.5}
	labelled := map[int][]uint8{0: lower, 11: upper}
	for b.Loop() {
		drafts, err := Fill(g, labelled, 2, opts)
		if err != nil || len(drafts) != 10 {
			b.Fatalf("%d drafts, err %v", len(drafts), err)
		}
	}
}
