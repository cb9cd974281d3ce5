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

// wino_kernels sets u[xi*plane + c] (xi = 0..15) to G g Gt of the in kernels g of one output
// channel, whose taps are split by position into taps (9 rows of in values) so that every
// step runs across channels.
__attribute__((noinline)) static void wino_kernels(const float *restrict taps, ptrdiff_t in, ptrdiff_t plane,
		float *restrict u) {
	const float *g0 = taps, *g1 = g0 + in, *g2 = g1 + in, *g3 = g2 + in, *g4 = g3 + in;
	const float *g5 = g4 + in, *g6 = g5 + in, *g7 = g6 + in, *g8 = g7 + in;
	float *u0 = u, *u1 = u0 + plane, *u2 = u1 + plane, *u3 = u2 + plane, *u4 = u3 + plane, *u5 = u4 + plane;
	float *u6 = u5 + plane, *u7 = u6 + plane, *u8 = u7 + plane, *u9 = u8 + plane, *u10 = u9 + plane;
	float *u11 = u10 + plane, *u12 = u11 + plane, *u13 = u12 + plane, *u14 = u13 + plane, *u15 = u14 + plane;
	// The sixteen rows never overlap; without this gcc gives up on checking their aliasing.
	#pragma GCC ivdep
	for (ptrdiff_t c = 0; c < in; c++) {
		// t = G g: the kernel's rows combined (4x3), then t Gt across its columns.
		float a0 = g0[c], a1 = g1[c], a2 = g2[c], b0 = g3[c], b1 = g4[c], b2 = g5[c];
		float d0 = g6[c], d1 = g7[c], d2 = g8[c];
		float p0 = 0.5f * (a0 + b0 + d0), p1 = 0.5f * (a1 + b1 + d1), p2 = 0.5f * (a2 + b2 + d2);
		float m0 = 0.5f * (a0 - b0 + d0), m1 = 0.5f * (a1 - b1 + d1), m2 = 0.5f * (a2 - b2 + d2);
		u0[c] = a0;
		u1[c] = 0.5f * (a0 + a1 + a2);
		u2[c] = 0.5f * (a0 - a1 + a2);
		u3[c] = a2;
		u4[c] = p0;
		u5[c] = 0.5f * (p0 + p1 + p2);
		u6[c] = 0.5f * (p0 - p1 + p2);
		u7[c] = p2;
		u8[c] = m0;
		u9[c] = 0.5f * (m0 + m1 + m2);
		u10[c] = 0.5f * (m0 - m1 + m2);
		u11[c] = m2;
		u12[c] = d0;
		u13[c] = 0.5f * (d0 + d1 + d2);
		u14[c] = 0.5f * (d0 - d1 + d2);
		u15[c] = d2;
	}
}

// maxpool2 pools the 2x2 windows of the plane x (h x w) into y, recording in arg the position
// (0..3) of each window's first maximum: strict '>' keeps the first in scan order, as PyTorch.
static void maxpool2(const float *restrict x, float *restrict y, unsigned char *restrict arg, ptrdiff_t h, ptrdiff_t w) {
	ptrdiff_t oh = h / 2, ow = w / 2;
	for (ptrdiff_t oy = 0; oy < oh; oy++) {
		const float *r0 = x + 2 * oy * w, *r1 = r0 + w;
		float *out = y + oy * ow;
		unsigned char *ar = arg + oy * ow;
		for (ptrdiff_t ox = 0; ox < ow; ox++) {
			float best = r0[2 * ox];
			unsigned char at = 0;
			float v = r0[2 * ox + 1];
			if (v > best) { best = v; at = 1; }
			v = r1[2 * ox];
			if (v > best) { best = v; at = 2; }
			v = r1[2 * ox + 1];
			if (v > best) { best = v; at = 3; }
			out[ox] = best;
			ar[ox] = at;
		}
	}
}

