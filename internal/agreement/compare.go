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
	boxes := unionBoxes(g, [][]uint8{a, b}, classes)
	return compareFields(g, newFields(g, a, boxes), newFields(g, b, boxes), boxes), nil
}

// Pairwise compares every pair of reads i < j, in the order (0,1), (0,2), ..., (1,2), ...
func Pairwise(g Grid, reads [][]uint8, classes int) ([]Pair, error) {
	if err := checkReads(g, reads, classes, 2); err != nil {
		return nil, err
	}
	// Each read's distance maps serve every pair it is in.
	boxes := unionBoxes(g, reads, classes)
	fields := make([]*readFields, len(reads))
	for j, r := range reads {
		fields[j] = newFields(g, r, boxes)
	}
	var pairs []Pair
	for i := range reads {
		for j := i + 1; j < len(reads); j++ {
			pairs = append(pairs, Pair{A: i, B: j, Classes: compareFields(g, fields[i], fields[j], boxes)})
		}
	}
	return pairs, nil
}

// unionBoxes is, per class, the bounding box of its pixels in all the reads. The distance maps cover only
// that box: it holds every pixel whose distance is asked and every pixel that can be nearest, so the
// distances are still exact, and a structure filling a small part of the slice costs little.
func unionBoxes(g Grid, reads [][]uint8, classes int) []box {
	var boxes []box
	for _, r := range reads {
		rb := classBoxes(g, r, classes)
		if boxes == nil {
			boxes = rb
			continue
		}
		for c := range boxes {
			boxes[c] = boxes[c].union(rb[c])
		}
	}
	return boxes
}

// readFields is a read with, per class, its pixel count and the squared distance (mm2) from every pixel of
// the class's box to the nearest pixel of that class.
type readFields struct {
	labels []uint8
	count  []int       // by class, index 0 unused
	sq     [][]float64 // by class over its box, index 0 unused; nil for a class the read lacks
}

func newFields(g Grid, labels []uint8, boxes []box) *readFields {
	classes := len(boxes) - 1
	rf := &readFields{labels: labels, count: make([]int, classes+1), sq: make([][]float64, classes+1)}
	for _, v := range labels {
		rf.count[v]++
	}
	var env envelope
	for c := 1; c <= classes; c++ {
		if rf.count[c] == 0 {
			continue
		}
		rf.sq[c] = make([]float64, boxes[c].w()*boxes[c].h())
		squaredDistances(g, labels, uint8(c), boxes[c], rf.sq[c], &env)
	}
	return rf
}

func compareFields(g Grid, a, b *readFields, boxes []box) []ClassAgreement {
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
			bx, class := boxes[c], uint8(c)
			// Shared pixels are at distance 0; only the others need sorting out.
			pooled = pooled[:0]
			both := 0
			for y := range bx.h() {
				start := (bx.y0+y)*g.W + bx.x0
				la, lb := a.labels[start:start+bx.w()], b.labels[start:start+bx.w()]
				sqa, sqb := a.sq[c][y*bx.w():(y+1)*bx.w()], b.sq[c][y*bx.w():(y+1)*bx.w()]
				for x := range la {
					inA, inB := la[x] == class, lb[x] == class
					switch {
					case inA && inB:
						both++
					case inA:
						pooled = append(pooled, sqb[x])
					case inB:
						pooled = append(pooled, sqa[x])
					}
				}
			}
			ca.Dice = 2 * float64(both) / float64(na+nb)
			zeros := 2 * both
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
