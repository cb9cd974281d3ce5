package agreement

import (
	"math"
	"strings"
	"testing"
)

// paint sets the rectangle [x0, x1) x [y0, y1) of a w-wide map to class.
func paint(m []uint8, w, x0, y0, x1, y1 int, class uint8) {
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			m[x+y*w] = class
		}
	}
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-12*max(1, math.Abs(b)) }

func TestCompareIdenticalReads(t *testing.T) {
	g := Grid{W: 12, H: 10, DX: 0.5, DY: 0.8}
	a := make([]uint8, g.pixels())
	paint(a, g.W, 2, 2, 6, 7, 1)
	paint(a, g.W, 7, 1, 11, 3, 2)
	got, err := Compare(g, a, append([]uint8(nil), a...), 2)
	if err != nil {
		t.Fatal(err)
	}
	wantArea := []float64{20 * 0.4, 8 * 0.4}
	for k, ca := range got {
		if ca.Class != k+1 || ca.Dice != 1 || ca.HausdorffMM == nil || *ca.HausdorffMM != 0 ||
			ca.HD95MM == nil || *ca.HD95MM != 0 || !near(ca.AreaAMM2, wantArea[k]) ||
			!near(ca.AreaBMM2, wantArea[k]) || ca.AreaDiffMM2 != 0 {
			t.Errorf("class %d: %+v, want Dice 1, distances 0, areas %g", k+1, ca, wantArea[k])
		}
	}
}

// Two 4x4 squares 10 pixels apart along one axis: Dice 0; the farthest pixel of either square is 10 pixels
// from the other (its far column to the other's near column); the pooled directed distances are 7, 8, 9, 10
// pixels, 8 pixels each, so HD95 (rank 0.95*31 = 29.45, both neighbours 10) is 10 pixels too. The spacing of
// the separating axis alone scales them, whichever axis that is.
func TestCompareDisjointSquaresAnisotropic(t *testing.T) {
	for _, tc := range []struct {
		name     string
		g        Grid
		vertical bool
		wantHD   float64
	}{
		{"horizontal, dx 0.5", Grid{W: 20, H: 8, DX: 0.5, DY: 3}, false, 5},
		{"vertical, dy 3", Grid{W: 8, H: 20, DX: 0.5, DY: 3}, true, 30},
		{"horizontal, dx 2", Grid{W: 20, H: 8, DX: 2, DY: 0.25}, false, 20},
	} {
		a, b := make([]uint8, tc.g.pixels()), make([]uint8, tc.g.pixels())
		if tc.vertical {
			paint(a, tc.g.W, 2, 0, 6, 4, 1)
			paint(b, tc.g.W, 2, 10, 6, 14, 1)
		} else {
			paint(a, tc.g.W, 0, 2, 4, 6, 1)
			paint(b, tc.g.W, 10, 2, 14, 6, 1)
		}
		got, err := Compare(tc.g, a, b, 1)
		if err != nil {
			t.Fatal(err)
		}
		ca := got[0]
		if ca.Dice != 0 || ca.HausdorffMM == nil || !near(*ca.HausdorffMM, tc.wantHD) ||
			ca.HD95MM == nil || !near(*ca.HD95MM, tc.wantHD) || ca.AreaDiffMM2 != 0 {
			t.Errorf("%s: %+v (HD %v, HD95 %v), want Dice 0 and HD = HD95 = %g mm",
				tc.name, ca, deref(ca.HausdorffMM), deref(ca.HD95MM), tc.wantHD)
		}
	}
}

