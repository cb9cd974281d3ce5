//go:build !purego && amd64

package ml

// C transforms of Winograd F(4x4, 3x3) (winograd4.go), vectorised by gcc.

/*
#cgo CFLAGS: -O3 -march=x86-64-v3
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

// wino4_g applies G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6;
// 0 0 1] to n triples (a[c], b[c], d[c]): output row k goes to o + k*stride.
__attribute__((noinline)) static void wino4_g(const float *restrict a, const float *restrict b,
		const float *restrict d, ptrdiff_t n, ptrdiff_t stride, float *restrict o) {
	float *o0 = o, *o1 = o0 + stride, *o2 = o1 + stride, *o3 = o2 + stride, *o4 = o3 + stride, *o5 = o4 + stride;
	#pragma GCC ivdep
	for (ptrdiff_t c = 0; c < n; c++) {
		float x = a[c], y = b[c], z = d[c];
		o0[c] = 0.25f * x;
		o1[c] = -(x + y + z) * (1.0f / 6);
		o2[c] = -(x - y + z) * (1.0f / 6);
		o3[c] = x * (1.0f / 24) + y * (1.0f / 12) + z * (1.0f / 6);
		o4[c] = x * (1.0f / 24) - y * (1.0f / 12) + z * (1.0f / 6);
		o5[c] = z;
	}
}

// wino4_weights sets rows [0, out) of u, 36 matrices of rows x in (matrix stride rows*in), to
// G g Gt of every 3x3 kernel g of w (row stride ld, taps ordered channel, ky, kx). Each output
// channel's taps are split by position first, so that every step runs across input channels.
// It returns 0 when out of memory.
static int wino4_weights(const float *w, ptrdiff_t ld, ptrdiff_t out, ptrdiff_t in, ptrdiff_t rows, float *u) {
	ptrdiff_t plane = rows * in;
	float *taps = malloc(27 * in * sizeof(float));
	if (!taps) return 0;
	float *t = taps + 9 * in;
	for (ptrdiff_t o = 0; o < out; o++) {
		const float *g = w + o * ld;
		for (ptrdiff_t c = 0; c < in; c++) {
			for (int k = 0; k < 9; k++) taps[k * in + c] = g[c * 9 + k];
		}
		// t = G g: row i*3+j of t is G's row i applied to the kernel's column j.
		for (int j = 0; j < 3; j++) wino4_g(taps + j * in, taps + (3 + j) * in, taps + (6 + j) * in, in, 3 * in, t + j * in);
		// Then t Gt: G applied across each row of t.
		for (int i = 0; i < 6; i++) {
			const float *r = t + i * 3 * in;
			wino4_g(r, r + in, r + 2 * in, in, plane, u + i * 6 * plane + o * in);
		}
	}
	free(taps);
	return 1;
}

// wino4_rows combines six input rows (padded by one zero column each side, w+2 values) as
// Bt's rows: Bt = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0;
// 0 4 0 -5 0 1].
__attribute__((noinline)) static void wino4_rows(const float *restrict r0, const float *restrict r1,
		const float *restrict r2, const float *restrict r3, const float *restrict r4, const float *restrict r5,
		ptrdiff_t n, float *restrict q) {
	float *q0 = q, *q1 = q + n, *q2 = q1 + n, *q3 = q2 + n, *q4 = q3 + n, *q5 = q4 + n;
	for (ptrdiff_t j = 0; j < n; j++) {
		float a = r0[j], b = r1[j], c = r2[j], d = r3[j], e = r4[j], f = r5[j];
		q0[j] = 4 * a - 5 * c + e;
		q1[j] = -4 * (b + c) + d + e;
		q2[j] = 4 * (b - c) - d + e;
		q3[j] = 2 * (d - b) + e - c;
		q4[j] = 2 * (b - d) + e - c;
		q5[j] = 4 * b - 5 * d + f;
	}
}

// wino4_cols applies B across the columns of one combined row q: tile tx reads q[4tx .. 4tx+5]
// and writes its six values to o[k*stride + tx].
__attribute__((noinline)) static void wino4_cols(const float *restrict q, ptrdiff_t tw, ptrdiff_t stride,
		float *restrict o) {
	float *o0 = o, *o1 = o0 + stride, *o2 = o1 + stride, *o3 = o2 + stride, *o4 = o3 + stride, *o5 = o4 + stride;
	for (ptrdiff_t tx = 0; tx < tw; tx++) {
		const float *p = q + 4 * tx;
		float a = p[0], b = p[1], c = p[2], d = p[3], e = p[4], f = p[5];
		o0[tx] = 4 * a - 5 * c + e;
		o1[tx] = -4 * (b + c) + d + e;
		o2[tx] = 4 * (b - c) - d + e;
		o3[tx] = 2 * (d - b) + e - c;
		o4[tx] = 2 * (b - d) + e - c;
		o5[tx] = 4 * b - 5 * d + f;
	}
}

// wino4_input sets v (36 matrices in x tiles) to Bt d B of every 6x6 patch d of the tile rows
// [t0, t1) of image img (4x4 output tiles, tw = w/4 per row); e is 13*(w+2) floats of scratch.
static void wino4_input(const float *x, ptrdiff_t in, ptrdiff_t n, ptrdiff_t h, ptrdiff_t w, ptrdiff_t img,
		ptrdiff_t t0, ptrdiff_t t1, float *v, float *e) {
	ptrdiff_t tw = w / 4, tiles = (t1 - t0) * tw, plane = h * w, stride = in * tiles, pw = w + 2;
	float *rows = e, *q = e + 6 * pw, *zero = e + 12 * pw;
	memset(e, 0, 13 * pw * sizeof(float));
	for (ptrdiff_t c = 0; c < in; c++) {
		const float *src = x + (c * n + img) * plane;
		for (ptrdiff_t ty = t0; ty < t1; ty++) {
			const float *r[6];
			// Input rows 4ty-1 .. 4ty+4, copied with one zero column each side.
			for (int i = 0; i < 6; i++) {
				ptrdiff_t y = 4 * ty - 1 + i;
				if (y < 0 || y >= h) {
					r[i] = zero;
					continue;
				}
				memcpy(rows + i * pw + 1, src + y * w, w * sizeof(float));
				r[i] = rows + i * pw;
			}
			wino4_rows(r[0], r[1], r[2], r[3], r[4], r[5], pw, q);
			ptrdiff_t base = c * tiles + (ty - t0) * tw;
			for (int i = 0; i < 6; i++) wino4_cols(q + i * pw, tw, stride, v + i * 6 * stride + base);
		}
	}
}

// wino4_output writes At m A + bias of every tile of m (36 matrices out x tiles) into the
// output rows 4*t0 .. 4*t1-1 of image img of y; bias may be NULL. At = [1 1 1 1 1 0;
// 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1].
static void wino4_output(const float *m, ptrdiff_t out, ptrdiff_t n, ptrdiff_t h, ptrdiff_t w, ptrdiff_t img,
		ptrdiff_t t0, ptrdiff_t t1, const float *bias, float *y) {
	ptrdiff_t tw = w / 4, tiles = (t1 - t0) * tw, stride = out * tiles;
	for (ptrdiff_t o = 0; o < out; o++) {
		float b = bias ? bias[o] : 0;
		float *dst = y + (o * n + img) * h * w;
		for (ptrdiff_t ty = t0; ty < t1; ty++) {
			const float *p = m + o * tiles + (ty - t0) * tw;
			float *y0 = dst + 4 * ty * w, *y1 = y0 + w, *y2 = y1 + w, *y3 = y2 + w;
			for (ptrdiff_t tx = 0; tx < tw; tx++) {
				float s[4][6];
				for (int j = 0; j < 6; j++) {
					float m0 = p[j * stride + tx], m1 = p[(6 + j) * stride + tx], m2 = p[(12 + j) * stride + tx];
					float m3 = p[(18 + j) * stride + tx], m4 = p[(24 + j) * stride + tx], m5 = p[(30 + j) * stride + tx];
					float a = m1 + m2, d = m1 - m2, c = m3 + m4, f = m3 - m4;
					s[0][j] = m0 + a + c;
					s[1][j] = d + 2 * f;
					s[2][j] = a + 4 * c;
					s[3][j] = d + 8 * f + m5;
				}
				float *yr[4] = {y0 + 4 * tx, y1 + 4 * tx, y2 + 4 * tx, y3 + 4 * tx};
				for (int i = 0; i < 4; i++) {
					float a = s[i][1] + s[i][2], d = s[i][1] - s[i][2], c = s[i][3] + s[i][4], f = s[i][3] - s[i][4];
					yr[i][0] = s[i][0] + a + c + b;
					yr[i][1] = d + 2 * f + b;
					yr[i][2] = a + 4 * c + b;
					yr[i][3] = d + 8 * f + s[i][5] + b;
				}
			}
		}
	}
}
*/
import "C"

