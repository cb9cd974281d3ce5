package metrics

import "math"

// surface returns the indices of the mask's boundary pixels: pixels of the mask with at least one of their four
// edge neighbours outside the mask or outside the image (mask AND NOT its erosion by a cross, with the image's
// outside counted as background, as scipy.ndimage.binary_erosion does by default).
func surface(mask []bool, w, h int) []int {
	var out []int
	for y := range h {
		for x := range w {
			i := x + y*w
			if !mask[i] {
				continue
			}
			if x == 0 || y == 0 || x == w-1 || y == h-1 || !mask[i-1] || !mask[i+1] || !mask[i-w] || !mask[i+w] {
				out = append(out, i)
			}
		}
	}
	return out
}

// distanceTo returns, for every pixel, the Euclidean distance to the nearest of the given points, with pixel
// size spacing (x, y): an exact separable distance transform (Felzenszwalb and Huttenlocher), O(w*h).
// points must not be empty.
func distanceTo(points []int, w, h int, spacing [2]float64) []float64 {
	inf := math.Inf(1)
	d := make([]float64, w*h)
	for i := range d {
		d[i] = inf
	}
	for _, i := range points {
		d[i] = 0
	}
	n := max(w, h)
	f, out := make([]float64, n), make([]float64, n)
	v, z := make([]int, n), make([]float64, n+1)
	// Along x, then along y on the result: squared distances add.
	for y := range h {
		row := d[y*w : (y+1)*w]
		copy(f, row)
		transform1D(f[:w], out[:w], spacing[0], v, z)
		copy(row, out[:w])
	}
	for x := range w {
		for y := range h {
			f[y] = d[x+y*w]
		}
		transform1D(f[:h], out[:h], spacing[1], v, z)
		for y := range h {
			d[x+y*w] = math.Sqrt(out[y])
		}
	}
	return d
}

// transform1D writes out[p] = min over q of f[q] + (s*(p-q))^2: the lower envelope of parabolas rooted at the
// finite f[q]. Positions with no finite f stay +Inf. v and z are scratch (len(f) and len(f)+1).
func transform1D(f, out []float64, s float64, v []int, z []float64) {
	k := -1
	for q, fq := range f {
		if math.IsInf(fq, 1) {
			continue
		}
		pq := s * float64(q)
		for k >= 0 {
			pv := s * float64(v[k])
			// Where parabola q overtakes parabola v[k].
			cross := ((fq + pq*pq) - (f[v[k]] + pv*pv)) / (2 * (pq - pv))
			if cross > z[k] {
				k++
				v[k], z[k] = q, cross
				break
			}
			k--
		}
		if k < 0 {
			k = 0
			v[0], z[0] = q, math.Inf(-1)
		}
		z[k+1] = math.Inf(1)
	}
	if k < 0 {
		for p := range out {
			out[p] = math.Inf(1)
		}
		return
	}
	j := 0
	for p := range out {
		pp := s * float64(p)
		for z[j+1] < pp {
			j++
		}
		dp := pp - s*float64(v[j])
		out[p] = dp*dp + f[v[j]]
	}
}
