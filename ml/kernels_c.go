//go:build !purego && amd64

package ml

// The elementwise and reduction kernels that the Go compiler leaves scalar, in C so that gcc
// vectorises them. Reductions keep eight float lanes flushed into doubles every 512 values:
// a fixed order (results never depend on scheduling) and float64 accuracy per channel.

/*
#cgo CFLAGS: -O3 -march=x86-64-v3
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

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

// upsample_row doubles row r (w values) into t (2w values) as bilinear x2 resizing with
// align_corners=False weighs them: 0.25/0.75 between neighbours, the ends copied.
static void upsample_row(const float *r, float *t, ptrdiff_t w) {
	t[0] = r[0];
	for (ptrdiff_t j = 1; j < w; j++) t[2 * j] = 0.25f * r[j - 1] + 0.75f * r[j];
	for (ptrdiff_t j = 0; j + 1 < w; j++) t[2 * j + 1] = 0.75f * r[j] + 0.25f * r[j + 1];
	t[2 * w - 1] = r[w - 1];
}

// upsample2 resizes the plane x (h x w) to y (2h x 2w): rows first, then columns, keeping
// the three doubled input rows that an output row pair reads. It returns 0 when out of memory.
static int upsample2(const float *x, float *y, ptrdiff_t h, ptrdiff_t w) {
	ptrdiff_t ow = 2 * w;
	float *ring = malloc(3 * ow * sizeof(float));
	if (!ring) return 0;
	#define ROW(i) (ring + ((i) % 3) * ow)
	upsample_row(x, ROW(0), w);
	if (h > 1) upsample_row(x + w, ROW(1), w);
	for (ptrdiff_t j = 0; j < h; j++) {
		const float *cur = ROW(j);
		float *even = y + 2 * j * ow, *odd = even + ow;
		if (j == 0) {
			memcpy(even, cur, ow * sizeof(float));
		} else {
			const float *prev = ROW(j - 1);
			for (ptrdiff_t i = 0; i < ow; i++) even[i] = 0.25f * prev[i] + 0.75f * cur[i];
		}
		if (j == h - 1) {
			memcpy(odd, cur, ow * sizeof(float));
		} else {
			const float *next = ROW(j + 1);
			for (ptrdiff_t i = 0; i < ow; i++) odd[i] = 0.75f * cur[i] + 0.25f * next[i];
		}
		// Row j-1 is no longer needed: its slot takes row j+2.
		if (j + 2 < h) upsample_row(x + (j + 2) * w, ROW(j + 2), w);
	}
	#undef ROW
	free(ring);
	return 1;
}

// upsample2_adjoint sets dx (h x w) to the adjoint of upsample2 applied to dy (2h x 2w):
// each input row gathers 0.75 of its two output rows and 0.25 of the two beyond them
// (clamped at the ends, where the copied rows carry weight 1), then the same across columns.
static int upsample2_adjoint(const float *dy, float *dx, ptrdiff_t h, ptrdiff_t w) {
	ptrdiff_t ow = 2 * w, oh = 2 * h;
	float *t = malloc(ow * sizeof(float));
	if (!t) return 0;
	for (ptrdiff_t j = 0; j < h; j++) {
		const float *a = dy + (2 * j) * ow, *b = a + ow;
		const float *lo = dy + (j > 0 ? 2 * j - 1 : 0) * ow;
		const float *hi = dy + (2 * j + 2 < oh ? 2 * j + 2 : oh - 1) * ow;
		for (ptrdiff_t i = 0; i < ow; i++) t[i] = 0.75f * (a[i] + b[i]) + 0.25f * (lo[i] + hi[i]);
		float *d = dx + j * w;
		for (ptrdiff_t i = 0; i < w; i++) {
			ptrdiff_t l = i > 0 ? 2 * i - 1 : 0, r = 2 * i + 2 < ow ? 2 * i + 2 : ow - 1;
			d[i] = 0.75f * (t[2 * i] + t[2 * i + 1]) + 0.25f * (t[l] + t[r]);
		}
	}
	free(t);
	return 1;
}

// sum returns the sum of x[0:n] in eight float lanes flushed into a double every 512 values.
static double sum(const float *x, ptrdiff_t n) {
	double s = 0;
	for (ptrdiff_t i0 = 0; i0 < n; i0 += BLOCK) {
		ptrdiff_t end = i0 + BLOCK < n ? i0 + BLOCK : n;
		float a[LANES] = {0};
		ptrdiff_t i = i0;
		for (; i + LANES <= end; i += LANES) {
			for (int j = 0; j < LANES; j++) a[j] += x[i + j];
		}
		for (; i < end; i++) a[0] += x[i];
		for (int j = 0; j < LANES; j++) s += a[j];
	}
	return s;
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

// upsample2Plane resizes the plane x (h x w) to y (2h x 2w) bilinearly (align_corners=False).
func upsample2Plane(x, y []float32, h, w int) {
	if C.upsample2(fptr(x[:h*w]), fptr(y[:4*h*w]), C.ptrdiff_t(h), C.ptrdiff_t(w)) == 0 {
		panic("ml: out of memory in upsampling")
	}
}

// upsample2AdjointPlane sets dx (h x w) to the adjoint of upsample2Plane applied to dy.
func upsample2AdjointPlane(dy, dx []float32, h, w int) {
	if C.upsample2_adjoint(fptr(dy[:4*h*w]), fptr(dx[:h*w]), C.ptrdiff_t(h), C.ptrdiff_t(w)) == 0 {
		panic("ml: out of memory in upsampling")
	}
}

// sumFloats returns the sum of x, accumulated in a fixed order.
func sumFloats(x []float32) float64 {
	if len(x) == 0 {
		return 0
	}
	return float64(C.sum(fptr(x), C.ptrdiff_t(len(x))))
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}
