package data

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// NormMode says where the intensity statistics of normalisation come from.
type NormMode int

const (
	// NormPerSlice centres each slice on its own mean and divides by its own standard deviation (the default:
	// robust to intensity differences between volumes, and available at inference without any training data).
	NormPerSlice NormMode = iota
	// NormFixed uses Normalization.Mean and Std for every slice, e.g. the training set's from TrainingStats,
	// as the reference pipeline did.
	NormFixed
	// NormPercentile clips each slice to its own PercentileLow..PercentileHigh intensity range before centring
	// and scaling it by the clipped values' mean and standard deviation: a few extreme voxels (some MSD
	// hippocampus volumes reach 1e6 beside a typical 0..3000) then no longer squash the rest of the slice.
	NormPercentile
)

// The intensity percentiles that NormPercentile clips each slice to.
const (
	PercentileLow  = 0.5
	PercentileHigh = 99.5
)

// Normalization chooses the intensity normalisation; the zero value is per-slice.
type Normalization struct {
	Mode      NormMode
	Mean, Std float64 // used by NormFixed
}

// Stats holds what normalising and padding one slice needs: normalised = (clip(raw) - Mean) / Std, where clip
// limits raw to [Lo, Hi] when Hi > Lo (NormPercentile) and changes nothing otherwise.
// Padding (outside the slice) takes the slice's minimum raw intensity, normalised like any other value.
type Stats struct{ Mean, Std, Min, Lo, Hi float64 }

// SliceStats returns the mean, standard deviation (population) and minimum of img. A constant or empty image
// has Std 1, so normalising never divides by zero.
func SliceStats(img []float32) Stats {
	if len(img) == 0 {
		return Stats{Std: 1}
	}
	var sum float64
	lo := math.Inf(1)
	for _, v := range img {
		sum += float64(v)
		lo = math.Min(lo, float64(v))
	}
	mean := sum / float64(len(img))
	var ss float64
	for _, v := range img {
		d := float64(v) - mean
		ss += d * d
	}
	return Stats{Mean: mean, Std: guardStd(math.Sqrt(ss / float64(len(img)))), Min: lo}
}

// TrainingStats pools the intensities of all samples (for NormFixed); Min is the smallest intensity seen.
func TrainingStats(samples []Sample) Stats {
	var n, sum float64
	lo := math.Inf(1)
	for _, s := range samples {
		for _, v := range s.Image {
			sum += float64(v)
			lo = math.Min(lo, float64(v))
		}
		n += float64(len(s.Image))
	}
	if n == 0 {
		return Stats{Std: 1}
	}
	mean := sum / n
	var ss float64
	for _, s := range samples {
		for _, v := range s.Image {
			d := float64(v) - mean
			ss += d * d
		}
	}
	return Stats{Mean: mean, Std: guardStd(math.Sqrt(ss / n)), Min: lo}
}

func guardStd(std float64) float64 {
	if !(std > 0) || math.IsInf(std, 0) {
		return 1
	}
	return std
}

// PercentileStats returns img's statistics under NormPercentile: the PercentileLow and PercentileHigh
// percentiles (nearest rank) as the clipping range, the mean and standard deviation of the clipped values,
// and the raw minimum for padding.
func PercentileStats(img []float32) Stats {
	if len(img) == 0 {
		return Stats{Std: 1}
	}
	sorted := slices.Clone(img)
	slices.Sort(sorted)
	rank := func(p float64) float64 {
		i := int(math.Round(p / 100 * float64(len(sorted)-1)))
		return float64(sorted[min(max(i, 0), len(sorted)-1)])
	}
	st := Stats{Lo: rank(PercentileLow), Hi: rank(PercentileHigh), Min: float64(sorted[0])}
	var sum float64
	for _, v := range sorted {
		sum += st.clip(float64(v))
	}
	st.Mean = sum / float64(len(sorted))
	var ss float64
	for _, v := range sorted {
		d := st.clip(float64(v)) - st.Mean
		ss += d * d
	}
	st.Std = guardStd(math.Sqrt(ss / float64(len(sorted))))
	return st
}

// For returns the statistics that normalise img under n. The padding value always comes from the slice itself.
func (n Normalization) For(img []float32) Stats {
	if n.Mode == NormPercentile {
		return PercentileStats(img)
	}
	st := SliceStats(img)
	if n.Mode == NormFixed {
		st.Mean, st.Std = n.Mean, guardStd(n.Std)
	}
	return st
}

// Validate reports a mode that does not exist.
func (n Normalization) Validate() error {
	if n.Mode != NormPerSlice && n.Mode != NormFixed && n.Mode != NormPercentile {
		return fmt.Errorf("normalisation mode %d unknown", n.Mode)
	}
	return nil
}