// winograd4Weights sets rows [0, out) of u, 36 matrices of rows x in, to G g Gt of every
// kernel of w (row stride ld, taps ordered channel, ky, kx).
func winograd4Weights(w []float32, ld, out, in, rows int, u []float32) {
	if out == 0 {
		return
	}
	_ = w[(out-1)*ld+in*9-1]
	_ = u[35*rows*in+(out-1)*in+in-1]
	if C.wino4_weights(fptr(w), C.ptrdiff_t(ld), C.ptrdiff_t(out), C.ptrdiff_t(in), C.ptrdiff_t(rows), fptr(u)) == 0 {
		panic("ml: out of memory in Winograd weights")
	}
}

// winograd4Input sets v (36 matrices in x tiles) to Bt d B of every 6x6 patch of the tile
// rows [t0, t1) of image img; e holds 13*(w+2) values of scratch.
func winograd4Input(x []float32, in, n, h, w, img, t0, t1 int, v, e []float32) {
	_ = x[in*n*h*w-1]
	C.wino4_input(fptr(x), C.ptrdiff_t(in), C.ptrdiff_t(n), C.ptrdiff_t(h), C.ptrdiff_t(w), C.ptrdiff_t(img),
		C.ptrdiff_t(t0), C.ptrdiff_t(t1), fptr(v[:36*in*(t1-t0)*(w/4)]), fptr(e[:13*(w+2)]))
}

// winograd4Output writes At m A + bias of every tile of m (36 matrices out x tiles) into the
// output rows 4*t0 .. 4*t1-1 of image img of y; bias may be nil.
func winograd4Output(m []float32, out, n, h, w, img, t0, t1 int, bias, y []float32) {
	_ = y[out*n*h*w-1]
	var b *C.float
	if bias != nil {
		b = fptr(bias[:out])
	}
	C.wino4_output(fptr(m[:36*out*(t1-t0)*(w/4)]), C.ptrdiff_t(out), C.ptrdiff_t(n), C.ptrdiff_t(h), C.ptrdiff_t(w),
		C.ptrdiff_t(img), C.ptrdiff_t(t0), C.ptrdiff_t(t1), b, fptr(y))
}