// A diagonal offset mixes both spacings: squares of one pixel at (0, 0) and (3, 4).
func TestCompareDiagonalDistance(t *testing.T) {
	g := Grid{W: 5, H: 5, DX: 0.7, DY: 1.9}
	a, b := make([]uint8, 25), make([]uint8, 25)
	a[0], b[3+4*5] = 1, 1
	got, err := Compare(g, a, b, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := math.Hypot(3*0.7, 4*1.9)
	if !near(*got[0].HausdorffMM, want) || !near(*got[0].HD95MM, want) {
		t.Errorf("HD %g, HD95 %g, want %g", *got[0].HausdorffMM, *got[0].HD95MM, want)
	}
}

// HD95 interpolates between order statistics: A is a 1x20 bar, B the same bar with one pixel 30 pixels away.
// Pooled distances: 20 + 20 zeros, then B's far pixel at 30 - 19 = 11 pixels. n = 41, rank 0.95*40 = 38
// exactly: the 39th smallest, 0. The Hausdorff distance is 11 pixels; HD95 ignores the outlier.
func TestCompareHD95IgnoresOutlier(t *testing.T) {
	g := Grid{W: 50, H: 1, DX: 1, DY: 1}
	a := make([]uint8, 50)
	paint(a, 50, 0, 0, 20, 1, 1)
	b := append([]uint8(nil), a...)
	b[30] = 1
	got, err := Compare(g, a, b, 1)
	if err != nil {
		t.Fatal(err)
	}
	ca := got[0]
	if *ca.HausdorffMM != 11 || *ca.HD95MM != 0 || !near(ca.Dice, 40.0/41) || ca.AreaDiffMM2 != -1 {
		t.Errorf("%+v (HD %g, HD95 %g), want HD 11, HD95 0, Dice 40/41, area difference -1",
			ca, *ca.HausdorffMM, *ca.HD95MM)
	}
	// Five far pixels (30..34, at 11..15 px): 45 pooled, 40 of them 0; rank 0.95*44 = 41.8 lies between the
	// 42nd smallest (12) and the 43rd (13), so 12.8.
	paint(b, 50, 30, 0, 35, 1, 1)
	got, _ = Compare(g, a, b, 1)
	if !near(*got[0].HD95MM, 12.8) || *got[0].HausdorffMM != 15 {
		t.Errorf("five far pixels: HD %g, HD95 %g, want 15 and 12.8", *got[0].HausdorffMM, *got[0].HD95MM)
	}
}

func TestCompareEmptyClasses(t *testing.T) {
	g := Grid{W: 6, H: 6, DX: 1, DY: 1}
	a, b := make([]uint8, 36), make([]uint8, 36)
	paint(a, 6, 1, 1, 3, 3, 1) // class 1 in A only; class 2 in neither
	got, err := Compare(g, a, b, 2)
	if err != nil {
		t.Fatal(err)
	}
	one, none := got[0], got[1]
	if one.Dice != 0 || one.HausdorffMM != nil || one.HD95MM != nil || one.AreaAMM2 != 4 || one.AreaDiffMM2 != 4 {
		t.Errorf("class in one read only: %+v, want Dice 0, nil distances, areas 4 and 0", one)
	}
	if none.Dice != 1 || none.HausdorffMM == nil || *none.HausdorffMM != 0 || none.HD95MM == nil ||
		*none.HD95MM != 0 || none.AreaAMM2 != 0 {
		t.Errorf("class in neither read: %+v, want Dice 1, distances 0", none)
	}
}

func TestPairwiseOrderMatchesCompare(t *testing.T) {
	g := Grid{W: 9, H: 7, DX: 0.6, DY: 1.1}
	reads := make([][]uint8, 3)
	for j := range reads {
		reads[j] = make([]uint8, g.pixels())
		paint(reads[j], g.W, j, 1, 4+j, 5, 1)
		paint(reads[j], g.W, 6, j, 8, 3+j, 2)
	}
	pairs, err := Pairwise(g, reads, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := [][2]int{{0, 1}, {0, 2}, {1, 2}}
	if len(pairs) != len(want) {
		t.Fatalf("%d pairs, want %d", len(pairs), len(want))
	}
	for k, p := range pairs {
		if p.A != want[k][0] || p.B != want[k][1] {
			t.Errorf("pair %d is (%d, %d), want %v", k, p.A, p.B, want[k])
		}
		direct, _ := Compare(g, reads[p.A], reads[p.B], 2)
		for c := range direct {
			d, q := direct[c], p.Classes[c]
			if d.Dice != q.Dice || *d.HausdorffMM != *q.HausdorffMM || *d.HD95MM != *q.HD95MM ||
				d.AreaDiffMM2 != q.AreaDiffMM2 {
				t.Errorf("pair (%d, %d) class %d: Pairwise %+v, Compare %+v", p.A, p.B, c+1, q, d)
			}
		}
	}
}

// Bad input: one line naming the problem, and no result.
func TestBadInputErrors(t *testing.T) {
	g := Grid{W: 4, H: 3, DX: 1, DY: 1}
	ok := make([]uint8, 12)
	high := make([]uint8, 12)
	high[1+2*4] = 3
	cases := []struct {
		name string
		run  func() (any, error)
		want string
	}{
		{"short read", func() (any, error) { return Compare(g, ok, make([]uint8, 11), 2) },
			"agreement: read 1 has 11 pixels, want 12 (4x3)"},
		{"class above count", func() (any, error) { return Compare(g, high, ok, 2) },
			"agreement: read 0 pixel (1, 2) has class 3, above the 2 classes"},
		{"zero classes", func() (any, error) { return Compare(g, ok, ok, 0) },
			"agreement: 0 classes: want 1 to 255"},
		{"zero spacing", func() (any, error) { return Compare(Grid{W: 4, H: 3, DX: 0, DY: 1}, ok, ok, 1) },
			"agreement: pixel spacing 0x1 mm: want positive finite values"},
		{"NaN spacing", func() (any, error) { return Compare(Grid{W: 4, H: 3, DX: 1, DY: math.NaN()}, ok, ok, 1) },
			"agreement: pixel spacing 1xNaN mm: want positive finite values"},
		{"empty grid", func() (any, error) { return Compare(Grid{W: 0, H: 3, DX: 1, DY: 1}, nil, nil, 1) },
			"agreement: grid 0x3: want a positive size of at most 16777216 pixels"},
		{"one read for pairs", func() (any, error) { return Pairwise(g, [][]uint8{ok}, 1) },
			"agreement: 1 read, want at least 2"},
		{"pairwise class", func() (any, error) { return Pairwise(g, [][]uint8{ok, ok, high}, 2) },
			"agreement: read 2 pixel (1, 2) has class 3, above the 2 classes"},
		{"vote without reads", func() (any, error) { return MajorityVote(g, nil, 1) }, "agreement: no reads"},
		{"vote length", func() (any, error) { return MajorityVote(g, [][]uint8{ok, ok[:5]}, 1) },
			"agreement: read 1 has 5 pixels, want 12 (4x3)"},
		{"staple class", func() (any, error) { return Staple(g, [][]uint8{high, ok}, 1, StapleOptions{}) },
			"agreement: read 0 pixel (1, 2) has class 3, above the 1 classes"},
		{"staple of one read", func() (any, error) { return Staple(g, [][]uint8{ok}, 1, StapleOptions{}) },
			"agreement: 1 read, want at least 2"},
		{"staple options", func() (any, error) {
			return Staple(g, [][]uint8{ok, ok}, 1, StapleOptions{MaxIterations: -1})
		}, "agreement: STAPLE options -1 iterations, tolerance 0: want non-negative finite values"},
	}
	for _, tc := range cases {
		res, err := tc.run()
		if err == nil || err.Error() != tc.want || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
		if !isNil(res) {
			t.Errorf("%s: result %v alongside the error, want none", tc.name, res)
		}
	}
}

func isNil(v any) bool {
	switch r := v.(type) {
	case []ClassAgreement:
		return r == nil
	case []Pair:
		return r == nil
	case []uint8:
		return r == nil
	case *StapleResult:
		return r == nil
	}
	return v == nil
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}
