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

// upsample2Plane resizes the plane x (h x w) to y (2h x 2w) bilinearly (align_corners=False):
// neighbours weigh 0.25/0.75, the end rows and columns are copied.
func upsample2Plane(x, y []float32, h, w int) {
	ow := 2 * w
	t := make([]float32, h*ow)
	for j := 0; j < h; j++ {
		upsampleRow(x[j*w:(j+1)*w], t[j*ow:(j+1)*ow])
	}
	for j := 0; j < h; j++ {
		cur := t[j*ow : (j+1)*ow]
		even, odd := y[2*j*ow:(2*j+1)*ow], y[(2*j+1)*ow:(2*j+2)*ow]
		prev, next := t[max(j-1, 0)*ow:], t[min(j+1, h-1)*ow:]
		for i, v := range cur {
			if j == 0 {
				even[i] = v
			} else {
				even[i] = 0.25*prev[i] + 0.75*v
			}
			if j == h-1 {
				odd[i] = v
			} else {
				odd[i] = 0.75*v + 0.25*next[i]
			}
		}
	}
}

func upsampleRow(r, t []float32) {
	w := len(r)
	t[0] = r[0]
	for j := 1; j < w; j++ {
		t[2*j] = 0.25*r[j-1] + 0.75*r[j]
	}
	for j := 0; j+1 < w; j++ {
		t[2*j+1] = 0.75*r[j] + 0.25*r[j+1]
	}
	t[2*w-1] = r[w-1]
}

// upsample2AdjointPlane sets dx (h x w) to the adjoint of upsample2Plane applied to dy.
func upsample2AdjointPlane(dy, dx []float32, h, w int) {
	ow, oh := 2*w, 2*h
	t := make([]float32, ow)
	for j := 0; j < h; j++ {
		a, b := dy[2*j*ow:], dy[(2*j+1)*ow:]
		lo, hi := dy[max(2*j-1, 0)*ow:], dy[min(2*j+2, oh-1)*ow:]
		for i := range t {
			t[i] = 0.75*(a[i]+b[i]) + 0.25*(lo[i]+hi[i])
		}
		d := dx[j*w : (j+1)*w]
		for i := range d {
			l, r := max(2*i-1, 0), min(2*i+2, ow-1)
			d[i] = 0.75*(t[2*i]+t[2*i+1]) + 0.25*(t[l]+t[r])
		}
	}
}

// sumFloats returns the sum of x, accumulated in a fixed order.
func sumFloats(x []float32) float64 {
	var s float64
	for _, v := range x {
		s += float64(v)
	}
	return s
}

func winogradWeights(w []float32, ld, out, in, rows int, u []float32) {
	winogradWeightsGo(w, ld, out, in, rows, u)
}

func winogradInput(x []float32, in, n, h, w, img, t0, t1 int, v, e []float32) {
	winogradInputGo(x, in, n, h, w, img, t0, t1, v, e)
}

func winogradOutput(m []float32, out, n, h, w, img, t0, t1 int, bias, y []float32) {
	winogradOutputGo(m, out, n, h, w, img, t0, t1, bias, y)
}

func winogradGradTiles(dy []float32, out, n, h, w, img, t0, t1 int, d, e []float32) {
	winogradGradTilesGo(dy, out, n, h, w, img, t0, t1, d)
}

// maxPool2Plane pools the 2x2 windows of the plane x (h x w) into y, recording in arg the
// position (0..3) of each window's first maximum.
func maxPool2Plane(x, y []float32, arg []uint8, h, w int) {
	oh, ow := h/2, w/2
	for oy := 0; oy < oh; oy++ {
		r0, r1 := x[2*oy*w:(2*oy+1)*w], x[(2*oy+1)*w:(2*oy+2)*w]
		out, ar := y[oy*ow:(oy+1)*ow], arg[oy*ow:(oy+1)*ow]
		for ox := range out {
			// Strict '>' keeps the first maximum in scan order, as PyTorch does.
			best, at := r0[2*ox], uint8(0)
			if v := r0[2*ox+1]; v > best {
				best, at = v, 1
			}
			if v := r1[2*ox]; v > best {
				best, at = v, 2
			}
			if v := r1[2*ox+1]; v > best {
				best, at = v, 3
			}
			out[ox], ar[ox] = best, at
		}
	}
}

// winograd4G applies G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6;
// 1/24 -1/12 1/6; 0 0 1] to the triple (x, y, z).
func winograd4G(x, y, z float32) [6]float32 {
	return [6]float32{
		0.25 * x,
		-(x + y + z) * (1.0 / 6),
		-(x - y + z) * (1.0 / 6),
		x*(1.0/24) + y*(1.0/12) + z*(1.0/6),
		x*(1.0/24) - y*(1.0/12) + z*(1.0/6),
		z,
	}
}

// winograd4Weights sets rows [0, out) of u, 36 matrices of rows x in, to G g Gt of every
// kernel of w (row stride ld, taps ordered channel, ky, kx).
func winograd4Weights(w []float32, ld, out, in, rows int, u []float32) {
	plane := rows * in
	for o := 0; o < out; o++ {
		for c := 0; c < in; c++ {
			g := w[o*ld+c*9 : o*ld+c*9+9]
			var t [3][6]float32 // column j of G g
			for j := range t {
				t[j] = winograd4G(g[j], g[3+j], g[6+j])
			}
			for i := 0; i < 6; i++ {
				r := winograd4G(t[0][i], t[1][i], t[2][i])
				for k, v := range r {
					u[(i*6+k)*plane+o*in+c] = v
				}
			}
		}
	}
}

