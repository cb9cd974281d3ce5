package interp

import (
	"math"
	"strings"
	"testing"
)

// disk is a w*h mask with class value on the voxels within r of (cx, cy).
func disk(w, h int, cx, cy, r float64, value uint8) []uint8 {
	m := make([]uint8, w*h)
	for y := range h {
		for x := range w {
			if dx, dy := float64(x)-cx, float64(y)-cy; dx*dx+dy*dy <= r*r {
				m[x+y*w] = value
			}
		}
	}
	return m
}

// rect is a w*h mask with class value on x in [x0, x1) and y in [y0, y1).
func rect(w, h, x0, x1, y0, y1 int, value uint8) []uint8 {
	m := make([]uint8, w*h)
	paint(m, w, x0, x1, y0, y1, value)
	return m
}

func paint(m []uint8, w, x0, x1, y0, y1 int, value uint8) {
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			m[x+y*w] = value
		}
	}
}

func count(m []uint8, value uint8) int {
	n := 0
	for _, v := range m {
		if v == value {
			n++
		}
	}
	return n
}

func fill(t *testing.T, g Grid, labelled map[int][]uint8, classes int, opts Options) map[int][]uint8 {
	t.Helper()
	drafts, err := Fill(g, labelled, classes, opts)
	if err != nil {
		t.Fatal(err)
	}
	return drafts
}

func TestDiskRadiusInterpolatesLinearly(t *testing.T) {
	const w, h = 64, 64
	g := Grid{Width: w, Height: h, Depth: 11, SpacingX: 1, SpacingY: 1}
	drafts := fill(t, g, map[int][]uint8{0: disk(w, h, 32, 32, 10, 1), 10: disk(w, h, 32, 32, 20, 1)}, 1, Options{})
	if len(drafts) != 9 {
		t.Fatalf("%d drafts, want one for each of slices 1..9", len(drafts))
	}
	if got, want := float64(count(drafts[5], 1)), math.Pi*15*15; math.Abs(got-want) > 0.02*want {
		t.Errorf("slice 5: area %v, want %.1f (a disc of radius 15) within 2%%", got, want)
	}
	// Every slice against the digitised disc of its radius: the boundary rounds differently, by at most 3%.
	for z := 1; z <= 9; z++ {
		r := 10 + float64(z)
		got, want := float64(count(drafts[z], 1)), float64(count(disk(w, h, 32, 32, r, 1), 1))
		if math.Abs(got-want) > 0.03*want {
			t.Errorf("slice %d: area %v, want %v (a digitised disc of radius %v) within 3%%", z, got, want, r)
		}
	}
}

// Two 20x20 squares, the second shifted 10 voxels right: along the middle row the interpolated square moves
// one voxel per slice and keeps its width; the column inside both keeps its height.
func TestShiftingSquareMovesOneVoxelPerSlice(t *testing.T) {
	const w, h = 50, 40
	g := Grid{Width: w, Height: h, Depth: 11, SpacingX: 1, SpacingY: 1}
	drafts := fill(t, g, map[int][]uint8{0: rect(w, h, 10, 30, 10, 30, 1), 10: rect(w, h, 20, 40, 10, 30, 1)}, 1, Options{})
	for z := 1; z <= 9; z++ {
		d := drafts[z]
		var row []int
		for x := range w {
			if d[x+20*w] == 1 {
				row = append(row, x)
			}
		}
		if len(row) != 20 || row[0] != 10+z || row[19] != 29+z {
			t.Errorf("slice %d: middle row covers %v, want x %d..%d", z, row, 10+z, 29+z)
		}
		rows := 0
		for y := range h {
			if d[25+y*w] == 1 {
				rows++
			}
		}
		if rows != 20 {
			t.Errorf("slice %d: column x=25 covers %d rows, want 20", z, rows)
		}
	}
}

// Anisotropic in-plane spacing: a disc in mm (an ellipse in voxels) grows as a disc in mm.
func TestAnisotropicSpacingIsInMillimetres(t *testing.T) {
	const w, h = 80, 40
	const sx, sy = 0.5, 1.0
	ellipse := func(rmm float64) []uint8 {
		m := make([]uint8, w*h)
		for y := range h {
			for x := range w {
				if dx, dy := (float64(x)-40)*sx, (float64(y)-20)*sy; dx*dx+dy*dy <= rmm*rmm {
					m[x+y*w] = 1
				}
			}
		}
		return m
	}
	g := Grid{Width: w, Height: h, Depth: 3, SpacingX: sx, SpacingY: sy}
	got := fill(t, g, map[int][]uint8{0: ellipse(6), 2: ellipse(14)}, 1, Options{})[1]
	want := ellipse(10)
	diff := 0
	for i := range got {
		if got[i] != want[i] {
			diff++
		}
	}
	if area := count(want, 1); diff > area/25 { // boundary voxels rounding either way
		t.Errorf("interpolated disc of 10 mm differs from the direct one on %d of its %d voxels", diff, area)
	}
}

