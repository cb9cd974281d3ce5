package ml

// Winograd F(2x2, 3x3): a 3x3 pad-1 stride-1 convolution computed on 2x2 output tiles from
// 4x4 input patches, with 16 multiplications per tile and channel pair instead of 36. The
// patches and the kernels are transformed (V = Bt d B, U = G g Gt), the 16 transformed
// positions are 16 independent GEMMs U_xi (Out x In) * V_xi (In x tiles), and the output
// tiles come back as At M A. Products are 2.25 times fewer than by im2col, at the cost of
// transforms that touch every value a few times. The transforms here are the Go versions;
// kernels_c.go has vectorised C ones.

// winogradBudget bounds each core's transformed patches and products (float32 values):
// 1 MiB, about a core's L2 cache. Measured against 256 KiB and 4 MiB: 80x80 training and
// single-slice inference are fastest here (5-10%), 160x160 training within 3%.
var winogradBudget = 1 << 18

// winogradUsable reports whether the forward convolution s can run by Winograd: a 3x3
// kernel keeping the size, even sides (whole tiles), and enough channels for the GEMMs to
// pay for the transforms.
func winogradUsable(s ConvShape) bool {
	return s.K == 3 && s.Pad == 1 && s.Dil == 1 && s.H%2 == 0 && s.W%2 == 0 && s.In >= 16 && s.Out >= 16
}

// winogradWeightsGo sets rows [0, out) of u, 16 matrices of rows x in (row stride in,
// matrix stride rows*in), to G g Gt of every kernel g in w (row stride ld, taps ordered
// channel, ky, kx).
func winogradWeightsGo(w []float32, ld, out, in, rows int, u []float32) {
	plane := rows * in
	for o := 0; o < out; o++ {
		for c := 0; c < in; c++ {
			g := w[o*ld+c*9 : o*ld+c*9+9]
			// t = G g (4x3), then t Gt (4x4).
			var t [4][3]float32
			for j := 0; j < 3; j++ {
				g0, g1, g2 := g[j], g[3+j], g[6+j]
				t[0][j] = g0
				t[1][j] = 0.5 * (g0 + g1 + g2)
				t[2][j] = 0.5 * (g0 - g1 + g2)
				t[3][j] = g2
			}
			for i := 0; i < 4; i++ {
				r := t[i]
				at := i*4*plane + o*in + c
				u[at] = r[0]
				u[at+plane] = 0.5 * (r[0] + r[1] + r[2])
				u[at+2*plane] = 0.5 * (r[0] - r[1] + r[2])
				u[at+3*plane] = r[2]
			}
		}
	}
}

// winogradInputGo sets v, 16 matrices In x tiles, to Bt d B of every 4x4 patch d of the
// tile rows [t0, t1) of image img (tiles ordered row-major, tw = w/2 per row). e holds
// 5*w+8 values of scratch.
func winogradInputGo(x []float32, in, n, h, w, img, t0, t1 int, v, e []float32) {
	tw := w / 2
	tiles := (t1 - t0) * tw
	plane := h * w
	pw := w + 2
	e0, e1, e2, e3 := e[:pw], e[pw:2*pw], e[2*pw:3*pw], e[3*pw:4*pw]
	stride := in * tiles // between transformed positions
	for c := 0; c < in; c++ {
		src := x[(c*n+img)*plane : (c*n+img+1)*plane]
		for ty := t0; ty < t1; ty++ {
			// Rows 2ty-1 .. 2ty+2, zero outside the image, combined as Bt's rows.
			row := func(y int) []float32 {
				if y < 0 || y >= h {
					return nil
				}
				return src[y*w : (y+1)*w]
			}
			r0, r1, r2, r3 := row(2*ty-1), row(2*ty), row(2*ty+1), row(2*ty+2)
			for j := 0; j < w; j++ {
				var d0, d1, d2, d3 float32
				if r0 != nil {
					d0 = r0[j]
				}
				d1, d2 = r1[j], r2[j]
				if r3 != nil {
					d3 = r3[j]
				}
				e0[j+1], e1[j+1], e2[j+1], e3[j+1] = d0-d2, d1+d2, d2-d1, d1-d3
			}
			base := c*tiles + (ty-t0)*tw
			for i, ei := range [4][]float32{e0, e1, e2, e3} {
				ei[0], ei[w+1] = 0, 0
				o0 := v[(i*4)*stride+base:]
				o1 := v[(i*4+1)*stride+base:]
				o2 := v[(i*4+2)*stride+base:]
				o3 := v[(i*4+3)*stride+base:]
				for tx := 0; tx < tw; tx++ {
					a, b, cc, d := ei[2*tx], ei[2*tx+1], ei[2*tx+2], ei[2*tx+3]
					o0[tx], o1[tx], o2[tx], o3[tx] = a-cc, b+cc, cc-b, b-d
				}
			}
		}
	}
}

