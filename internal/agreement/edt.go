package agreement

import "math"

// squaredDistances writes to out, for every pixel, the squared Euclidean distance in mm2 from its centre to
// the centre of the nearest pixel labelled class, or +Inf when no pixel is. It is exact: a scan along each
// column gives the distance to the nearest set pixel of that column, then the lower envelope of the parabolas
// rooted at every pixel of a row (Felzenszwalb and Huttenlocher 2012) combines the columns.
func squaredDistances(g Grid, labels []uint8, class uint8, out []float64, scratch *envelope) {
	w, h := g.W, g.H
	inf := math.Inf(1)
	// Columns: forward then backward scan for the index distance to the nearest set pixel.
	for x := range w {
		last := -1
		for y := range h {
			i := x + y*w
			if labels[i] == class {
				last = y
				out[i] = 0
			} else if last >= 0 {
				out[i] = float64(y - last)
			} else {
				out[i] = inf
			}
		}
		last = -1
		for y := h - 1; y >= 0; y-- {
			i := x + y*w
			if labels[i] == class {
				last = y
			} else if last >= 0 && float64(last-y) < out[i] {
				out[i] = float64(last - y)
			}
		}
		for y := range h {
			i := x + y*w
			d := out[i] * g.DY
			out[i] = d * d // +Inf stays +Inf
		}
	}
	// Rows: the squared distance to a pixel of any column is (dx*(x-r))^2 + column distance of r squared.
	scratch.grow(w)
	for y := range h {
		row := out[y*w : (y+1)*w]
		copy(scratch.f, row)
		scratch.lowerEnvelope(row, g.DX)
	}
}

// envelope holds the buffers of one 1-D transform, reused across rows.
type envelope struct {
	f []float64 // the input row
	v []int     // indices of the parabolas in the lower envelope
	z []float64 // boundaries between them, in index units
}

func (e *envelope) grow(n int) {
	if cap(e.f) < n {
		e.f = make([]float64, n)
		e.v = make([]int, n)
		e.z = make([]float64, n+1)
	}
	e.f, e.v, e.z = e.f[:n], e.v[:n], e.z[:n+1]
}

// lowerEnvelope writes d[q] = min_r (s*(q-r))^2 + f[r] into out, for the row in e.f and spacing s. Entries of
// +Inf have no parabola; a row without any gives +Inf everywhere.
func (e *envelope) lowerEnvelope(out []float64, s float64) {
	f, v, z := e.f, e.v, e.z
	n := len(f)
	s2 := s * s
	k := -1
	for q := range n {
		if math.IsInf(f[q], 1) {
			continue
		}
		if k < 0 {
			k = 0
			v[0] = q
			z[0] = math.Inf(-1)
			z[1] = math.Inf(1)
			continue
		}
		fq := f[q] + s2*float64(q)*float64(q)
		var sep float64
		for {
			r := v[k]
			// Where the parabola rooted at q comes below the one rooted at r; z[0] = -Inf ends the loop.
			sep = (fq - (f[r] + s2*float64(r)*float64(r))) / (2 * s2 * float64(q-r))
			if sep > z[k] {
				break
			}
			k--
		}
		k++
		v[k] = q
		z[k] = sep
		z[k+1] = math.Inf(1)
	}
	if k < 0 {
		for q := range out {
			out[q] = math.Inf(1)
		}
		return
	}
	j := 0
	for q := range n {
		for z[j+1] < float64(q) {
			j++
		}
		d := s * float64(q-v[j])
		out[q] = d*d + f[v[j]]
	}
}