// Class 1 holds the left part and class 2 the right; the border between them moves from x=16 to x=24. At the
// middle slice every voxel belongs to the class with the more negative distance: the border is at x=20.
func TestTwoClassesCompeteByDistance(t *testing.T) {
	const w, h = 32, 8
	split := func(at int) []uint8 {
		m := rect(w, h, 0, at, 0, h, 1)
		paint(m, w, at, w, 0, h, 2)
		return m
	}
	g := Grid{Width: w, Height: h, Depth: 5, SpacingX: 1, SpacingY: 1}
	drafts := fill(t, g, map[int][]uint8{0: split(16), 4: split(24)}, 2, Options{})
	for z, border := range map[int]int{1: 18, 2: 20, 3: 22} {
		for y := range h {
			for x := range w {
				want := uint8(1)
				if x >= border {
					want = 2
				}
				if got := drafts[z][x+y*w]; got != want {
					t.Fatalf("slice %d voxel (%d,%d): class %d, want %d (border at x=%d)", z, x, y, got, want, border)
				}
			}
		}
	}
}

// Inside the union (first map) the lowest interpolated class distance wins, ties going to the lower class;
// outside it, and on its boundary, background.
func TestBlendPicksLowestDistanceInsideUnion(t *testing.T) {
	before := [][]float64{
		{-5, -5, 1, -2, -6, 1, math.Inf(-1)}, // union
		{-4, -1, 2, -2, 5, -1, 1},
		{-1, -4, 3, -2, 3, 2, 1},
	}
	after := [][]float64{
		{-5, -5, 1, -2, -6, -1, -1},
		{-2, -1, 2, -2, 5, 1, 1},
		{-1, -4, 3, -2, 3, 2, -3},
	}
	got := blend(7, []int{1, 2}, before, after, 0.5)
	want := []uint8{
		1, // most negative
		2, // most negative
		0, // outside the union
		1, // tie between classes: the lower
		2, // a hole inside the union where no class is negative: the nearest class
		0, // on the union's boundary (0): background
		2, // union filling a slice (-Inf): inside
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("voxel %d: class %d, want %d (all: %v)", i, got[i], want[i], got)
		}
	}
}

// Nested classes (grey matter inside the cord, moving): interpolated separately
// their shapes need not meet, but the union of the draft's classes is the cord interpolated as one shape.
func TestNestedClassesLeaveNoHoles(t *testing.T) {
	const w, h = 60, 50
	cord := func(cx, cy, r, gx, gy, gr float64) []uint8 {
		m := disk(w, h, cx, cy, r, 1)
		for i, v := range disk(w, h, gx, gy, gr, 2) {
			if v != 0 {
				m[i] = v
			}
		}
		return m
	}
	lower, upper := cord(28, 25, 14, 24, 25, 5), cord(32, 24, 15, 33, 21, 6)
	union := func(m []uint8) []uint8 {
		out := make([]uint8, len(m))
		for i, v := range m {
			out[i] = min(v, 1)
		}
		return out
	}
	g := Grid{Width: w, Height: h, Depth: 9, SpacingX: 0.8, SpacingY: 0.8}
	drafts := fill(t, g, map[int][]uint8{0: lower, 8: upper}, 2, Options{})
	whole := fill(t, g, map[int][]uint8{0: union(lower), 8: union(upper)}, 1, Options{})
	for z := 1; z <= 7; z++ {
		got, want := union(drafts[z]), whole[z]
		diff := 0
		for i := range got {
			if got[i] != want[i] {
				diff++
			}
		}
		if diff > 0 || count(drafts[z], 2) == 0 {
			t.Errorf("slice %d: the classes' union differs from the cord interpolated whole on %d voxels (grey matter %d)",
				z, diff, count(drafts[z], 2))
		}
	}
}

