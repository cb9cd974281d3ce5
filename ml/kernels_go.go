//go:build purego || !amd64

package ml

// Go versions of the kernels in kernels_c.go, for builds without cgo's x86-64 path.

// channelMoments returns the mean and biased variance of x, rectifying x in place first
// when relu is set. Sums run on values shifted by the first one, so a large mean does not
// cancel the variance away.
func channelMoments(x []float32, relu bool) (mean, variance float64) {
	if len(x) == 0 {
		return 0, 0
	}
	if relu {
		for i, v := range x {
			x[i] = max(v, 0)
		}
	}
	k := float64(x[0])
	var sum, sq float64
	for _, v := range x {
		d := float64(v) - k
		sum += d
		sq += d * d
	}
	m := sum / float64(len(x))
	return m + k, max(sq/float64(len(x))-m*m, 0)
}

// bnGradSums returns sum(dy) and sum(dy*(x-mu)).
func bnGradSums(x, dy []float32, mu float32) (sdy, sdyx float64) {
	dy = dy[:len(x)]
	for i, v := range x {
		g := float64(dy[i])
		sdy += g
		sdyx += g * float64(v-mu)
	}
	return sdy, sdyx
}

// bnGradApply sets dy = a*dy + b + c*(x-mu), and 0 where relu is set and x <= 0.
func bnGradApply(x, dy []float32, mu, a, b, c float32, relu bool) {
	dy = dy[:len(x)]
	for i, v := range x {
		g := a*dy[i] + b + c*(v-mu)
		if relu && v <= 0 {
			g = 0
		}
		dy[i] = g
	}
}

// affinePlane sets y = r(x)*a + off, r being ReLU when relu is set.
func affinePlane(x, y []float32, a, off float32, relu bool) {
	y = y[:len(x)]
	if relu {
		for i, v := range x {
			y[i] = max(v, 0)*a + off
		}
		return
	}
	for i, v := range x {
		y[i] = v*a + off
	}
}