// normalize maps a raw intensity to the network's input; every path (crop, augment) uses it, so identical
// geometry gives bit-identical values.
func (st Stats) normalize(raw float64) float64 { return (st.clip(raw) - st.Mean) / st.Std }

func (st Stats) clip(raw float64) float64 {
	if st.Hi > st.Lo {
		return min(max(raw, st.Lo), st.Hi)
	}
	return raw
}

// Placement says where a training crop sits in its slice.
type Placement int

const (
	// PlaceCenter crops the middle of the slice: needs no labels, and is what inference does when one crop
	// covers the slice.
	PlaceCenter Placement = iota
	// PlaceRandom puts the crop anywhere it fits (or, for a slice smaller than the crop, anywhere the slice
	// stays inside it), uniformly, so over epochs the model sees every part of the slice.
	PlaceRandom
	// PlaceForeground centres the crop on the labelled structures (see ForegroundOrigin), so that small
	// structures fill the crop in training. It needs labels: inference covers the slice with Tiles instead.
	PlaceForeground
)

// Box is the bounding box of a mask's labelled (non-zero) pixels, corners inclusive; Empty when there are none.
type Box struct {
	Min, Max Point
	Empty    bool
}

// ForegroundBox returns the bounding box of s's labelled pixels.
func ForegroundBox(s Sample) Box {
	b := Box{Min: Point{s.W, s.H}, Max: Point{-1, -1}, Empty: true}
	for i, c := range s.Mask {
		if c == 0 {
			continue
		}
		x, y := i%s.W, i/s.W
		b.Min = Point{min(b.Min.X, x), min(b.Min.Y, y)}
		b.Max = Point{max(b.Max.X, x), max(b.Max.Y, y)}
		b.Empty = false
	}
	return b
}

// ForegroundOrigin places a cropW x cropH window on a w x h slice centred on box, moved by a uniform random
// offset of up to a quarter of the crop along each axis, then kept within RandomOrigin's range (which never
// pushes the box out of the window when the box fitted). An empty box gives a random origin.
func ForegroundOrigin(r *rand.Rand, box Box, w, h, cropW, cropH int) Point {
	if box.Empty {
		return RandomOrigin(r, w, h, cropW, cropH)
	}
	axis := func(lo, hi, n, c int) int {
		q := c / 4
		o := (lo+hi+1)/2 - c/2 + r.IntN(2*q+1) - q
		return min(max(o, min(0, n-c)), max(0, n-c))
	}
	return Point{axis(box.Min.X, box.Max.X, w, cropW), axis(box.Min.Y, box.Max.Y, h, cropH)}
}

// CenterOrigin is the top-left corner of a cropW x cropH window centred on a w x h slice
// ((w-cropW)/2 rounded toward zero; negative when the slice is smaller, the rest being padding).
func CenterOrigin(w, h, cropW, cropH int) Point {
	return Point{(w - cropW) / 2, (h - cropH) / 2}
}

// RandomOrigin draws a top-left corner uniformly among the positions where the window lies inside the slice
// or, along an axis where the slice is smaller than the window, the slice lies inside the window.
func RandomOrigin(r *rand.Rand, w, h, cropW, cropH int) Point {
	axis := func(n, c int) int {
		lo, hi := min(0, n-c), max(0, n-c)
		return lo + r.IntN(hi-lo+1)
	}
	return Point{axis(w, cropW), axis(h, cropH)}
}

// CropInto writes the cropW x cropH window of s whose top-left corner is origin into img, normalised with st,
// and, when mask is non-nil, the matching class indices into mask. Outside the slice the image takes the
// normalised slice minimum and the mask 0 (background). img needs cropW*cropH values, mask too.
func CropInto(img []float32, mask []uint8, s Sample, origin Point, cropW, cropH int, st Stats) {
	pad := float32(st.normalize(st.Min))
	for v := range cropH {
		y := origin.Y + v
		rowImg := img[v*cropW : (v+1)*cropW]
		var rowMask []uint8
		if mask != nil {
			rowMask = mask[v*cropW : (v+1)*cropW]
		}
		for u := range cropW {
			x := origin.X + u
			if x < 0 || x >= s.W || y < 0 || y >= s.H {
				rowImg[u] = pad
				if rowMask != nil {
					rowMask[u] = 0
				}
				continue
			}
			i := x + y*s.W
			rowImg[u] = float32(st.normalize(float64(s.Image[i])))
			if rowMask != nil {
				if s.Mask != nil {
					rowMask[u] = s.Mask[i]
				} else {
					rowMask[u] = 0
				}
			}
		}
	}
}