// conv3x3_rows computes the output rows [r0, r1) of the batch (row r is row r%h of sample
// r/h) of a 3x3 pad-1 stride-1 convolution of x (in channels of n planes h x w) with out
// kernels w (row stride ld, taps ordered channel, ky, kx, then the bias) into y, directly:
// each output row accumulates channel by channel, three taps at a time, in a fixed order.
static void conv3x3_rows(const float *x, ptrdiff_t in, ptrdiff_t out, ptrdiff_t n, ptrdiff_t h, ptrdiff_t w,
		const float *wt, ptrdiff_t ld, ptrdiff_t r0, ptrdiff_t r1, float *y) {
	ptrdiff_t plane = h * w;
	for (ptrdiff_t r = r0; r < r1; r++) {
		ptrdiff_t img = r / h, oy = r % h;
		for (ptrdiff_t o = 0; o < out; o++) {
			const float *k = wt + o * ld;
			float *restrict acc = y + (o * n + img) * plane + oy * w;
			float b = k[in * 9];
			for (ptrdiff_t j = 0; j < w; j++) acc[j] = b;
			for (ptrdiff_t c = 0; c < in; c++) {
				for (int ky = 0; ky < 3; ky++) {
					ptrdiff_t iy = oy + ky - 1;
					if (iy < 0 || iy >= h) continue;
					const float *restrict row = x + (c * n + img) * plane + iy * w;
					float w0 = k[c * 9 + ky * 3], w1 = k[c * 9 + ky * 3 + 1], w2 = k[c * 9 + ky * 3 + 2];
					acc[0] += w1 * row[0] + (w > 1 ? w2 * row[1] : 0);
					for (ptrdiff_t j = 1; j < w - 1; j++) acc[j] += w0 * row[j - 1] + w1 * row[j] + w2 * row[j + 1];
					if (w > 1) acc[w - 1] += w0 * row[w - 2] + w1 * row[w - 1];
				}
			}
		}
	}
}

// wino_weights sets rows [0, out) of u, 16 matrices of rows x in, to G g Gt of every 3x3
// kernel g of w (row stride ld, taps ordered channel, ky, kx). It returns 0 when out of memory.
static int wino_weights(const float *w, ptrdiff_t ld, ptrdiff_t out, ptrdiff_t in, ptrdiff_t rows, float *u) {
	float *taps = malloc(9 * in * sizeof(float));
	if (!taps) return 0;
	for (ptrdiff_t o = 0; o < out; o++) {
		const float *g = w + o * ld;
		for (ptrdiff_t c = 0; c < in; c++) {
			for (int k = 0; k < 9; k++) taps[k * in + c] = g[c * 9 + k];
		}
		wino_kernels(taps, in, rows * in, u + o * in);
	}
	free(taps);
	return 1;
}

// wino_rows combines four input rows as Bt's rows at the input columns j = 2k+par-1,
// k in [k0, k1): qi[k] for combination i (stride-2 reads, contiguous writes).
__attribute__((noinline)) static void wino_rows(const float *restrict r0, const float *restrict r1,
		const float *restrict r2, const float *restrict r3, ptrdiff_t par, ptrdiff_t k0, ptrdiff_t k1,
		float *restrict q0, float *restrict q1, float *restrict q2, float *restrict q3) {
	for (ptrdiff_t k = k0; k < k1; k++) {
		ptrdiff_t j = 2 * k + par - 1;
		q0[k] = r0[j] - r2[j];
		q1[k] = r1[j] + r2[j];
		q2[k] = r2[j] - r1[j];
		q3[k] = r1[j] - r3[j];
	}
}

