package interp

import "math"

// Alignment (Options.Align) follows Goshtasby, Turner & Ackerman (1992), who match slices before
// interpolating them, in its simplest form: a translation. The union of a gap's classes has centroid c0 on
// slice z0 and c1 on z1; at position t in the gap it is expected at c(t) = (1-t)·c0 + t·c1. Every distance map
// of z0 is moved by c(t) - c0 and every one of z1 by c(t) - c1 (bilinear, edges extended, as
// scipy.ndimage.shift with order=1 and mode="nearest") before the blend, so both outlines meet on the path
// between their positions. Classes keep their places relative to the union: grey matter moves with the cord.

// centroid is the mean voxel position (x, y) of the mask values in set; the gap's classes are present, so it
// is never empty.
func centroid(mask []uint8, w int, set *[256]bool) [2]float64 {
	var sx, sy, n float64
	for i, v := range mask {
		if set[v] {
			sx += float64(i % w)
			sy += float64(i / w)
			n++
		}
	}
	return [2]float64{sx / n, sy / n}
}

// tap is where one output column (or row) reads a map moved along its axis: between source positions lo and
// hi, hi with weight f.
type tap struct {
	lo, hi int
	f      float64
}

// taps returns, for each of n output positions i, the source position i - d, clamped to the slice (edges
// extended), split into its two neighbours and a weight.
func taps(n int, d float64) []tap {
	ts := make([]tap, n)
	for i := range ts {
		p := math.Min(math.Max(float64(i)-d, 0), float64(n-1))
		lo := int(math.Floor(p))
		ts[i] = tap{lo, min(lo+1, n-1), p - float64(lo)}
	}
	return ts
}

// sample is the bilinear value of the map m (w wide) at the taps tx, ty. Terms of zero weight are left out,
// so an infinite map (a region filling the slice) stays infinite, never NaN, and a whole-voxel move reads
// voxels exactly.
func sample(m []float64, w int, tx, ty tap) float64 {
	var v float64
	if f := (1 - tx.f) * (1 - ty.f); f != 0 {
		v += f * m[ty.lo*w+tx.lo]
	}
	if f := tx.f * (1 - ty.f); f != 0 {
		v += f * m[ty.lo*w+tx.hi]
	}
	if f := (1 - tx.f) * ty.f; f != 0 {
		v += f * m[ty.hi*w+tx.lo]
	}
	if f := tx.f * ty.f; f != 0 {
		v += f * m[ty.hi*w+tx.hi]
	}
	return v
}

// blendAligned is blend with the maps of z0 moved by move0 and those of z1 by move1 (voxels, x and y),
// sampled as needed: outside the union only the union's maps are read.
func blendAligned(w, h int, classes []int, before, after [][]float64, t float64, move0, move1 [2]float64) []uint8 {
	mask := make([]uint8, w*h)
	xs0, ys0 := taps(w, move0[0]), taps(h, move0[1])
	xs1, ys1 := taps(w, move1[0]), taps(h, move1[1])
	for y := range h {
		for x := range w {
			a0, a1, b0, b1 := xs0[x], ys0[y], xs1[x], ys1[y]
			if (1-t)*sample(before[0], w, a0, a1)+t*sample(after[0], w, b0, b1) >= 0 {
				continue
			}
			best := math.Inf(1)
			for c, k := range classes {
				if d := (1-t)*sample(before[c+1], w, a0, a1) + t*sample(after[c+1], w, b0, b1); d < best {
					best = d
					mask[y*w+x] = uint8(k)
				}
			}
		}
	}
	return mask
}
