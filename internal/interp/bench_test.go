package interp

import "testing"

// BenchmarkFillGap10 is the target (under 150 ms): a gap of 10 slices at 320x320 between two
// labelled slices, 2 classes (a cord-sized disc with an inner class), every voxel drafted.
func BenchmarkFillGap10(b *testing.B) {
	const w, h = 320, 320
	lower := disk(w, h, 160, 160, 40, 1)
	paint(lower, w, 145, 175, 150, 170, 2)
	upper := disk(w, h, 170, 150, 50, 1)
	paint(upper, w, 150, 190, 140, 165, 2)
	g := Grid{Width: w, Height: h, Depth: 12, SpacingX: 0.5, SpacingY: 0.5}
	labelled := map[int][]uint8{0: lower, 11: upper}
	for b.Loop() {
		drafts, err := Fill(g, labelled, 2, Options{})
		if err != nil || len(drafts) != 10 {
			b.Fatalf("%d drafts, err %v", len(drafts), err)
		}
	}
}