// wino_cols applies B across the columns of one combined row, held as even (ev) and odd
// (od) padded columns: tile tx reads ev[tx], od[tx], ev[tx+1], od[tx+1].
__attribute__((noinline)) static void wino_cols(const float *restrict ev, const float *restrict od, ptrdiff_t tw,
		float *restrict o0, float *restrict o1, float *restrict o2, float *restrict o3) {
	for (ptrdiff_t tx = 0; tx < tw; tx++) {
		o0[tx] = ev[tx] - ev[tx + 1];
		o1[tx] = od[tx] + ev[tx + 1];
		o2[tx] = ev[tx + 1] - od[tx];
		o3[tx] = od[tx] - od[tx + 1];
	}
}

// wino_input sets v (16 matrices in x tiles) to Bt d B of every 4x4 patch d of the tile
// rows [t0, t1) of image img; e is 8*(w/2+1)+w floats of scratch. Each tile row's four input
// rows are first combined as Bt's rows, split into even and odd padded columns so that the
// column transform reads contiguous values; rows outside the image read a zero row.
static void wino_input(const float *x, ptrdiff_t in, ptrdiff_t n, ptrdiff_t h, ptrdiff_t w, ptrdiff_t img,
		ptrdiff_t t0, ptrdiff_t t1, float *v, float *e) {
	ptrdiff_t tw = w / 2, tiles = (t1 - t0) * tw, plane = h * w, stride = in * tiles, pe = tw + 1;
	float *zero = e + 8 * pe;
	memset(zero, 0, w * sizeof(float));
	// Padded column p = j+1 of combination i: even p in e[2i*pe + p/2], odd in e[(2i+1)*pe + p/2].
	for (int i = 0; i < 4; i++) {
		e[2 * i * pe] = 0;
		e[(2 * i + 1) * pe + tw] = 0;
	}
	for (ptrdiff_t c = 0; c < in; c++) {
		const float *src = x + (c * n + img) * plane;
		for (ptrdiff_t ty = t0; ty < t1; ty++) {
			const float *r1 = src + 2 * ty * w, *r2 = r1 + w;
			const float *r0 = ty > 0 ? r1 - w : zero, *r3 = 2 * ty + 2 < h ? r2 + w : zero;
			// Input column 2k-1 is padded column 2k (even half), input column 2k is 2k+1 (odd).
			wino_rows(r0, r1, r2, r3, 0, 1, tw + 1, e, e + 2 * pe, e + 4 * pe, e + 6 * pe);
			wino_rows(r0, r1, r2, r3, 1, 0, tw, e + pe, e + 3 * pe, e + 5 * pe, e + 7 * pe);
			ptrdiff_t base = c * tiles + (ty - t0) * tw;
			for (int i = 0; i < 4; i++) {
				float *o0 = v + (i * 4) * stride + base;
				wino_cols(e + 2 * i * pe, e + (2 * i + 1) * pe, tw, o0, o0 + stride, o0 + 2 * stride, o0 + 3 * stride);
			}
		}
	}
}

// wino_output writes At m A + bias of every tile of m (16 matrices out x tiles) into the
// output rows 2*t0 .. 2*t1-1 of image img of y; bias may be NULL.
static void wino_output(const float *m, ptrdiff_t out, ptrdiff_t n, ptrdiff_t h, ptrdiff_t w, ptrdiff_t img,
		ptrdiff_t t0, ptrdiff_t t1, const float *bias, float *y) {
	ptrdiff_t tw = w / 2, tiles = (t1 - t0) * tw, stride = out * tiles;
	for (ptrdiff_t o = 0; o < out; o++) {
		float b = bias ? bias[o] : 0;
		float *dst = y + (o * n + img) * h * w;
		for (ptrdiff_t ty = t0; ty < t1; ty++) {
			const float *p = m + o * tiles + (ty - t0) * tw;
			float *y0 = dst + 2 * ty * w, *y1 = y0 + w;
			for (ptrdiff_t tx = 0; tx < tw; tx++) {
				float s0[4], s1[4];
				for (int j = 0; j < 4; j++) {
					float m0 = p[j * stride + tx], m1 = p[(4 + j) * stride + tx];
					float m2 = p[(8 + j) * stride + tx], m3 = p[(12 + j) * stride + tx];
					s0[j] = m0 + m1 + m2;
					s1[j] = m1 - m2 - m3;
				}
				y0[2 * tx] = s0[0] + s0[1] + s0[2] + b;
				y0[2 * tx + 1] = s0[1] - s0[2] - s0[3] + b;
				y1[2 * tx] = s1[0] + s1[1] + s1[2] + b;
				y1[2 * tx + 1] = s1[1] - s1[2] - s1[3] + b;
			}
		}
	}
}