// Tiles returns the top-left corners of cropW x cropH windows that together cover every pixel of a w x h
// slice, for inference on slices larger than the crop. Along each axis the first window starts at 0, the last
// ends at the slice's edge, and the windows in between are spread evenly so neighbours overlap by at least
// overlap pixels (clamped to [0, crop-1]). Along an axis where the slice fits in one window, that window is
// centred as by CenterOrigin. Order: row by row, x fastest.
func Tiles(w, h, cropW, cropH, overlap int) []Point {
	xs := tileAxis(w, cropW, overlap)
	ys := tileAxis(h, cropH, overlap)
	out := make([]Point, 0, len(xs)*len(ys))
	for _, y := range ys {
		for _, x := range xs {
			out = append(out, Point{x, y})
		}
	}
	return out
}

func tileAxis(n, c, overlap int) []int {
	if n <= c {
		return []int{(n - c) / 2}
	}
	overlap = min(max(overlap, 0), c-1)
	step := c - overlap
	span := n - c
	k := (span + step - 1) / step // gaps between first and last window
	out := make([]int, k+1)
	for i := range out {
		out[i] = (i*span + k/2) / k // rounded i*span/k: every gap is at most step
	}
	return out
}

// Stitcher averages per-class probabilities of overlapping tiles into whole-slice maps, so a structure cut by
// one tile's border is still predicted from the tiles that contain it.
type Stitcher struct {
	W, H, Classes int
	sum           []float32 // Classes*H*W
	count         []float32 // H*W: how many tiles covered each pixel
}

// NewStitcher prepares a w x h slice with the given number of output channels.
func NewStitcher(w, h, classes int) *Stitcher {
	return &Stitcher{W: w, H: h, Classes: classes, sum: make([]float32, classes*w*h), count: make([]float32, w*h)}
}

// Reset clears the accumulated tiles so the stitcher can serve another slice of the same size.
func (s *Stitcher) Reset() {
	clear(s.sum)
	clear(s.count)
}

// Add accumulates one tile's probabilities, laid out Classes*cropH*cropW (the engine's CHW output for one
// sample), whose top-left corner in the slice is origin; the parts outside the slice are ignored.
func (s *Stitcher) Add(origin Point, cropW, cropH int, probs []float32) error {
	if len(probs) != s.Classes*cropW*cropH {
		return fmt.Errorf("stitch: tile has %d values, want %d*%d*%d", len(probs), s.Classes, cropH, cropW)
	}
	plane := s.W * s.H
	for v := range cropH {
		y := origin.Y + v
		if y < 0 || y >= s.H {
			continue
		}
		for u := range cropW {
			x := origin.X + u
			if x < 0 || x >= s.W {
				continue
			}
			i := x + y*s.W
			s.count[i]++
			for c := range s.Classes {
				s.sum[c*plane+i] += probs[(c*cropH+v)*cropW+u]
			}
		}
	}
	return nil
}

// Covered reports whether every pixel of the slice lies in at least one added tile.
func (s *Stitcher) Covered() bool {
	for _, n := range s.count {
		if n == 0 {
			return false
		}
	}
	return true
}

// Probabilities writes the averaged Classes*H*W probabilities into dst (allocated when too short) and returns
// it; a pixel no tile covered gets 0 in every channel.
func (s *Stitcher) Probabilities(dst []float32) []float32 {
	if len(dst) < len(s.sum) {
		dst = make([]float32, len(s.sum))
	}
	dst = dst[:len(s.sum)]
	plane := s.W * s.H
	for i, n := range s.count {
		for c := range s.Classes {
			if n == 0 {
				dst[c*plane+i] = 0
			} else {
				dst[c*plane+i] = s.sum[c*plane+i] / n
			}
		}
	}
	return dst
}

// ClassMap writes the class of each pixel into dst (allocated when too short) and returns it: the channel with
// the largest averaged probability (ties go to the lower class), or, for a one-channel sigmoid output,
// class 1 where the probability is at least 0.5.
func (s *Stitcher) ClassMap(dst []uint8) []uint8 {
	plane := s.W * s.H
	if len(dst) < plane {
		dst = make([]uint8, plane)
	}
	dst = dst[:plane]
	for i, n := range s.count {
		if n == 0 {
			dst[i] = 0
			continue
		}
		if s.Classes == 1 {
			dst[i] = 0
			if s.sum[i]/n >= 0.5 {
				dst[i] = 1
			}
			continue
		}
		best, bestP := 0, s.sum[i]
		for c := 1; c < s.Classes; c++ {
			if p := s.sum[c*plane+i]; p > bestP {
				best, bestP = c, p
			}
		}
		dst[i] = uint8(best)
	}
	return dst
}
