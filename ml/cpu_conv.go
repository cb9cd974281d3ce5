package ml

// The CPU convolution, over chunks of output rows: 3x3 same-size convolutions with at least
// 16 channels in and out by Winograd (winograd.go; forward passes on planes of at least
// 32x32 by F(4x4, 3x3), winograd4.go), forward passes of 3x3 same-size convolutions with at
// most 4 outputs (a head) directly, others with In*K >= 16 by K row-shifted GEMMs
// (convShifted), the rest by im2col + one SGEMM. Each core takes whole chunks, unrolling a
// chunk into its own scratch and multiplying it single-threaded, so the scratch stays in
// that core's cache and cores meet only once per pass instead of twice per chunk.

// colBudget bounds each core's im2col scratch (in float32 values): convolutions are
// computed in chunks of image rows whose unrolled columns fit, which keeps the scratch
// cache-sized instead of proportional to the batch.
var colBudget = 1 << 19

// ConvShape describes a stride-1 convolution of a batch.
type ConvShape struct {
	In, Out, K, Pad, Dil int // channels, square kernel side, zero padding, dilation
	N, H, W              int // batch and input size
}

// OutSize is the output's spatial size.
func (s ConvShape) OutSize() (int, int) {
	span := s.Dil * (s.K - 1)
	return s.H + 2*s.Pad - span, s.W + 2*s.Pad - span
}

// chunkRows picks how many rows (of rowLen values) to unroll at once: the unrolled columns
// (taps values per column) stay within colBudget, and there are a few chunks per core
// whenever the batch has that many rows.
func (b *cpu) chunkRows(taps, rowLen, rows int) int {
	r := colBudget / (taps * rowLen)
	r = min(r, (rows+3*b.workers-1)/(3*b.workers))
	return max(r, 1)
}

// shiftedMinTaps is the smallest In*K for which a convolution runs as K row-shifted GEMMs
// (see convShifted); below it, one im2col GEMM with the bias column is faster.
const shiftedMinTaps = 16

func (b *cpu) ConvForward(ws *Workspace, s ConvShape, x, wExt, y []float32) {
	kk := s.In * s.K * s.K
	if winogradUsable(s) {
		bias := ws.biasColumn(s.Out)
		for o := range bias {
			bias[o] = wExt[o*(kk+1)+kk]
		}
		if winograd4Usable(s) {
			b.convWinograd4(ws, s, x, wExt, kk+1, bias, y)
			return
		}
		b.convWinograd(ws, s, x, wExt, kk+1, bias, y)
		return
	}
	if directUsable(s) {
		ldw := kk + 1
		b.parallel(s.N*s.H, 4, func(lo, hi int) {
			conv3x3Rows(x, s.In, s.Out, s.N, s.H, s.W, wExt, ldw, lo, hi, y)
		})
		return
	}
	if s.In*s.K >= shiftedMinTaps {
		wr := ws.reordered(s.Out * kk)
		reorderTaps(wExt, kk+1, s.Out, s.In, s.K, wr)
		bias := ws.biasColumn(s.Out)
		for o := range bias {
			bias[o] = wExt[o*(kk+1)+kk]
		}
		b.convShifted(ws, s.In, s.Out, s.N, s.H, s.W, s.K, s.Pad, s.Dil, x, wr, bias, y)
		return
	}
	ho, wo := s.OutSize()
	rows := s.N * ho
	step := b.chunkRows(kk+1, wo, rows)
	ldy := s.N * ho * wo
	chunks := (rows + step - 1) / step
	ws.reserveWorkers(b.workers)
	b.dynamicW(chunks, func(i, worker int) {
		r0, r1 := i*step, min((i+1)*step, rows)
		cols := (r1 - r0) * wo
		col := ws.workerCols(worker, (kk+1)*cols)
		im2col(x, s.In, s.N, s.H, s.W, s.K, s.Pad, s.Dil, r0, r1, col)
		// The bias rides along as one more column of the weight matrix, against a row of ones.
		ones := col[kk*cols:]
		for j := range ones {
			ones[j] = 1
		}
		sgemm(false, false, s.Out, cols, kk+1, 1, wExt, kk+1, col, cols, 0, y[r0*wo:], ldy)
	})
}

// directMaxOut is the most output channels for which a 3x3 same-size convolution is
// computed directly (conv3x3Rows): a GEMM with so few rows (a network's head) wastes most of
// OpenBLAS's 16-row tiles, while the direct loop runs across each output row.
const directMaxOut = 4

