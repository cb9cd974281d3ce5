//go:build !purego && amd64

package ml

// The elementwise and reduction kernels that the Go compiler leaves scalar, in C so that gcc
// vectorises them. Reductions keep eight float lanes flushed into doubles every 512 values:
// a fixed order (results never depend on scheduling) and float64 accuracy per channel.

/*
#cgo CFLAGS: -O3 -march=x86-64-v3
#include <stddef.h>

#define LANES 8
#define BLOCK 512

// channel_moments sets *mean and *var (biased) of x[0:n], rectifying x in place first when
// relu is set. Sums run on values shifted by the first one, so a large mean does not cancel
// the variance away.
static void channel_moments(float *x, ptrdiff_t n, int relu, double *mean, double *var) {
	if (relu) {
		for (ptrdiff_t i = 0; i < n; i++) x[i] = x[i] < 0 ? 0 : x[i];
	}
	float k = x[0];
	double s = 0, q = 0;
	for (ptrdiff_t i0 = 0; i0 < n; i0 += BLOCK) {
		ptrdiff_t end = i0 + BLOCK < n ? i0 + BLOCK : n;
		float a[LANES] = {0}, b[LANES] = {0};
		ptrdiff_t i = i0;
		for (; i + LANES <= end; i += LANES) {
			for (int j = 0; j < LANES; j++) {
				float d = x[i + j] - k;
				a[j] += d;
				b[j] += d * d;
			}
		}
		for (; i < end; i++) {
			float d = x[i] - k;
			a[0] += d;
			b[0] += d * d;
		}
		for (int j = 0; j < LANES; j++) {
			s += a[j];
			q += b[j];
		}
	}
	double m = s / (double)n;
	double v = q / (double)n - m * m;
	*mean = m + k;
	*var = v > 0 ? v : 0;
}

// bn_grad_sums sets *sdy = sum(dy) and *sdyx = sum(dy*(x-mu)) over n values.
static void bn_grad_sums(const float *x, const float *dy, ptrdiff_t n, float mu, double *sdy, double *sdyx) {
	double s = 0, q = 0;
	for (ptrdiff_t i0 = 0; i0 < n; i0 += BLOCK) {
		ptrdiff_t end = i0 + BLOCK < n ? i0 + BLOCK : n;
		float a[LANES] = {0}, b[LANES] = {0};
		ptrdiff_t i = i0;
		for (; i + LANES <= end; i += LANES) {
			for (int j = 0; j < LANES; j++) {
				float g = dy[i + j];
				a[j] += g;
				b[j] += g * (x[i + j] - mu);
			}
		}
		for (; i < end; i++) {
			a[0] += dy[i];
			b[0] += dy[i] * (x[i] - mu);
		}
		for (int j = 0; j < LANES; j++) {
			s += a[j];
			q += b[j];
		}
	}
	*sdy = s;
	*sdyx = q;
}

// bn_grad_apply sets dy = a*dy + b + c*(x-mu), and 0 where relu is set and x <= 0.
static void bn_grad_apply(const float *x, float *dy, ptrdiff_t n, float mu, float a, float b, float c, int relu) {
	if (relu) {
		for (ptrdiff_t i = 0; i < n; i++) {
			float g = a * dy[i] + b + c * (x[i] - mu);
			dy[i] = x[i] > 0 ? g : 0;
		}
		return;
	}
	for (ptrdiff_t i = 0; i < n; i++) dy[i] = a * dy[i] + b + c * (x[i] - mu);
}

// affine sets y = r(x)*a + off, r being ReLU when relu is set.
static void affine(const float *x, float *y, ptrdiff_t n, float a, float off, int relu) {
	if (relu) {
		for (ptrdiff_t i = 0; i < n; i++) y[i] = (x[i] > 0 ? x[i] : 0) * a + off;
		return;
	}
	for (ptrdiff_t i = 0; i < n; i++) y[i] = x[i] * a + off;
}
*/
import "C"

import "unsafe"

func fptr(s []float32) *C.float { return (*C.float)(unsafe.Pointer(unsafe.SliceData(s))) }

// channelMoments returns the mean and biased variance of x, rectifying x in place first
// when relu is set.
func channelMoments(x []float32, relu bool) (mean, variance float64) {
	if len(x) == 0 {
		return 0, 0
	}
	var m, v C.double
	C.channel_moments(fptr(x), C.ptrdiff_t(len(x)), cbool(relu), &m, &v)
	return float64(m), float64(v)
}

// bnGradSums returns sum(dy) and sum(dy*(x-mu)).
func bnGradSums(x, dy []float32, mu float32) (sdy, sdyx float64) {
	if len(x) == 0 {
		return 0, 0
	}
	var s, q C.double
	C.bn_grad_sums(fptr(x), fptr(dy[:len(x)]), C.ptrdiff_t(len(x)), C.float(mu), &s, &q)
	return float64(s), float64(q)
}

// bnGradApply sets dy = a*dy + b + c*(x-mu), and 0 where relu is set and x <= 0.
func bnGradApply(x, dy []float32, mu, a, b, c float32, relu bool) {
	if len(x) == 0 {
		return
	}
	C.bn_grad_apply(fptr(x), fptr(dy[:len(x)]), C.ptrdiff_t(len(x)), C.float(mu), C.float(a), C.float(b), C.float(c), cbool(relu))
}

// affinePlane sets y = r(x)*a + off, r being ReLU when relu is set.
func affinePlane(x, y []float32, a, off float32, relu bool) {
	if len(x) == 0 {
		return
	}
	C.affine(fptr(x), fptr(y[:len(x)]), C.ptrdiff_t(len(x)), C.float(a), C.float(off), cbool(relu))
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}