// A class on only one side of a gap is left out of it; a gap that no class crosses drafts background.
func TestClassOnOneSideIsNotExtended(t *testing.T) {
	const w, h = 40, 40
	both := disk(w, h, 20, 20, 8, 1)
	withTwo := disk(w, h, 20, 20, 8, 1)
	paint(withTwo, w, 0, 5, 0, 5, 2)
	g := Grid{Width: w, Height: h, Depth: 12, SpacingX: 1, SpacingY: 1}
	drafts := fill(t, g, map[int][]uint8{0: withTwo, 4: both, 8: rect(w, h, 30, 35, 30, 35, 2), 11: both}, 2, Options{})
	for z := 1; z <= 3; z++ {
		if n := count(drafts[z], 2); n != 0 || count(drafts[z], 1) == 0 {
			t.Errorf("slice %d: %d voxels of class 2 (present only at slice 0), %d of class 1", z, n, count(drafts[z], 1))
		}
	}
	for _, z := range []int{5, 6, 7, 9, 10} {
		if d, ok := drafts[z]; !ok || count(d, 0) != w*h {
			t.Errorf("slice %d: present %v, want an all-background draft (no class on both sides)", z, ok)
		}
	}
	if len(drafts) != 8 {
		t.Errorf("%d drafts, want 8 (slices 1-3, 5-7, 9-10)", len(drafts))
	}
}

func TestOptionsLimitClassAndSlices(t *testing.T) {
	const w, h = 40, 40
	a := disk(w, h, 20, 20, 10, 1)
	paint(a, w, 0, 6, 0, 6, 2)
	b := disk(w, h, 20, 20, 12, 1)
	paint(b, w, 0, 8, 0, 8, 2)
	g := Grid{Width: w, Height: h, Depth: 20, SpacingX: 1, SpacingY: 1}
	labelled := map[int][]uint8{2: a, 10: b, 15: a}
	all := fill(t, g, labelled, 2, Options{})
	only2 := fill(t, g, labelled, 2, Options{Class: 2, Slices: &Range{From: 8, To: 12}})
	if len(only2) != 4 {
		t.Fatalf("drafts for slices %v, want 8, 9, 11, 12", keys(only2))
	}
	for _, z := range []int{8, 9, 11, 12} {
		d := only2[z]
		if d == nil || count(d, 1) != 0 || count(d, 2) != count(all[z], 2) || count(d, 2) == 0 {
			t.Errorf("slice %d: class 1 %d, class 2 %d voxels; want none and %d", z, count(d, 1), count(d, 2), count(all[z], 2))
		}
	}
}

func keys(m map[int][]uint8) []int {
	var out []int
	for z := range m {
		out = append(out, z)
	}
	return out
}

// A class covering a whole slice has no outside to measure to; it stays inside everywhere without NaN.
func TestClassFillingSlice(t *testing.T) {
	const w, h = 16, 16
	full := make([]uint8, w*h)
	for i := range full {
		full[i] = 1
	}
	g := Grid{Width: w, Height: h, Depth: 3, SpacingX: 1, SpacingY: 1}
	got := fill(t, g, map[int][]uint8{0: full, 2: disk(w, h, 8, 8, 3, 1)}, 1, Options{})[1]
	if count(got, 1) != w*h {
		t.Errorf("%d of %d voxels class 1 between a full slice and a disc", count(got, 1), w*h)
	}
}

func TestNoGapGivesNoDrafts(t *testing.T) {
	g := Grid{Width: 4, Height: 4, Depth: 5, SpacingX: 1, SpacingY: 1}
	m := rect(4, 4, 1, 3, 1, 3, 1)
	for _, labelled := range []map[int][]uint8{{}, {2: m}, {2: m, 3: m}} {
		if d := fill(t, g, labelled, 1, Options{}); len(d) != 0 {
			t.Errorf("labelled slices %v: drafts for %v, want none", keys(labelled), keys(d))
		}
	}
}