// directUsable reports whether the forward convolution s runs directly.
func directUsable(s ConvShape) bool {
	return s.K == 3 && s.Pad == 1 && s.Dil == 1 && s.Out <= directMaxOut && s.In*s.K >= shiftedMinTaps
}

// reorderTaps copies the rows x (in*k*k) taps of w (row stride ld, taps ordered channel,
// ky, kx) into dst ordered ky, channel, kx, the layout convShifted multiplies by.
func reorderTaps(w []float32, ld, rows, in, k int, dst []float32) {
	for o := 0; o < rows; o++ {
		src, d := w[o*ld:], dst[o*in*k*k:]
		for c := 0; c < in; c++ {
			for ky := 0; ky < k; ky++ {
				copy(d[(ky*in+c)*k:(ky*in+c+1)*k], src[(c*k+ky)*k:(c*k+ky+1)*k])
			}
		}
	}
}

// convChunks splits the output rows of every image into chunks of at most step rows whose
// shifted copies fit colBudget, a few chunks per core; chunks never cross images.
func (b *cpu) convChunks(in, k, dil, n, ho, wo int) (step, perImage int) {
	step = max(colBudget/(in*k*wo)-(k-1)*dil, 1)
	step = min(step, (n*ho+3*b.workers-1)/(3*b.workers), ho)
	step = max(step, 1)
	return step, (ho + step - 1) / step
}

// convShifted computes the stride-1 convolution y = w*x + bias (bias may be nil) without
// unrolling every tap: for each chunk of output rows it copies each input channel K times,
// shifted horizontally by each kernel column and zero where the shift leaves the image
// (shiftRows), and a vertical tap is then only an offset of whole rows into that copy. The
// output is K GEMMs with inner dimension In*K, one per kernel row, accumulating into y; wr
// is Out x (K*In*K), taps ordered ky, channel, kx (reorderTaps).
func (b *cpu) convShifted(ws *Workspace, in, out, n, h, w, k, pad, dil int, x, wr, bias, y []float32) {
	ho, wo := h+2*pad-dil*(k-1), w+2*pad-dil*(k-1)
	step, perImage := b.convChunks(in, k, dil, n, ho, wo)
	ldy := n * ho * wo
	ws.reserveWorkers(b.workers)
	b.dynamicW(n*perImage, func(i, worker int) {
		img, r0 := i/perImage, (i%perImage)*step
		r1 := min(r0+step, ho)
		span := r1 - r0 + (k-1)*dil
		buf := ws.workerCols(worker, in*k*span*wo)
		shiftRows(x, in, n, h, w, k, pad, dil, img, r0, r1, buf)
		cols := (r1 - r0) * wo
		yc := y[img*ho*wo+r0*wo:]
		beta := float32(0)
		if bias != nil {
			for o, v := range bias {
				fill(yc[o*ldy:o*ldy+cols], v)
			}
			beta = 1
		}
		for ky := 0; ky < k; ky++ {
			sgemm(false, false, out, cols, in*k, 1, wr[ky*in*k:], k*in*k, buf[ky*dil*wo:], span*wo, beta, yc, ldy)
			beta = 1
		}
	})
}

// shiftRows fills buf, for output rows [r0, r1) of image img of a stride-1 k x k
// convolution of x (c channels, n planes h x w), with k copies of each channel's input rows
// r0-pad .. r1-1+dil*(k-1)-pad, copy kx shifted left by kx*dil-pad: buf is (c, kx) x
// (span rows x wo), and values outside the image are zero.
func shiftRows(x []float32, c, n, h, w, k, pad, dil, img, r0, r1 int, buf []float32) {
	wo := w + 2*pad - dil*(k-1)
	span := r1 - r0 + (k-1)*dil
	plane := h * w
	for ch := 0; ch < c; ch++ {
		src := x[(ch*n+img)*plane : (ch*n+img+1)*plane]
		for kx := 0; kx < k; kx++ {
			dst := buf[(ch*k+kx)*span*wo : (ch*k+kx+1)*span*wo]
			dx := kx*dil - pad
			jlo, jhi := min(max(0, -dx), wo), max(min(wo, w-dx), 0)
			for r := 0; r < span; r++ {
				out := dst[r*wo : (r+1)*wo]
				iy := r0 - pad + r
				if iy < 0 || iy >= h || jlo >= jhi {
					clear(out)
					continue
				}
				row := src[iy*w : (iy+1)*w]
				clear(out[:jlo])
				copy(out[jlo:jhi], row[jlo+dx:jhi+dx])
				clear(out[jhi:])
			}
		}
	}
}

