package interp

import "math"

// squaredDistance writes into out, for every voxel of a w*h slice (x fastest), the squared Euclidean distance
// in mm² to the nearest feature voxel, +Inf when there is none; the features are the voxels whose value is in
// the set when inSet is true, else the others. It is exact: a linear scan along each row, then the lower envelope of
// parabolas along each column (Felzenszwalb & Huttenlocher 2012), the transform that
// scipy.ndimage.distance_transform_edt computes.
func squaredDistance(mask []uint8, set *[256]bool, inSet bool, w, h int, sx, sy float64, out []float64, s *scratch) {
	// Pass 1, rows: distance in voxels to the nearest feature in the row, left then right.
	for y := range h {
		row := out[y*w : (y+1)*w]
		last := -1
		for x := range w {
			if set[mask[y*w+x]] == inSet {
				last = x
			}
			if last < 0 {
				row[x] = math.Inf(1)
			} else {
				row[x] = float64(x - last)
			}
		}
		last = -1
		for x := w - 1; x >= 0; x-- {
			if set[mask[y*w+x]] == inSet {
				last = x
			}
			if last >= 0 && float64(last-x) < row[x] {
				row[x] = float64(last - x)
			}
		}
		for x := range w {
			row[x] *= sx
			row[x] *= row[x]
		}
	}
	// Pass 2, columns: d(y) = min over q of f(q) + (sy*(y-q))², rows without a feature (f = +Inf) left out.
	f, v, z := s.column[:h], s.vertex[:h], s.bound[:h+1]
	for x := range w {
		for y := range h {
			f[y] = out[y*w+x]
		}
		k := -1
		for q := range h {
			if math.IsInf(f[q], 1) {
				continue
			}
			pq := sy * float64(q)
			var sep float64
			for k >= 0 {
				pv := sy * float64(v[k])
				sep = ((f[q] + pq*pq) - (f[v[k]] + pv*pv)) / (2 * (pq - pv))
				if sep > z[k] {
					break
				}
				k--
			}
			k++
			v[k] = q
			if k == 0 {
				z[k] = math.Inf(-1)
			} else {
				z[k] = sep
			}
			z[k+1] = math.Inf(1)
		}
		if k < 0 {
			for y := range h {
				out[y*w+x] = math.Inf(1)
			}
			continue
		}
		j := 0
		for y := range h {
			py := sy * float64(y)
			for z[j+1] < py {
				j++
			}
			d := py - sy*float64(v[j])
			out[y*w+x] = d*d + f[v[j]]
		}
	}
}

// scratch is one worker's buffers for squaredDistance's column pass: the column, the parabolas' vertices
// and the bounds between them.
type scratch struct {
	column []float64
	vertex []int
	bound  []float64
}

func newScratch(w, h int) *scratch {
	n := max(w, h)
	return &scratch{column: make([]float64, n), vertex: make([]int, n), bound: make([]float64, n+1)}
}

// signedDistance returns the signed distance map of the region of mask whose values are in set, in mm: for a
// voxel outside the region the distance to the nearest voxel inside (positive), for a voxel inside minus the
// distance to the nearest voxel outside. Distances run between voxel centres, so the boundary voxels on
// either side are at ±1 voxel, and the map of the complement is exactly minus this one. A region filling the
// whole slice is -Inf everywhere, an empty one +Inf.
func signedDistance(mask []uint8, set *[256]bool, w, h int, sx, sy float64, s *scratch) []float64 {
	toInside := make([]float64, w*h)
	toOutside := make([]float64, w*h)
	squaredDistance(mask, set, true, w, h, sx, sy, toInside, s)
	squaredDistance(mask, set, false, w, h, sx, sy, toOutside, s)
	for i, m := range mask {
		if set[m] {
			toInside[i] = -math.Sqrt(toOutside[i])
		} else {
			toInside[i] = math.Sqrt(toInside[i])
		}
	}
	return toInside
}
