package store

import "math"

// ComputeStats returns the intensity statistics of voxel values, ignoring NaN and infinities. P1 and P99 are
// numpy.percentile's default (linear interpolation between the two order statistics around the position).
// The order statistics are found by a radix selection over the values' bit patterns instead of a sorted copy:
// the same values, without holding a volume's voxels a second time (1 GiB at the upload limit), and faster.
func ComputeStats(data []float32) IntensityStats {
	// Pass 1: count, sum, extremes, and a histogram of the high 16 bits of each value's ordered key.
	high := make([]int, 1<<16)
	var n int
	var sum float64
	lowest, highest := float32(math.Inf(1)), float32(math.Inf(-1))
	for _, v := range data {
		b := math.Float32bits(v)
		if !finiteBits(b) {
			continue
		}
		n++
		sum += float64(v)
		lowest, highest = min(lowest, v), max(highest, v)
		high[orderedKey(b)>>16]++
	}
	if n == 0 {
		return IntensityStats{}
	}
	mean := sum / float64(n)

	p1Lo, p1Hi, p1Frac := percentileRanks(n, 1)
	p99Lo, p99Hi, p99Frac := percentileRanks(n, 99)
	ranks := [4]int{p1Lo, p1Hi, p99Lo, p99Hi}
	// The high-bits bucket of each wanted rank, and the rank within it.
	var bucket, within [4]int
	for i, r := range ranks {
		bucket[i], within[i] = findRank(high, r)
	}

	// Pass 2: the squared deviations, and a histogram of the low 16 bits within each wanted bucket.
	var lows [4][]int
	for i := range lows {
		lows[i] = lowsOf(&lows, bucket, i)
	}
	var ss float64
	for _, v := range data {
		b := math.Float32bits(v)
		if !finiteBits(b) {
			continue
		}
		d := float64(v) - mean
		ss += d * d
		k := orderedKey(b)
		for i := range bucket {
			if int(k>>16) == bucket[i] {
				lows[i][k&0xffff]++
				break // buckets that repeat share one histogram
			}
		}
	}
	var values [4]float64
	for i := range ranks {
		low, _ := findRank(lows[i], within[i])
		values[i] = float64(fromOrderedKey(uint32(bucket[i])<<16 | uint32(low)))
	}
	return IntensityStats{
		Min:  float64(lowest),
		Max:  float64(highest),
		Mean: mean,
		Std:  math.Sqrt(ss / float64(n)),
		P1:   values[0]*(1-p1Frac) + values[1]*p1Frac,
		P99:  values[2]*(1-p99Frac) + values[3]*p99Frac,
	}
}

// percentileRanks are the order statistics (0-based ranks among n sorted values) that percentile p
// interpolates between, and the weight of the upper one, as numpy.percentile's default method.
func percentileRanks(n int, p float64) (lo, hi int, frac float64) {
	pos := p / 100 * float64(n-1)
	lo = int(math.Floor(pos))
	return lo, min(lo+1, n-1), pos - float64(lo)
}

// lowsOf gives wanted bucket i its low-bits histogram, shared with an earlier index wanting the same bucket.
func lowsOf(lows *[4][]int, bucket [4]int, i int) []int {
	for j := range i {
		if bucket[j] == bucket[i] {
			return lows[j]
		}
	}
	return make([]int, 1<<16)
}

// findRank returns the histogram bin holding the value of rank r (0-based, counting from bin 0) and the
// value's rank within that bin.
func findRank(hist []int, r int) (bin, within int) {
	for b, c := range hist {
		if r < c {
			return b, r
		}
		r -= c
	}
	panic("store: rank beyond the histogram's count")
}

// finiteBits reports whether a float32's bits are neither NaN nor an infinity (the exponent is not all ones).
func finiteBits(b uint32) bool { return b&0x7f800000 != 0x7f800000 }

// orderedKey maps a float32's bits to a uint32 whose unsigned order is the values' numeric order (negative
// zero counts as zero, so that equal values share a key).
func orderedKey(b uint32) uint32 {
	switch {
	case b == 1<<31:
		return 1 << 31
	case b&(1<<31) != 0:
		return ^b
	}
	return b | 1<<31
}

// fromOrderedKey inverts orderedKey.
func fromOrderedKey(k uint32) float32 {
	if k&(1<<31) != 0 {
		return math.Float32frombits(k &^ (1 << 31))
	}
	return math.Float32frombits(^k)
}