func (b *cpu) ConvBackward(ws *Workspace, s ConvShape, x, dy, wFlip, dwExt, dx []float32) {
	if s.In*s.K >= shiftedMinTaps && s.Out*s.K >= shiftedMinTaps {
		b.convBackwardShifted(ws, s, x, dy, wFlip, dwExt, dx)
		return
	}
	kk := s.In * s.K * s.K
	ho, wo := s.OutSize()
	rows := s.N * ho
	step := b.chunkRows(kk+1, wo, rows)
	ldy := s.N * ho * wo
	chunks := (rows + step - 1) / step
	// Weight gradient: consecutive chunks form a fixed number of groups, each summed into its
	// own slot by whichever core takes it, and the slots are added in order, so the result
	// does not depend on scheduling.
	groups := min(chunks, 3*b.workers)
	per := (chunks + groups - 1) / groups
	groups = (chunks + per - 1) / per
	size := s.Out * (kk + 1)
	slots := ws.dwSlots(groups * size)
	ws.reserveWorkers(b.workers)
	b.dynamicW(groups, func(g, worker int) {
		slot := slots[g*size : (g+1)*size]
		clear(slot)
		for i := g * per; i < min((g+1)*per, chunks); i++ {
			r0, r1 := i*step, min((i+1)*step, rows)
			cols := (r1 - r0) * wo
			col := ws.workerCols(worker, (kk+1)*cols)
			im2col(x, s.In, s.N, s.H, s.W, s.K, s.Pad, s.Dil, r0, r1, col)
			ones := col[kk*cols:]
			for j := range ones {
				ones[j] = 1
			}
			sgemm(false, true, s.Out, kk+1, cols, 1, dy[r0*wo:], ldy, col, cols, 1, slot, kk+1)
		}
	})
	copy(dwExt, slots[:size])
	for g := 1; g < groups; g++ {
		for j, v := range slots[g*size : (g+1)*size] {
			dwExt[j] += v
		}
	}
	if dx == nil {
		return
	}
	// Input gradient: a convolution of dy with the flipped, channel-swapped kernel, padded by
	// dil*(k-1)-pad, written straight into dx (no col2im scatter).
	kk2 := s.Out * s.K * s.K
	pad := s.Dil*(s.K-1) - s.Pad
	rows = s.N * s.H
	step = b.chunkRows(kk2, s.W, rows)
	ldx := s.N * s.H * s.W
	chunks = (rows + step - 1) / step
	b.dynamicW(chunks, func(i, worker int) {
		r0, r1 := i*step, min((i+1)*step, rows)
		cols := (r1 - r0) * s.W
		col := ws.workerCols(worker, kk2*cols)
		im2col(dy, s.Out, s.N, ho, wo, s.K, pad, s.Dil, r0, r1, col)
		sgemm(false, false, s.In, cols, kk2, 1, wFlip, kk2, col, cols, 0, dx[r0*s.W:], ldx)
	})
}

// convBackwardShifted is ConvBackward by row-shifted copies (see convShifted): the weight
// gradient is K GEMMs per chunk against the shifted copies of x, and the input gradient is
// convShifted of dy with the flipped kernel.
func (b *cpu) convBackwardShifted(ws *Workspace, s ConvShape, x, dy, wFlip, dwExt, dx []float32) {
	if winogradUsable(s) {
		b.winogradWeightGrad(ws, s, x, dy, dwExt)
	} else {
		b.shiftedWeightGrad(ws, s, x, dy, dwExt)
	}
	if dx == nil {
		return
	}
	// Input gradient: a convolution of dy with the flipped, channel-swapped kernel, padded by
	// dil*(k-1)-pad, written straight into dx (no col2im scatter).
	k, in, out := s.K, s.In, s.Out
	ho, wo := s.OutSize()
	kk2 := out * k * k
	back := ConvShape{In: out, Out: in, K: k, Pad: s.Dil*(k-1) - s.Pad, Dil: s.Dil, N: s.N, H: ho, W: wo}
	if winogradUsable(back) {
		b.convWinograd(ws, back, dy, wFlip, kk2, nil, dx)
		return
	}
	wr := ws.reordered(in * kk2)
	reorderTaps(wFlip, kk2, in, out, k, wr)
	b.convShifted(ws, out, in, s.N, ho, wo, k, back.Pad, s.Dil, dy, wr, nil, dx)
}

