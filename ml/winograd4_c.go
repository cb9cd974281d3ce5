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

// wino4_rows combines six input rows as Bt's rows: Bt = [4 0 -5 0 1 0; 0 -4 -4 1 1 0;
// 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1].
__attribute__((noinline)) static void wino4_rows(const float *restrict r0, const float *restrict r1,
		const float *restrict r2, const float *restrict r3, const float *restrict r4, const float *restrict r5,
		ptrdiff_t n, float *restrict q0, float *restrict q1, float *restrict q2, float *restrict q3,
		float *restrict q4, float *restrict q5) {
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

// wino4_split deals the values of q out by column modulo 4: pr[k] = q[4k+r], k in [0, n).
__attribute__((noinline)) static void wino4_split(const float *restrict q, ptrdiff_t n, float *restrict p0,
		float *restrict p1, float *restrict p2, float *restrict p3) {
	for (ptrdiff_t k = 0; k < n; k++) {
		p0[k] = q[4 * k];
		p1[k] = q[4 * k + 1];
		p2[k] = q[4 * k + 2];
		p3[k] = q[4 * k + 3];
	}
}

// wino4_cols applies B across the columns of one combined row, dealt out by column modulo 4
// (wino4_split): tile tx reads p0[tx], p1[tx], p2[tx], p3[tx], p0[tx+1], p1[tx+1].
__attribute__((noinline)) static void wino4_cols(const float *restrict p0, const float *restrict p1,
		const float *restrict p2, const float *restrict p3, ptrdiff_t tw, float *restrict o0, float *restrict o1,
		float *restrict o2, float *restrict o3, float *restrict o4, float *restrict o5) {
	for (ptrdiff_t tx = 0; tx < tw; tx++) {
		float a = p0[tx], b = p1[tx], c = p2[tx], d = p3[tx], e = p0[tx + 1], f = p1[tx + 1];
		o0[tx] = 4 * a - 5 * c + e;
		o1[tx] = -4 * (b + c) + d + e;
		o2[tx] = 4 * (b - c) - d + e;
		o3[tx] = 2 * (d - b) + e - c;
		o4[tx] = 2 * (b - d) + e - c;
		o5[tx] = 4 * b - 5 * d + f;
	}
}

// wino4_input sets v (36 matrices in x tiles) to Bt d B of every 6x6 patch d of the tile rows
// [t0, t1) of image img (4x4 output tiles, tw = w/4 per row); e is 13*(w+4) floats of scratch.
// Each tile row's six input rows are combined as Bt's rows into a zero-padded row (padded
// column p = input column p-1), dealt out by column modulo 4 so that the column transform
// reads contiguous values; rows outside the image read a zero row.
static void wino4_input(const float *x, ptrdiff_t in, ptrdiff_t n, ptrdiff_t h, ptrdiff_t w, ptrdiff_t img,
		ptrdiff_t t0, ptrdiff_t t1, float *v, float *e) {
	ptrdiff_t tw = w / 4, tiles = (t1 - t0) * tw, plane = h * w, stride = in * tiles, pw = 4 * (tw + 1);
	float *q = e, *ph = e + 6 * pw, *zero = ph + 6 * pw;
	memset(e, 0, (12 * pw + w) * sizeof(float));
	for (ptrdiff_t c = 0; c < in; c++) {
		const float *src = x + (c * n + img) * plane;
		for (ptrdiff_t ty = t0; ty < t1; ty++) {
			const float *r[6];
			for (int i = 0; i < 6; i++) {
				ptrdiff_t y = 4 * ty - 1 + i;
				r[i] = y < 0 || y >= h ? zero : src + y * w;
			}
			wino4_rows(r[0], r[1], r[2], r[3], r[4], r[5], w, q + 1, q + pw + 1, q + 2 * pw + 1, q + 3 * pw + 1,
				q + 4 * pw + 1, q + 5 * pw + 1);
			ptrdiff_t base = c * tiles + (ty - t0) * tw, k = tw + 1;
			for (int i = 0; i < 6; i++) {
				float *p = ph + i * pw;
				wino4_split(q + i * pw, k, p, p + k, p + 2 * k, p + 3 * k);
				float *o = v + i * 6 * stride + base;
				wino4_cols(p, p + k, p + 2 * k, p + 3 * k, tw, o, o + stride, o + 2 * stride, o + 3 * stride,
					o + 4 * stride, o + 5 * stride);
			}
		}
	}
}

// wino4_at applies At = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1] to n columns
// (m0[t] .. m5[t]), writing s0 .. s3.
__attribute__((noinline)) static void wino4_at(const float *restrict m0, const float *restrict m1,
		const float *restrict m2, const float *restrict m3, const float *restrict m4, const float *restrict m5,
		ptrdiff_t n, float *restrict s0, float *restrict s1, float *restrict s2, float *restrict s3) {
	for (ptrdiff_t t = 0; t < n; t++) {
		float a = m1[t] + m2[t], d = m1[t] - m2[t], c = m3[t] + m4[t], f = m3[t] - m4[t];
		s0[t] = m0[t] + a + c;
		s1[t] = d + 2 * f;
		s2[t] = a + 4 * c;
		s3[t] = d + 8 * f + m5[t];
	}
}

// wino4_out_row applies At across a row of tiles, (s0[tx] .. s5[tx]) for tile tx, adding b
// and writing the four values of tile tx to y[4tx .. 4tx+3].
__attribute__((noinline)) static void wino4_out_row(const float *restrict s0, const float *restrict s1,
		const float *restrict s2, const float *restrict s3, const float *restrict s4, const float *restrict s5,
		ptrdiff_t tw, float b, float *restrict y) {
	for (ptrdiff_t tx = 0; tx < tw; tx++) {
		float a = s1[tx] + s2[tx], d = s1[tx] - s2[tx], c = s3[tx] + s4[tx], f = s3[tx] - s4[tx];
		y[4 * tx] = s0[tx] + a + c + b;
		y[4 * tx + 1] = d + 2 * f + b;
		y[4 * tx + 2] = a + 4 * c + b;
		y[4 * tx + 3] = d + 8 * f + s5[tx] + b;
	}
}

// wino4_output writes At m A + bias of every tile of m (36 matrices out x tiles) into the
// output rows 4*t0 .. 4*t1-1 of image img of y; bias may be NULL; e is 24*(w/4) floats of
// scratch. The rows of each tile are combined first, for a whole row of tiles at once.
static void wino4_output(const float *m, ptrdiff_t out, ptrdiff_t n, ptrdiff_t h, ptrdiff_t w, ptrdiff_t img,
		ptrdiff_t t0, ptrdiff_t t1, const float *bias, float *y, float *e) {
	ptrdiff_t tw = w / 4, tiles = (t1 - t0) * tw, stride = out * tiles;
	for (ptrdiff_t o = 0; o < out; o++) {
		float b = bias ? bias[o] : 0;
		float *dst = y + (o * n + img) * h * w;
		for (ptrdiff_t ty = t0; ty < t1; ty++) {
			const float *p = m + o * tiles + (ty - t0) * tw;
			// s[(r*6+j)*tw + tx]: row r of At applied to column j of tile tx.
			for (int j = 0; j < 6; j++) {
				float *s = e + j * tw;
				wino4_at(p + j * stride, p + (6 + j) * stride, p + (12 + j) * stride, p + (18 + j) * stride,
					p + (24 + j) * stride, p + (30 + j) * stride, tw, s, s + 6 * tw, s + 12 * tw, s + 18 * tw);
			}
			for (int r = 0; r < 4; r++) {
				const float *s = e + r * 6 * tw;
				wino4_out_row(s, s + tw, s + 2 * tw, s + 3 * tw, s + 4 * tw, s + 5 * tw, tw, b, dst + (4 * ty + r) * w);
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
// rows [t0, t1) of image img; e holds 13*(w+4) values of scratch.
func winograd4Input(x []float32, in, n, h, w, img, t0, t1 int, v, e []float32) {
	_ = x[in*n*h*w-1]
	C.wino4_input(fptr(x), C.ptrdiff_t(in), C.ptrdiff_t(n), C.ptrdiff_t(h), C.ptrdiff_t(w), C.ptrdiff_t(img),
		C.ptrdiff_t(t0), C.ptrdiff_t(t1), fptr(v[:36*in*(t1-t0)*(w/4)]), fptr(e[:13*(w+4)]))
}

// winograd4Output writes At m A + bias of every tile of m (36 matrices out x tiles) into the
// output rows 4*t0 .. 4*t1-1 of image img of y; bias may be nil; e holds 6*w values of scratch.
func winograd4Output(m []float32, out, n, h, w, img, t0, t1 int, bias, y, e []float32) {
	_ = y[out*n*h*w-1]
	var b *C.float
	if bias != nil {
		b = fptr(bias[:out])
	}
	C.wino4_output(fptr(m[:36*out*(t1-t0)*(w/4)]), C.ptrdiff_t(out), C.ptrdiff_t(n), C.ptrdiff_t(h), C.ptrdiff_t(w),
		C.ptrdiff_t(img), C.ptrdiff_t(t0), C.ptrdiff_t(t1), b, fptr(y), fptr(e[:6*w]))
}