func TestBadInputIsOneLineError(t *testing.T) {
	const w, h = 8, 6
	g := Grid{Width: w, Height: h, Depth: 10, SpacingX: 1, SpacingY: 1}
	good := rect(w, h, 2, 5, 2, 5, 1)
	bad := rect(w, h, 2, 5, 2, 5, 3)
	cases := []struct {
		name     string
		g        Grid
		labelled map[int][]uint8
		classes  int
		opts     Options
		want     string
	}{
		{"short mask", g, map[int][]uint8{0: good, 4: good[:10]}, 2, Options{}, "slice 4: mask has 10 values, a 8x6 slice needs 48"},
		{"value over classes", g, map[int][]uint8{0: good, 4: bad}, 2, Options{}, "slice 4: value 3 at voxel 18 is not a class (there are 2)"},
		{"slice outside", g, map[int][]uint8{0: good, 10: good}, 2, Options{}, "labelled slice 10 is outside the volume's 10 slices"},
		{"negative slice", g, map[int][]uint8{-1: good, 4: good}, 2, Options{}, "labelled slice -1 is outside"},
		{"unknown class", g, map[int][]uint8{0: good, 4: good}, 2, Options{Class: 3}, "class 3 is not one of the 2 classes"},
		{"no classes", g, map[int][]uint8{0: good, 4: good}, 0, Options{}, "0 classes"},
		{"empty range", g, map[int][]uint8{0: good, 4: good}, 2, Options{Slices: &Range{From: 3, To: 1}}, "slice range 3..1 is empty"},
		{"zero spacing", Grid{Width: w, Height: h, Depth: 10, SpacingX: 0, SpacingY: 1}, map[int][]uint8{0: good}, 2, Options{}, "in-plane spacing 0x1 mm"},
		{"NaN spacing", Grid{Width: w, Height: h, Depth: 10, SpacingX: 1, SpacingY: math.NaN()}, map[int][]uint8{0: good}, 2, Options{}, "in-plane spacing"},
		{"empty grid", Grid{Width: 0, Height: h, Depth: 10, SpacingX: 1, SpacingY: 1}, nil, 2, Options{}, "empty dimension"},
	}
	for _, c := range cases {
		drafts, err := Fill(c.g, c.labelled, c.classes, c.opts)
		if err == nil || drafts != nil {
			t.Errorf("%s: drafts %v, err %v; want an error", c.name, keys(drafts), err)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") {
			t.Errorf("%s: error %q, want one line containing %q", c.name, msg, c.want)
		}
	}
}

// Two squares that do not overlap: blended in place the shape vanishes mid-gap; aligned it travels from one
// to the other at full size.
func TestAlignCarriesShapeAcrossGap(t *testing.T) {
	const w, h = 70, 30
	g := Grid{Width: w, Height: h, Depth: 5, SpacingX: 1, SpacingY: 1}
	labelled := map[int][]uint8{0: rect(w, h, 5, 21, 7, 23, 1), 4: rect(w, h, 45, 61, 7, 23, 1)}
	plain := fill(t, g, labelled, 1, Options{})
	aligned := fill(t, g, labelled, 1, Options{Align: true})
	if n := count(plain[2], 1); n != 0 {
		t.Errorf("unaligned midpoint has %d voxels, want 0 (the squares do not overlap)", n)
	}
	for z := 1; z <= 3; z++ {
		x0 := 5 + 10*z
		want := rect(w, h, x0, x0+16, 7, 23, 1)
		for i := range want {
			if aligned[z][i] != want[i] {
				t.Fatalf("aligned slice %d: voxel (%d,%d) is %d, want the square at x %d..%d", z, i%w, i/w, aligned[z][i], x0, x0+15)
			}
		}
	}
}

// translate is m moved by (dx, dy) voxels the way blendAligned reads it.
func translate(m []float64, w, h int, dx, dy float64) []float64 {
	xs, ys := taps(w, dx), taps(h, dy)
	out := make([]float64, w*h)
	for y := range h {
		for x := range w {
			out[y*w+x] = sample(m, w, xs[x], ys[y])
		}
	}
	return out
}

// Moving a map: whole and fractional voxels, edges extended, infinite maps kept infinite.
func TestSampleMovesMaps(t *testing.T) {
	m := []float64{0, 1, 2, 3, 10, 11, 12, 13} // 4x2
	got := translate(m, 4, 2, 1, 0)
	want := []float64{0, 0, 1, 2, 10, 10, 11, 12}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("shift right by 1: %v, want %v", got, want)
		}
	}
	got = translate(m, 4, 2, -0.5, 0.5)
	if got[0] != 0.5 || got[3] != 3 || got[4] != 5.5 || got[7] != 8 {
		t.Fatalf("shift by (-0.5, 0.5): %v", got)
	}
	inf := []float64{math.Inf(-1), math.Inf(-1), math.Inf(-1), math.Inf(-1)}
	for _, d := range [][2]float64{{0.25, 0.75}, {1, 0}, {0, 0}} {
		for _, v := range translate(inf, 2, 2, d[0], d[1]) {
			if !math.IsInf(v, -1) {
				t.Fatalf("an infinite map moved by %v to %v", d, v)
			}
		}
	}
}