// shiftedWeightGrad sets dwExt to the weight and bias gradients by K GEMMs per chunk
// against the row-shifted copies of x (see convShifted).
func (b *cpu) shiftedWeightGrad(ws *Workspace, s ConvShape, x, dy, dwExt []float32) {
	k, in, out := s.K, s.In, s.Out
	kk := in * k * k
	ho, wo := s.OutSize()
	step, perImage := b.convChunks(in, k, s.Dil, s.N, ho, wo)
	chunks := s.N * perImage
	ldy := s.N * ho * wo
	// Consecutive chunks form a fixed number of groups, each summed into its own slot (the
	// weights in reorderTaps order, then the bias) by whichever core takes it, and the slots
	// are added in order, so the result does not depend on scheduling.
	groups := min(chunks, 3*b.workers)
	per := (chunks + groups - 1) / groups
	groups = (chunks + per - 1) / per
	size := out*kk + out
	slots := ws.dwSlots(groups * size)
	ws.reserveWorkers(b.workers)
	b.dynamicW(groups, func(g, worker int) {
		slot := slots[g*size : (g+1)*size]
		clear(slot)
		dbias := slot[out*kk:]
		for i := g * per; i < min((g+1)*per, chunks); i++ {
			img, r0 := i/perImage, (i%perImage)*step
			r1 := min(r0+step, ho)
			span := r1 - r0 + (k-1)*s.Dil
			buf := ws.workerCols(worker, in*k*span*wo)
			shiftRows(x, in, s.N, s.H, s.W, k, s.Pad, s.Dil, img, r0, r1, buf)
			cols := (r1 - r0) * wo
			dyc := dy[img*ho*wo+r0*wo:]
			for ky := 0; ky < k; ky++ {
				sgemm(false, true, out, in*k, cols, 1, dyc, ldy, buf[ky*s.Dil*wo:], span*wo, 1, slot[ky*in*k:], k*in*k)
			}
			for o := range dbias {
				dbias[o] += float32(sumFloats(dyc[o*ldy : o*ldy+cols]))
			}
		}
	})
	for g := 1; g < groups; g++ {
		dst := slots[:size]
		for j, v := range slots[g*size : (g+1)*size] {
			dst[j] += v
		}
	}
	for o := 0; o < out; o++ {
		src, d := slots[o*kk:(o+1)*kk], dwExt[o*(kk+1):(o+1)*(kk+1)]
		for c := 0; c < in; c++ {
			for ky := 0; ky < k; ky++ {
				copy(d[(c*k+ky)*k:(c*k+ky+1)*k], src[(ky*in+c)*k:(ky*in+c+1)*k])
			}
		}
		d[kk] = slots[out*kk+o]
	}
}

// im2col unrolls, for a stride-1 k x k convolution with the given padding and dilation of a
// c-channel channel-major tensor of n planes h x w, the output rows [r0, r1) of the batch
// (output row r is row r%ho of sample r/ho): col is (c*k*k) x ((r1-r0)*wo), row-major.
func im2col(x []float32, c, n, h, w, k, pad, dil, r0, r1 int, col []float32) {
	ho, wo := h+2*pad-dil*(k-1), w+2*pad-dil*(k-1)
	cols := (r1 - r0) * wo
	plane := h * w
	for row := 0; row < c*k*k; row++ {
		ch, ky, kx := row/(k*k), (row/k)%k, row%k
		dst := col[row*cols : (row+1)*cols]
		src := x[ch*n*plane : (ch+1)*n*plane]
		dy, dx := ky*dil-pad, kx*dil-pad
		// Output column j reads input column j+dx; those outside [0, w) are padding.
		jlo, jhi := min(max(0, -dx), wo), max(min(wo, w-dx), 0)
		for r := r0; r < r1; r++ {
			out := dst[(r-r0)*wo : (r-r0+1)*wo]
			iy := r%ho + dy
			if iy < 0 || iy >= h || jlo >= jhi {
				clear(out)
				continue
			}
			in := src[(r/ho)*plane+iy*w : (r/ho)*plane+(iy+1)*w]
			clear(out[:jlo])
			copy(out[jlo:jhi], in[jlo+dx:jhi+dx])
			clear(out[jhi:])
		}
	}
}

// fill sets every value of s to v, doubling copies so that memmove does the work.
func fill(s []float32, v float32) {
	if len(s) == 0 {
		return
	}
	s[0] = v
	for i := 1; i < len(s); i *= 2 {
		copy(s[i:], s[:i])
	}
}
