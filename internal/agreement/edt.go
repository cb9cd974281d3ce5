package agreement

import "math"

// box is the half-open pixel rectangle [x0, x1) x [y0, y1) of a grid.
type box struct{ x0, y0, x1, y1 int }

func (b box) empty() bool { return b.x0 >= b.x1 || b.y0 >= b.y1 }
func (b box) w() int      { return b.x1 - b.x0 }
func (b box) h() int      { return b.y1 - b.y0 }

// union is the smallest box holding both; an empty box adds nothing.
func (b box) union(o box) box {
	switch {
	case o.empty():
		return b
	case b.empty():
		return o
	}
	return box{min(b.x0, o.x0), min(b.y0, o.y0), max(b.x1, o.x1), max(b.y1, o.y1)}
}

// classBoxes gives, per label 0..classes, the bounding box of its pixels (empty when it has none).
func classBoxes(g Grid, labels []uint8, classes int) []box {
	boxes := make([]box, classes+1)
	for c := range boxes {
		boxes[c] = box{g.W, g.H, 0, 0}
	}
	for y := range g.H {
		row := labels[y*g.W : (y+1)*g.W]
		for x, v := range row {
			b := &boxes[v]
			b.x0, b.x1 = min(b.x0, x), max(b.x1, x+1)
			b.y0, b.y1 = min(b.y0, y), max(b.y1, y+1)
		}
	}
	return boxes
}

// squaredDistances writes to out (b.w()*b.h() values, x fastest from b's corner), for every pixel of box b,
// the squared Euclidean distance in mm2 from its centre to the centre of the nearest pixel labelled class, or
// +Inf when there is none. Every pixel of the class must lie in b, so that the nearest one to any pixel of b is
// in b too. It is exact: a scan along each column gives the distance to the nearest set pixel of that column,
// then the lower envelope of the parabolas rooted at every pixel of a row (Felzenszwalb and Huttenlocher 2012)
// combines the columns.
func squaredDistances(g Grid, labels []uint8, class uint8, b box, out []float64, scratch *envelope) {
	bw, bh := b.w(), b.h()
	inf := math.Inf(1)
	scratch.grow(bw)
	// Columns, scanned row by row (memory order) for all columns at once: down, then up.
	last := scratch.v // row of the last set pixel seen per column, -1 for none
	for x := range last {
		last[x] = -1
	}
	for y := range bh {
		row := labels[(b.y0+y)*g.W+b.x0 : (b.y0+y)*g.W+b.x1]
		dst := out[y*bw : (y+1)*bw]
		for x, v := range row {
			switch {
			case v == class:
				last[x] = y
				dst[x] = 0
			case last[x] >= 0:
				dst[x] = float64(y - last[x])
			default:
				dst[x] = inf
			}
		}
	}
	for x := range last {
		last[x] = -1
	}
	for y := bh - 1; y >= 0; y-- {
		row := labels[(b.y0+y)*g.W+b.x0 : (b.y0+y)*g.W+b.x1]
		dst := out[y*bw : (y+1)*bw]
		for x, v := range row {
			if v == class {
				last[x] = y
			} else if last[x] >= 0 && float64(last[x]-y) < dst[x] {
				dst[x] = float64(last[x] - y)
			}
			d := dst[x] * g.DY
			dst[x] = d * d // +Inf stays +Inf
		}
	}
	// Rows: the squared distance to a pixel of column r is (dx*(x-r))^2 + that column's squared distance.
	for y := range bh {
		row := out[y*bw : (y+1)*bw]
		copy(scratch.f, row)
		scratch.lowerEnvelope(row, g.DX)
	}
}

// envelope holds the buffers of one 1-D transform, reused across rows.
type envelope struct {
	f []float64 // the input row
	g []float64 // f[q] + (s*q)^2, the parabola rooted at q less the common term (s*x)^2
	v []int     // indices of the parabolas in the lower envelope, left to right
}

func (e *envelope) grow(n int) {
	if cap(e.f) < n {
		e.f = make([]float64, n)
		e.g = make([]float64, n)
		e.v = make([]int, n)
	}
	e.f, e.g, e.v = e.f[:n], e.g[:n], e.v[:n]
}

// lowerEnvelope writes d[q] = min_r (s*(q-r))^2 + f[r] into out, for the row in e.f and spacing s. Entries of
// +Inf have no parabola; a row without any gives +Inf everywhere.
//
// Parabolas rooted at p < r cross once, at x = (g[r] - g[p]) / (2 s^2 (r - p)); the envelope keeps those whose
// crossings increase left to right. The crossings are compared by cross-multiplying (all the denominators are
// positive) and the final scan compares the parabolas themselves, so the loop has no division.
func (e *envelope) lowerEnvelope(out []float64, s float64) {
	f, g, v := e.f, e.g, e.v
	s2 := s * s
	k := -1
	for q, fq := range f {
		if math.IsInf(fq, 1) {
			continue
		}
		gq := fq + s2*float64(q)*float64(q)
		g[q] = gq
		// Drop the last parabola while q's crossing with it comes no later than its own crossing with the one
		// before: it is then nowhere lowest.
		for k >= 1 {
			r, p := v[k], v[k-1]
			if (gq-g[r])*float64(r-p) > (g[r]-g[p])*float64(q-r) {
				break
			}
			k--
		}
		k++
		v[k] = q
	}
	if k < 0 {
		for q := range out {
			out[q] = math.Inf(1)
		}
		return
	}
	j := 0
	for q := range out {
		dq := s * float64(q-v[j])
		best := dq*dq + f[v[j]]
		for j < k {
			dn := s * float64(q-v[j+1])
			next := dn*dn + f[v[j+1]]
			if next > best {
				break
			}
			j, best = j+1, next
		}
		out[q] = best
	}
}
