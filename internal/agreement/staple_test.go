package agreement

import (
	"fmt"
	"math"
	"testing"
)

// Identical reads are perfect raters: EM converges to identity confusion matrices, so every read has
// sensitivity and specificity 1 and the consensus is the read.
func TestStapleIdenticalReads(t *testing.T) {
	g := Grid{W: 10, H: 8, DX: 1, DY: 1}
	read := make([]uint8, g.pixels())
	paint(read, g.W, 1, 1, 5, 6, 1)
	paint(read, g.W, 6, 2, 9, 7, 2)
	res, err := Staple(g, [][]uint8{read, read, read}, 2, StapleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Converged || res.Iterations < 2 || res.Iterations > defaultStapleIterations {
		t.Errorf("converged %v after %d iterations, want convergence within %d",
			res.Converged, res.Iterations, defaultStapleIterations)
	}
	for i, v := range read {
		if res.Consensus[i] != v || res.Probability[v][i] < 1-1e-6 {
			t.Fatalf("pixel %d: consensus %d with probability %g, want %d near 1", i, res.Consensus[i],
				res.Probability[v][i], v)
		}
	}
	for j := range 3 {
		for c := range 3 {
			if math.Abs(res.Sensitivity[j][c]-1) > 1e-6 || math.Abs(res.Specificity[j][c]-1) > 1e-6 {
				t.Errorf("read %d label %d: sensitivity %g, specificity %g, want 1", j, c,
					res.Sensitivity[j][c], res.Specificity[j][c])
			}
		}
	}
}

// Two careful reads and one that marks a whole extra region: STAPLE follows the two, and scores the third
// below them on class 1's specificity (it says 1 where the truth is background) but not on sensitivity.
func TestStapleDownweightsTheOddRead(t *testing.T) {
	g := Grid{W: 16, H: 16, DX: 1, DY: 1}
	good := make([]uint8, g.pixels())
	paint(good, g.W, 2, 2, 8, 8, 1)
	odd := append([]uint8(nil), good...)
	paint(odd, g.W, 9, 9, 15, 15, 1)
	res, err := Staple(g, [][]uint8{good, good, odd}, 1, StapleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range good {
		if res.Consensus[i] != v {
			t.Fatalf("pixel (%d, %d): consensus %d, want the careful reads' %d", i%g.W, i/g.W, res.Consensus[i], v)
		}
	}
	if !(res.Specificity[2][1] < res.Specificity[0][1]-0.1) || math.Abs(res.Sensitivity[2][1]-1) > 1e-6 {
		t.Errorf("odd read: class 1 specificity %g (careful %g), sensitivity %g; want specificity lower by "+
			"over 0.1 and sensitivity 1", res.Specificity[2][1], res.Specificity[0][1], res.Sensitivity[2][1])
	}
}

// The iteration limit ends EM early and says so.
func TestStapleIterationLimit(t *testing.T) {
	g := Grid{W: 16, H: 16, DX: 1, DY: 1}
	a, b := make([]uint8, g.pixels()), make([]uint8, g.pixels())
	paint(a, g.W, 2, 2, 8, 8, 1)
	paint(b, g.W, 3, 3, 9, 9, 1)
	res, err := Staple(g, [][]uint8{a, b, a}, 1, StapleOptions{MaxIterations: 1, Tolerance: 1e-12})
	if err != nil {
		t.Fatal(err)
	}
	if res.Iterations != 1 || res.Converged {
		t.Errorf("%d iterations, converged %v; want 1, false", res.Iterations, res.Converged)
	}
}

// The map that groups pixels when the label tuples are too many for a table gives the same groups.
func TestGroupPatternsTableAndMapAgree(t *testing.T) {
	reads := [][]uint8{{0, 1, 2, 1, 0, 2}, {0, 1, 1, 1, 0, 2}, {2, 1, 0, 1, 2, 2}}
	table := groupPatterns(6, reads, 3)   // 27 tuples: the table
	mapped := groupPatterns(6, reads, 41) // 41^3 > denseKeys: the map
	if fmt.Sprint(table.of, table.count, table.labels) != fmt.Sprint(mapped.of, mapped.count, mapped.labels) {
		t.Errorf("table groups %v %v %v, map groups %v %v %v", table.of, table.count, table.labels,
			mapped.of, mapped.count, mapped.labels)
	}
	if fmt.Sprint(table.of) != "[0 1 2 1 0 3]" {
		t.Errorf("pixel groups %v, want [0 1 2 1 0 3] (pixels 0 and 4 share a tuple)", table.of)
	}
}
