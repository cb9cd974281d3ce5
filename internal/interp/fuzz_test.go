package interp

import (
	"bytes"
	"testing"
)

// FuzzFill feeds small random slices: Fill must not panic, must answer an error or valid drafts, and between
// two identical slices must draft that slice again, with or without alignment.
func FuzzFill(f *testing.F) {
	f.Add([]byte{5, 4, 2, 3, 1, 0, 0, 1, 1, 2, 2, 0, 1, 0, 2, 1, 1, 0, 0, 0, 2, 2, 1, 1, 0, 1, 0, 2})
	f.Add([]byte{1, 1, 1, 1, 0, 1})
	f.Add([]byte{12, 3, 0, 9, 7, 3, 3, 3, 3, 3, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 5 {
			return
		}
		w, h := int(data[0]%12)+1, int(data[1]%12)+1
		classes := int(data[2]%4) + 1
		gap := int(data[3]%6) + 1
		align := data[4]%2 == 1
		spacing := []float64{0.3, 1, 2.5}[int(data[4]/2)%3]
		n := w * h
		lower, upper := make([]uint8, n), make([]uint8, n)
		for i := range n {
			if 5+i < len(data) {
				lower[i] = data[5+i] % uint8(classes+1)
			}
			if 5+n+i < len(data) {
				upper[i] = data[5+n+i] % uint8(classes+1)
			}
		}
		g := Grid{Width: w, Height: h, Depth: 2*gap + 1, SpacingX: spacing, SpacingY: 1}
		opts := Options{Align: align}
		drafts, err := Fill(g, map[int][]uint8{0: lower, gap: upper, 2 * gap: lower}, classes, opts)
		if err != nil {
			t.Fatalf("valid input refused: %v", err)
		}
		if len(drafts) != 2*(gap-1) {
			t.Fatalf("%d drafts for two gaps of %d", len(drafts), gap)
		}
		for z, d := range drafts {
			if len(d) != n {
				t.Fatalf("slice %d: %d voxels, want %d", z, len(d), n)
			}
			for i, v := range d {
				if int(v) > classes {
					t.Fatalf("slice %d voxel %d: class %d of %d", z, i, v, classes)
				}
			}
		}
		same, err := Fill(g, map[int][]uint8{0: lower, gap: lower}, classes, opts)
		if err != nil {
			t.Fatal(err)
		}
		for z, d := range same {
			if !bytes.Equal(d, lower) {
				t.Fatalf("between two identical slices, slice %d drafts %v, want %v", z, d, lower)
			}
		}
	})
}