// winograd4B applies Bt = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0;
// 0 2 -1 -2 1 0; 0 4 0 -5 0 1] to d.
func winograd4B(d [6]float32) [6]float32 {
	a, b, c, e, f, g := d[0], d[1], d[2], d[3], d[4], d[5]
	return [6]float32{4*a - 5*c + f, -4*(b+c) + e + f, 4*(b-c) - e + f, 2*(e-b) + f - c, 2*(b-e) + f - c, 4*b - 5*e + g}
}

// winograd4Input sets v (36 matrices in x tiles) to Bt d B of every 6x6 patch of the tile
// rows [t0, t1) of image img; e holds 13*(w+4) values of scratch (unused here).
func winograd4Input(x []float32, in, n, h, w, img, t0, t1 int, v, e []float32) {
	tw := w / 4
	tiles := (t1 - t0) * tw
	stride := in * tiles
	at := func(src []float32, y, j int) float32 {
		if y < 0 || y >= h || j < 0 || j >= w {
			return 0
		}
		return src[y*w+j]
	}
	for c := 0; c < in; c++ {
		src := x[(c*n+img)*h*w : (c*n+img+1)*h*w]
		for ty := t0; ty < t1; ty++ {
			for tx := 0; tx < tw; tx++ {
				var q [6][6]float32 // Bt d, row by row
				for j := 0; j < 6; j++ {
					var col [6]float32
					for i := range col {
						col[i] = at(src, 4*ty-1+i, 4*tx-1+j)
					}
					for i, r := range winograd4B(col) {
						q[i][j] = r
					}
				}
				base := c*tiles + (ty-t0)*tw + tx
				for i := range q {
					for k, r := range winograd4B(q[i]) {
						v[(i*6+k)*stride+base] = r
					}
				}
			}
		}
	}
}

// winograd4A applies At = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1] to m.
func winograd4A(m [6]float32) [4]float32 {
	a, d, c, f := m[1]+m[2], m[1]-m[2], m[3]+m[4], m[3]-m[4]
	return [4]float32{m[0] + a + c, d + 2*f, a + 4*c, d + 8*f + m[5]}
}

// winograd4Output writes At m A + bias of every tile of m (36 matrices out x tiles) into the
// output rows 4*t0 .. 4*t1-1 of image img of y; bias may be nil; e holds 6*w values of
// scratch (unused here).
func winograd4Output(m []float32, out, n, h, w, img, t0, t1 int, bias, y, e []float32) {
	tw := w / 4
	tiles := (t1 - t0) * tw
	stride := out * tiles
	for o := 0; o < out; o++ {
		var b float32
		if bias != nil {
			b = bias[o]
		}
		dst := y[(o*n+img)*h*w : (o*n+img+1)*h*w]
		for ty := t0; ty < t1; ty++ {
			for tx := 0; tx < tw; tx++ {
				base := o*tiles + (ty-t0)*tw + tx
				var s [4][6]float32 // At m
				for j := 0; j < 6; j++ {
					var col [6]float32
					for i := range col {
						col[i] = m[(i*6+j)*stride+base]
					}
					for i, r := range winograd4A(col) {
						s[i][j] = r
					}
				}
				for i := range s {
					for k, r := range winograd4A(s[i]) {
						dst[(4*ty+i)*w+4*tx+k] = r + b
					}
				}
			}
		}
	}
}

// conv3x3Rows computes the output rows [r0, r1) of the batch (row r is row r%h of sample
// r/h) of a 3x3 pad-1 stride-1 convolution of x (in channels of n planes h x w) with out
// kernels w (row stride ld, taps ordered channel, ky, kx, then the bias) into y.
func conv3x3Rows(x []float32, in, out, n, h, w int, wt []float32, ld, r0, r1 int, y []float32) {
	plane := h * w
	for r := r0; r < r1; r++ {
		img, oy := r/h, r%h
		for o := 0; o < out; o++ {
			k := wt[o*ld : o*ld+in*9+1]
			acc := y[(o*n+img)*plane+oy*w : (o*n+img)*plane+(oy+1)*w]
			for j := range acc {
				acc[j] = k[in*9]
			}
			for c := 0; c < in; c++ {
				for ky := 0; ky < 3; ky++ {
					iy := oy + ky - 1
					if iy < 0 || iy >= h {
						continue
					}
					row := x[(c*n+img)*plane+iy*w : (c*n+img)*plane+(iy+1)*w]
					w0, w1, w2 := k[c*9+ky*3], k[c*9+ky*3+1], k[c*9+ky*3+2]
					for j := range acc {
						var left, right float32
						if j > 0 {
							left = row[j-1]
						}
						if j+1 < w {
							right = row[j+1]
						}
						acc[j] += w0*left + w1*row[j] + w2*right
					}
				}
			}
		}
	}
}
