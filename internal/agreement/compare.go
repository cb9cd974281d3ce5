package agreement

import "math"

// ClassAgreement is how two reads agree on one class (see the package documentation for each measure).
type ClassAgreement struct {
	Class       int      `json:"class"`
	Dice        float64  `json:"dice"`
	HausdorffMM *float64 `json:"hausdorffMm"` // nil when exactly one read has the class; 0 when neither has
	HD95MM      *float64 `json:"hd95Mm"`      // same nil rule
	AreaAMM2    float64  `json:"areaAMm2"`
	AreaBMM2    float64  `json:"areaBMm2"`
	AreaDiffMM2 float64  `json:"areaDiffMm2"` // AreaAMM2 - AreaBMM2
}

// Pair is the agreement of reads A < B (indices into the reads given), class by class from class 1.
type Pair struct {
	A       int              `json:"a"`
	B       int              `json:"b"`
	Classes []ClassAgreement `json:"classes"`
}

// Compare measures the agreement of reads a and b on every class 1..classes, in class order.
func Compare(g Grid, a, b []uint8, classes int) ([]ClassAgreement, error) {
	if err := checkReads(g, [][]uint8{a, b}, classes, 2); err != nil {
		return nil, err
	}
	fa, fb := newFields(g, a, classes), newFields(g, b, classes)
	return compareFields(g, fa, fb), nil
}

// Pairwise compares every pair of reads i < j, in the order (0,1), (0,2), ..., (1,2), ...
func Pairwise(g Grid, reads [][]uint8, classes int) ([]Pair, error) {
	if err := checkReads(g, reads, classes, 2); err != nil {
		return nil, err
	}
	// Each read's distance maps serve every pair it is in.
	fields := make([]*readFields, len(reads))
	for j, r := range reads {
		fields[j] = newFields(g, r, classes)
	}
	var pairs []Pair
	for i := range reads {
		for j := i + 1; j < len(reads); j++ {
			pairs = append(pairs, Pair{A: i, B: j, Classes: compareFields(g, fields[i], fields[j])})
		}
	}
	return pairs, nil
}

// readFields is a read with, per class, its pixel count and the squared distance (mm2) from every pixel to
// the nearest pixel of that class.
type readFields struct {
	labels []uint8
	count  []int       // by class, index 0 unused
	sq     [][]float64 // by class, index 0 unused; nil for a class the read lacks
}

func newFields(g Grid, labels []uint8, classes int) *readFields {
	rf := &readFields{labels: labels, count: make([]int, classes+1), sq: make([][]float64, classes+1)}
	for _, v := range labels {
		rf.count[v]++
	}
	var env envelope
	for c := 1; c <= classes; c++ {
		if rf.count[c] == 0 {
			continue
		}
		rf.sq[c] = make([]float64, g.pixels())
		squaredDistances(g, labels, uint8(c), rf.sq[c], &env)
	}
	return rf
}

func compareFields(g Grid, a, b *readFields) []ClassAgreement {
	classes := len(a.count) - 1
	out := make([]ClassAgreement, classes)
	var pooled []float64
	for c := 1; c <= classes; c++ {
		na, nb := a.count[c], b.count[c]
		ca := ClassAgreement{
			Class:       c,
			AreaAMM2:    float64(na) * g.pixelArea(),
			AreaBMM2:    float64(nb) * g.pixelArea(),
			AreaDiffMM2: float64(na-nb) * g.pixelArea(),
		}
		switch {
		case na == 0 && nb == 0:
			ca.Dice = 1
			ca.HausdorffMM, ca.HD95MM = ptr(0), ptr(0)
		case na == 0 || nb == 0:
			ca.Dice = 0
		default:
			both := 0
			for i, v := range a.labels {
				if v == uint8(c) && b.labels[i] == uint8(c) {
					both++
				}
			}
			ca.Dice = 2 * float64(both) / float64(na+nb)
			// Shared pixels are at distance 0; only the others need sorting out.
			pooled = pooled[:0]
			pooled = appendDistances(pooled, a.labels, uint8(c), b.sq[c])
			pooled = appendDistances(pooled, b.labels, uint8(c), a.sq[c])
			zeros := na + nb - len(pooled)
			hd, hd95 := 0.0, 0.0
			if len(pooled) > 0 {
				hd = math.Sqrt(maxOf(pooled))
				hd95 = percentile(pooled, zeros, 0.95)
			}
			ca.HausdorffMM, ca.HD95MM = ptr(hd), ptr(hd95)
		}
		out[c-1] = ca
	}
	return out
}

// appendDistances appends the non-zero squared distances, taken from sq, of the pixels labelled class.
func appendDistances(dst []float64, labels []uint8, class uint8, sq []float64) []float64 {
	for i, v := range labels {
		if v == class && sq[i] > 0 {
			dst = append(dst, sq[i])
		}
	}
	return dst
}

func maxOf(xs []float64) float64 {
	m := xs[0]
	for _, x := range xs[1:] {
		m = max(m, x)
	}
	return m
}

// percentile is the p-quantile of the distances whose squares are zeros zero values and the values of sq
// (all positive), interpolated linearly between the order statistics at rank p*(n-1) as numpy's default
// method does. sq is reordered.
func percentile(sq []float64, zeros int, p float64) float64 {
	n := zeros + len(sq)
	rank := p * float64(n-1)
	lo := int(math.Floor(rank))
	frac := rank - float64(lo)
	at := func(k int) float64 { // the k-th smallest distance, 0-based, k >= lo
		if k < zeros {
			return 0
		}
		return math.Sqrt(selectKth(sq, k-zeros))
	}
	vlo := at(lo)
	if frac == 0 || lo+1 >= n {
		return vlo
	}
	var vhi float64
	if lo+1 < zeros {
		vhi = 0
	} else if lo < zeros {
		vhi = math.Sqrt(minOf(sq))
	} else {
		// selectKth left everything above position lo-zeros to its right.
		vhi = math.Sqrt(minOf(sq[lo-zeros+1:]))
	}
	return vlo + (vhi-vlo)*frac
}

func minOf(xs []float64) float64 {
	m := xs[0]
	for _, x := range xs[1:] {
		m = min(m, x)
	}
	return m
}

// selectKth reorders xs so that xs[k] is its k-th smallest value, no larger value before it and no smaller
// after it, and returns it (Hoare's quickselect with a median-of-three pivot; expected linear time).
func selectKth(xs []float64, k int) float64 {
	lo, hi := 0, len(xs)-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		// Median of three to xs[mid].
		if xs[mid] < xs[lo] {
			xs[mid], xs[lo] = xs[lo], xs[mid]
		}
		if xs[hi] < xs[lo] {
			xs[hi], xs[lo] = xs[lo], xs[hi]
		}
		if xs[hi] < xs[mid] {
			xs[hi], xs[mid] = xs[mid], xs[hi]
		}
		pivot := xs[mid]
		i, j := lo, hi
		for i <= j {
			for xs[i] < pivot {
				i++
			}
			for xs[j] > pivot {
				j--
			}
			if i <= j {
				xs[i], xs[j] = xs[j], xs[i]
				i++
				j--
			}
		}
		// Now xs[lo..j] <= pivot <= xs[i..hi], and xs[j+1..i-1] == pivot.
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return xs[k]
		}
	}
	return xs[k]
}

func ptr(v float64) *float64 { return &v }
