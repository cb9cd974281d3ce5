package agreement

import "testing"

// benchReads are three raters' reads of a 320x320 slice at 0.5 x 0.6 mm: an ellipse of class 1 around one of
// class 2, each rater's a little shifted and scaled, as two annotators of one structure differ.
func benchReads() (Grid, [][]uint8) {
	g := Grid{W: 320, H: 320, DX: 0.5, DY: 0.6}
	reads := make([][]uint8, 3)
	for j := range reads {
		r := make([]uint8, g.pixels())
		cx, cy := 160+3*float64(j), 150-2*float64(j)
		scale := 1 + 0.04*float64(j-1)
		for y := range g.H {
			for x := range g.W {
				ex, ey := (float64(x)-cx)/(90*scale), (float64(y)-cy)/(70*scale)
				switch d := ex*ex + ey*ey; {
				case d <= 0.3:
					r[x+y*g.W] = 2
				case d <= 1:
					r[x+y*g.W] = 1
				}
			}
		}
		reads[j] = r
	}
	return g, reads
}

func BenchmarkCompare(b *testing.B) {
	g, reads := benchReads()
	for b.Loop() {
		if _, err := Compare(g, reads[0], reads[1], 2); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPairwise(b *testing.B) {
	g, reads := benchReads()
	for b.Loop() {
		if _, err := Pairwise(g, reads, 2); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMajorityVote(b *testing.B) {
	g, reads := benchReads()
	for b.Loop() {
		if _, err := MajorityVote(g, reads, 2); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStaple(b *testing.B) {
	g, reads := benchReads()
	var iterations int
	for b.Loop() {
		res, err := Staple(g, reads, 2, StapleOptions{})
		if err != nil {
			b.Fatal(err)
		}
		iterations = res.Iterations
	}
	b.ReportMetric(float64(iterations), "iterations")
}

// The worst case for the distance maps: 512x512 with both classes scattered over the whole slice, so the
// bounding boxes are the slice and nothing is cropped.
func BenchmarkCompare512Scattered(b *testing.B) {
	g := Grid{W: 512, H: 512, DX: 0.4, DY: 0.4}
	reads := make([][]uint8, 2)
	state := uint32(12345)
	for j := range reads {
		r := make([]uint8, g.pixels())
		for i := range r {
			state = state*1664525 + 1013904223 // a fixed LCG: the same speckle every run
			if v := state >> 24; v < 8 {
				r[i] = 1
			} else if v < 12 {
				r[i] = 2
			}
		}
		reads[j] = r
	}
	for b.Loop() {
		if _, err := Compare(g, reads[0], reads[1], 2); err != nil {
			b.Fatal(err)
		}
	}
}