// winogradOutputGo writes At m A (+ bias) of every tile of the products m (16 matrices Out x
// tiles) into the output rows 2*t0 .. 2*t1-1 of image img of y (channel-major, n planes
// h x w).
func winogradOutputGo(m []float32, out, n, h, w, img, t0, t1 int, bias, y []float32) {
	tw := w / 2
	tiles := (t1 - t0) * tw
	stride := out * tiles
	for o := 0; o < out; o++ {
		var b float32
		if bias != nil {
			b = bias[o]
		}
		dst := y[(o*n+img)*h*w:]
		for ty := t0; ty < t1; ty++ {
			base := o*tiles + (ty-t0)*tw
			y0 := dst[2*ty*w : (2*ty+1)*w]
			y1 := dst[(2*ty+1)*w : (2*ty+2)*w]
			var p [16][]float32
			for k := range p {
				p[k] = m[k*stride+base : k*stride+base+tw]
			}
			for tx := 0; tx < tw; tx++ {
				// s = At m (2x4), then s A (2x2).
				var s [2][4]float32
				for j := 0; j < 4; j++ {
					m0, m1, m2, m3 := p[j][tx], p[4+j][tx], p[8+j][tx], p[12+j][tx]
					s[0][j] = m0 + m1 + m2
					s[1][j] = m1 - m2 - m3
				}
				y0[2*tx] = s[0][0] + s[0][1] + s[0][2] + b
				y0[2*tx+1] = s[0][1] - s[0][2] - s[0][3] + b
				y1[2*tx] = s[1][0] + s[1][1] + s[1][2] + b
				y1[2*tx+1] = s[1][1] - s[1][2] - s[1][3] + b
			}
		}
	}
}

// convWinograd computes y = w*x + bias (bias may be nil) for a convolution that
// winogradUsable accepts; w is Out x (In*9) with row stride ld.
func (b *cpu) convWinograd(ws *Workspace, s ConvShape, x, w []float32, ld int, bias, y []float32) {
	in, out := s.In, s.Out
	th, tw := s.H/2, s.W/2
	u := ws.reordered(16 * out * in)
	// Each range of output channels transforms its kernels into its rows of the 16 matrices.
	b.parallel(out, 8, func(lo, hi int) {
		winogradWeights(w[lo*ld:], ld, hi-lo, in, out, u[lo*in:])
	})
	// Chunks of tile rows within one image, a few per core, their patches and products
	// within winogradBudget.
	step := max(winogradBudget/(16*(in+out)*tw), 1)
	step = min(step, (s.N*th+3*b.workers-1)/(3*b.workers), th)
	perImage := (th + step - 1) / step
	ws.reserveWorkers(b.workers)
	b.dynamicW(s.N*perImage, func(i, worker int) {
		img, t0 := i/perImage, (i%perImage)*step
		t1 := min(t0+step, th)
		tiles := (t1 - t0) * tw
		buf := ws.workerCols(worker, 16*(in+out)*tiles+5*s.W+8)
		v, m, e := buf[:16*in*tiles], buf[16*in*tiles:16*(in+out)*tiles], buf[16*(in+out)*tiles:]
		winogradInput(x, in, s.N, s.H, s.W, img, t0, t1, v, e)
		for k := 0; k < 16; k++ {
			sgemm(false, false, out, tiles, in, 1, u[k*out*in:], in, v[k*in*tiles:], tiles, 0, m[k*out*tiles:], tiles)
		}
		winogradOutput(m, out, s.N, s.H, s.W, img, t0, t1, bias, y)
	})
}

// The weight gradient by Winograd F(3x3, 2x2): each 2x2 tile of dy acts as the kernel and the
// tile's 4x4 input patch (transformed as in the forward pass) as the data, so that
// dW = At'' [(G'' dy G''t) . (Bt x B)] A'' summed over tiles: 16 GEMMs with the tiles as the
// inner dimension. G'' = [1 0; 1/2 1/2; 1/2 -1/2; 0 -1] and At'' = [1 1 1 0; 0 1 -1 0; 0 1 1 1]
// pair with the forward pass's Bt.

// winogradGradBudget bounds each core's transformed patches and dy tiles (float32 values):
// the tiles are the GEMMs' inner dimension, which wants to be long.
var winogradGradBudget = 1 << 20

