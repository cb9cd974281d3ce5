package agreement

import (
	"math"
	"math/rand/v2"
	"testing"
)

// bruteSquaredDistances is the definition: the minimum over all pixels of the class.
func bruteSquaredDistances(g Grid, labels []uint8, class uint8) []float64 {
	out := make([]float64, len(labels))
	for i := range out {
		best := math.Inf(1)
		x, y := i%g.W, i/g.W
		for k, v := range labels {
			if v != class {
				continue
			}
			dx, dy := float64(k%g.W-x)*g.DX, float64(k/g.W-y)*g.DY
			best = min(best, dx*dx+dy*dy)
		}
		out[i] = best
	}
	return out
}

// The transform is exact against brute force on random sparse and dense masks, square and anisotropic
// spacing, including empty masks and single rows and columns.
func TestSquaredDistancesMatchBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 13))
	sizes := [][2]int{{1, 1}, {1, 9}, {9, 1}, {7, 5}, {16, 16}, {23, 11}}
	spacings := [][2]float64{{1, 1}, {0.5, 3}, {3, 0.5}, {0.78125, 0.78125}}
	densities := []float64{0, 0.01, 0.1, 0.5, 1}
	var env envelope
	for _, sz := range sizes {
		for _, sp := range spacings {
			for _, dens := range densities {
				g := Grid{W: sz[0], H: sz[1], DX: sp[0], DY: sp[1]}
				labels := make([]uint8, g.pixels())
				for i := range labels {
					if rng.Float64() < dens {
						labels[i] = 1
					}
				}
				got := make([]float64, g.pixels())
				squaredDistances(g, labels, 1, box{0, 0, g.W, g.H}, got, &env)
				want := bruteSquaredDistances(g, labels, 1)
				for i := range got {
					if !(got[i] == want[i] || math.Abs(got[i]-want[i]) <= 1e-9*want[i]) {
						t.Fatalf("%dx%d spacing %v density %g: pixel (%d, %d) squared distance %g, want %g",
							g.W, g.H, sp, dens, i%g.W, i/g.W, got[i], want[i])
					}
				}
			}
		}
	}
}

// Within a box holding every pixel of the class, the cropped transform equals the full one.
func TestSquaredDistancesInBox(t *testing.T) {
	g := Grid{W: 30, H: 20, DX: 0.4, DY: 1.3}
	labels := make([]uint8, g.pixels())
	labels[7+5*30], labels[12+9*30], labels[20+6*30] = 1, 1, 1
	b := box{5, 3, 24, 15}
	var env envelope
	got := make([]float64, b.w()*b.h())
	squaredDistances(g, labels, 1, b, got, &env)
	want := bruteSquaredDistances(g, labels, 1)
	for y := range b.h() {
		for x := range b.w() {
			gv, wv := got[x+y*b.w()], want[(b.x0+x)+(b.y0+y)*g.W]
			if math.Abs(gv-wv) > 1e-9*wv {
				t.Fatalf("pixel (%d, %d): %g, want %g", b.x0+x, b.y0+y, gv, wv)
			}
		}
	}
}
