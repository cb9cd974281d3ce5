package agreement

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// bruteCompare is Compare by the definitions: every directed distance by a search over all pixels of the
// other set, the percentile from a full sort.
func bruteCompare(g Grid, a, b []uint8, class uint8) (dice float64, hd, hd95 *float64) {
	var pa, pb [][2]float64
	both := 0
	for i := range a {
		p := [2]float64{float64(i%g.W) * g.DX, float64(i/g.W) * g.DY}
		if a[i] == class {
			pa = append(pa, p)
		}
		if b[i] == class {
			pb = append(pb, p)
		}
		if a[i] == class && b[i] == class {
			both++
		}
	}
	switch {
	case len(pa) == 0 && len(pb) == 0:
		return 1, ptr(0), ptr(0)
	case len(pa) == 0 || len(pb) == 0:
		return 0, nil, nil
	}
	directed := func(from, to [][2]float64) []float64 {
		out := make([]float64, len(from))
		for k, p := range from {
			best := math.Inf(1)
			for _, q := range to {
				best = min(best, math.Hypot(p[0]-q[0], p[1]-q[1]))
			}
			out[k] = best
		}
		return out
	}
	pooled := append(directed(pa, pb), directed(pb, pa)...)
	slices.Sort(pooled)
	rank := 0.95 * float64(len(pooled)-1)
	lo := int(math.Floor(rank))
	v := pooled[lo]
	if lo+1 < len(pooled) {
		v += (pooled[lo+1] - pooled[lo]) * (rank - float64(lo))
	}
	return 2 * float64(both) / float64(len(pa)+len(pb)), ptr(pooled[len(pooled)-1]), ptr(v)
}

// Random reads of every density, including near-empty and near-full ones, on random grids and spacings:
// Compare equals the definitions, and swapping the reads changes only the sign of the area difference.
func TestCompareMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(2026, 12))
	for trial := range 300 {
		g := Grid{W: 1 + rng.IntN(24), H: 1 + rng.IntN(24), DX: 0.2 + 2*rng.Float64(), DY: 0.2 + 2*rng.Float64()}
		if trial%3 == 0 {
			g.DY = g.DX
		}
		const classes = 2
		reads := make([][]uint8, 2)
		for j := range reads {
			r := make([]uint8, g.pixels())
			p1, p2 := rng.Float64()*rng.Float64(), rng.Float64()*0.3
			// Half the trials make the second read a perturbed copy of the first, where most pixels agree.
			for i := range r {
				switch u := rng.Float64(); {
				case j == 1 && trial%2 == 0 && rng.Float64() < 0.9:
					r[i] = reads[0][i]
				case u < p1:
					r[i] = 1
				case u < p1+p2:
					r[i] = 2
				}
			}
			reads[j] = r
		}
		got, err := Compare(g, reads[0], reads[1], classes)
		if err != nil {
			t.Fatal(err)
		}
		swapped, _ := Compare(g, reads[1], reads[0], classes)
		for c := 1; c <= classes; c++ {
			dice, hd, hd95 := bruteCompare(g, reads[0], reads[1], uint8(c))
			ga := got[c-1]
			if !closeTo(ga.Dice, dice, 1e-12) || !optionalClose(ga.HausdorffMM, hd) || !optionalClose(ga.HD95MM, hd95) {
				t.Fatalf("trial %d %dx%d spacing %gx%g class %d: Dice %v HD %v HD95 %v, want %v %v %v", trial,
					g.W, g.H, g.DX, g.DY, c, ga.Dice, deref(ga.HausdorffMM), deref(ga.HD95MM), dice, deref(hd),
					deref(hd95))
			}
			sw := swapped[c-1]
			if sw.Dice != ga.Dice || !optionalClose(sw.HausdorffMM, ga.HausdorffMM) ||
				!optionalClose(sw.HD95MM, ga.HD95MM) || sw.AreaDiffMM2 != -ga.AreaDiffMM2 {
				t.Fatalf("trial %d class %d: swapped reads give %+v, want the same as %+v but the area sign",
					trial, c, sw, ga)
			}
		}
	}
}

// percentile's order statistics, zeros kept apart, against a sort, with many ties.
func TestPercentileMatchesSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for trial := range 2000 {
		n := 1 + rng.IntN(40)
		zeros := rng.IntN(n + 1)
		if zeros == n {
			zeros = n - 1 // percentile is only called with at least one positive value
		}
		sq := make([]float64, n-zeros)
		for i := range sq {
			sq[i] = float64(1 + rng.IntN(6)) // few distinct values: ties everywhere
		}
		all := make([]float64, 0, n)
		for range zeros {
			all = append(all, 0)
		}
		for _, v := range sq {
			all = append(all, math.Sqrt(v))
		}
		slices.Sort(all)
		p := rng.Float64()
		if trial%4 == 0 {
			p = 0.95
		}
		rank := p * float64(n-1)
		lo := int(math.Floor(rank))
		want := all[lo]
		if lo+1 < n {
			want += (all[lo+1] - all[lo]) * (rank - float64(lo))
		}
		if got := percentile(sq, zeros, p); !closeTo(got, want, 1e-12) {
			t.Fatalf("trial %d: %d zeros and %d values, p %g: %g, want %g", trial, zeros, n-zeros, p, got, want)
		}
	}
}