// winogradGradTilesGo sets d (16 matrices out x tiles) to G” t G”t of every 2x2 tile t of
// the tile rows [t0, t1) of image img of dy.
func winogradGradTilesGo(dy []float32, out, n, h, w, img, t0, t1 int, d []float32) {
	tw := w / 2
	tiles := (t1 - t0) * tw
	stride := out * tiles
	for o := 0; o < out; o++ {
		src := dy[(o*n+img)*h*w:]
		for ty := t0; ty < t1; ty++ {
			r0, r1 := src[2*ty*w:(2*ty+1)*w], src[(2*ty+1)*w:(2*ty+2)*w]
			base := o*tiles + (ty-t0)*tw
			for tx := 0; tx < tw; tx++ {
				a0, b0, a1, b1 := r0[2*tx], r0[2*tx+1], r1[2*tx], r1[2*tx+1]
				// Rows combined: r0, (r0+r1)/2, (r0-r1)/2, -r1; then the same across columns.
				rows := [4][2]float32{{a0, b0}, {0.5 * (a0 + a1), 0.5 * (b0 + b1)}, {0.5 * (a0 - a1), 0.5 * (b0 - b1)}, {-a1, -b1}}
				for i, r := range rows {
					a, b := r[0], r[1]
					d[(i*4)*stride+base+tx] = a
					d[(i*4+1)*stride+base+tx] = 0.5 * (a + b)
					d[(i*4+2)*stride+base+tx] = 0.5 * (a - b)
					d[(i*4+3)*stride+base+tx] = -b
				}
			}
		}
	}
}

// winogradWeightGrad sets dwExt (Out x (In*9+1), the bias last) to the weight and bias
// gradients of a convolution that winogradUsable accepts, from its input x and output
// gradient dy. Chunks of tile rows form a fixed number of groups, each summed into its own
// slot by whichever core takes it, and the slots are added in order, so the result does not
// depend on scheduling.
func (b *cpu) winogradWeightGrad(ws *Workspace, s ConvShape, x, dy, dwExt []float32) {
	in, out := s.In, s.Out
	th, tw := s.H/2, s.W/2
	ldy := s.N * s.H * s.W
	step := min(max(winogradGradBudget/(16*(in+out)*tw), 1), th)
	perImage := (th + step - 1) / step
	step = (th + perImage - 1) / perImage
	chunks := s.N * perImage
	groups := min(chunks, 3*b.workers)
	per := (chunks + groups - 1) / groups
	groups = (chunks + per - 1) / per
	size := 16*out*in + out
	slots := ws.dwSlots(groups * size)
	ws.reserveWorkers(b.workers)
	b.dynamicW(groups, func(g, worker int) {
		slot := slots[g*size : (g+1)*size]
		clear(slot)
		dbias := slot[16*out*in:]
		for i := g * per; i < min((g+1)*per, chunks); i++ {
			img, t0 := i/perImage, (i%perImage)*step
			t1 := min(t0+step, th)
			tiles := (t1 - t0) * tw
			buf := ws.workerCols(worker, 16*(in+out)*tiles+5*s.W+8)
			v, d, e := buf[:16*in*tiles], buf[16*in*tiles:16*(in+out)*tiles], buf[16*(in+out)*tiles:]
			winogradInput(x, in, s.N, s.H, s.W, img, t0, t1, v, e)
			winogradGradTiles(dy, out, s.N, s.H, s.W, img, t0, t1, d, e)
			for k := 0; k < 16; k++ {
				sgemm(false, true, out, in, tiles, 1, d[k*out*tiles:], tiles, v[k*in*tiles:], tiles, 1, slot[k*out*in:], in)
			}
			dyc := dy[img*s.H*s.W+2*t0*s.W:]
			for o := range dbias {
				dbias[o] += float32(sumFloats(dyc[o*ldy : o*ldy+2*(t1-t0)*s.W]))
			}
		}
	})
	for g := 1; g < groups; g++ {
		dst := slots[:size]
		for j, v := range slots[g*size : (g+1)*size] {
			dst[j] += v
		}
	}
	kk := in * 9
	plane := out * in
	for o := 0; o < out; o++ {
		for c := 0; c < in; c++ {
			var m [16]float32
			for k := range m {
				m[k] = slots[k*plane+o*in+c]
			}
			// t = At'' m (3x4), then t A'' (3x3).
			var t [3][4]float32
			for j := 0; j < 4; j++ {
				t[0][j] = m[j] + m[4+j] + m[8+j]
				t[1][j] = m[4+j] - m[8+j]
				t[2][j] = m[4+j] + m[8+j] + m[12+j]
			}
			dw := dwExt[o*(kk+1)+c*9 : o*(kk+1)+c*9+9]
			for i := 0; i < 3; i++ {
				dw[i*3] = t[i][0] + t[i][1] + t[i][2]
				dw[i*3+1] = t[i][1] - t[i][2]
				dw[i*3+2] = t[i][1] + t[i][2] + t[i][3]
			}
		}
		dwExt[o*(kk+1)+kk] = slots[16*plane+o]
	}
}