// wino_grad_cols spreads one combined dy row q (2*tw values) over the tiles: tile tx's pair
// a = q[2tx], b = q[2tx+1] becomes a, (a+b)/2, (a-b)/2, -b.
__attribute__((noinline)) static void wino_grad_cols(const float *restrict q, ptrdiff_t tw,
		float *restrict o0, float *restrict o1, float *restrict o2, float *restrict o3) {
	for (ptrdiff_t tx = 0; tx < tw; tx++) {
		float a = q[2 * tx], b = q[2 * tx + 1];
		o0[tx] = a;
		o1[tx] = 0.5f * (a + b);
		o2[tx] = 0.5f * (a - b);
		o3[tx] = -b;
	}
}

// wino_grad_rows combines the two dy rows of a tile row as G'' does: r0, (r0+r1)/2,
// (r0-r1)/2, -r1.
__attribute__((noinline)) static void wino_grad_rows(const float *restrict r0, const float *restrict r1, ptrdiff_t w,
		float *restrict q0, float *restrict q1, float *restrict q2, float *restrict q3) {
	for (ptrdiff_t j = 0; j < w; j++) {
		q0[j] = r0[j];
		q1[j] = 0.5f * (r0[j] + r1[j]);
		q2[j] = 0.5f * (r0[j] - r1[j]);
		q3[j] = -r1[j];
	}
}

// wino_grad_tiles sets d (16 matrices out x tiles) to G'' t G''t of every 2x2 tile t of the
// tile rows [t0, t1) of image img of dy (out channels of n planes h x w); e is 4*w floats.
static void wino_grad_tiles(const float *dy, ptrdiff_t out, ptrdiff_t n, ptrdiff_t h, ptrdiff_t w, ptrdiff_t img,
		ptrdiff_t t0, ptrdiff_t t1, float *d, float *e) {
	ptrdiff_t tw = w / 2, tiles = (t1 - t0) * tw, stride = out * tiles;
	for (ptrdiff_t o = 0; o < out; o++) {
		const float *src = dy + (o * n + img) * h * w;
		for (ptrdiff_t ty = t0; ty < t1; ty++) {
			const float *r0 = src + 2 * ty * w;
			wino_grad_rows(r0, r0 + w, w, e, e + w, e + 2 * w, e + 3 * w);
			ptrdiff_t base = o * tiles + (ty - t0) * tw;
			for (int i = 0; i < 4; i++) {
				float *o0 = d + (i * 4) * stride + base;
				wino_grad_cols(e + i * w, tw, o0, o0 + stride, o0 + 2 * stride, o0 + 3 * stride);
			}
		}
	}
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

// maxPool2Plane pools the 2x2 windows of the plane x (h x w) into y, recording in arg the
// position (0..3) of each window's first maximum.
func maxPool2Plane(x, y []float32, arg []uint8, h, w int) {
	n := (h / 2) * (w / 2)
	if n == 0 {
		return
	}
	C.maxpool2(fptr(x[:h*w]), fptr(y[:n]), (*C.uchar)(unsafe.Pointer(unsafe.SliceData(arg[:n]))), C.ptrdiff_t(h), C.ptrdiff_t(w))
}

// conv3x3Rows computes the output rows [r0, r1) of the batch (row r is row r%h of sample
// r/h) of a 3x3 pad-1 stride-1 convolution of x (in channels of n planes h x w) with out
// kernels w (row stride ld, taps ordered channel, ky, kx, then the bias) into y.
func conv3x3Rows(x []float32, in, out, n, h, w int, wt []float32, ld, r0, r1 int, y []float32) {
	if r0 >= r1 {
		return
	}
	_ = x[in*n*h*w-1]
	_ = y[out*n*h*w-1]
	_ = wt[(out-1)*ld+in*9]
	C.conv3x3_rows(fptr(x), C.ptrdiff_t(in), C.ptrdiff_t(out), C.ptrdiff_t(n), C.ptrdiff_t(h), C.ptrdiff_t(w),
		fptr(wt), C.ptrdiff_t(ld), C.ptrdiff_t(r0), C.ptrdiff_t(r1), fptr(y))
}

// sumFloats returns the sum of x, accumulated in a fixed order.
func sumFloats(x []float32) float64 {
	if len(x) == 0 {
		return 0
	}
	return float64(C.sum(fptr(x), C.ptrdiff_t(len(x))))
}

// winogradWeights sets rows [0, out) of u, 16 matrices of rows x in, to G g Gt of every
// kernel of w (row stride ld, taps ordered channel, ky, kx).
func winogradWeights(w []float32, ld, out, in, rows int, u []float32) {
	_ = w[(out-1)*ld+in*9-1]
	_ = u[15*rows*in+(out-1)*in+in-1]
	if C.wino_weights(fptr(w), C.ptrdiff_t(ld), C.ptrdiff_t(out), C.ptrdiff_t(in), C.ptrdiff_t(rows), fptr(u)) == 0 {
		panic("ml: out of memory in Winograd weights")
	}
}

// winogradInput sets v (16 matrices in x tiles) to Bt d B of every 4x4 patch of the tile
// rows [t0, t1) of image img; e holds 5*w+8 values of scratch.
func winogradInput(x []float32, in, n, h, w, img, t0, t1 int, v, e []float32) {
	_ = x[in*n*h*w-1]
	C.wino_input(fptr(x), C.ptrdiff_t(in), C.ptrdiff_t(n), C.ptrdiff_t(h), C.ptrdiff_t(w), C.ptrdiff_t(img),
		C.ptrdiff_t(t0), C.ptrdiff_t(t1), fptr(v[:16*in*(t1-t0)*(w/2)]), fptr(e[:8*(w/2+1)+w]))
}

// winogradOutput writes At m A + bias of every tile of m (16 matrices out x tiles) into the
// output rows 2*t0 .. 2*t1-1 of image img of y; bias may be nil.
func winogradOutput(m []float32, out, n, h, w, img, t0, t1 int, bias, y []float32) {
	_ = y[out*n*h*w-1]
	var b *C.float
	if bias != nil {
		b = fptr(bias[:out])
	}
	C.wino_output(fptr(m[:16*out*(t1-t0)*(w/2)]), C.ptrdiff_t(out), C.ptrdiff_t(n), C.ptrdiff_t(h), C.ptrdiff_t(w),
		C.ptrdiff_t(img), C.ptrdiff_t(t0), C.ptrdiff_t(t1), b, fptr(y))
}

// winogradGradTiles sets d (16 matrices out x tiles) to the weight-gradient transform of
// every 2x2 tile of the tile rows [t0, t1) of image img of dy; e holds 4*w values of scratch.
func winogradGradTiles(dy []float32, out, n, h, w, img, t0, t1 int, d, e []float32) {
	_ = dy[out*n*h*w-1]
	C.wino_grad_tiles(fptr(dy), C.ptrdiff_t(out), C.ptrdiff_t(n), C.ptrdiff_t(h), C.ptrdiff_t(w), C.ptrdiff_t(img),
		C.ptrdiff_t(t0), C.ptrdiff_t(t1), fptr(d[:16*out*(t1-t0)*(w/2)]), fptr(e[:4*w]))
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}
