package ml

// The CPU convolution: im2col + SGEMM over chunks of output rows of the whole batch. Each
// core takes whole chunks, unrolling a chunk into its own column buffer and multiplying it
// single-threaded, so the columns stay in that core's cache and cores meet only once per
// pass instead of twice per chunk.

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

func (b *cpu) ConvForward(ws *Workspace, s ConvShape, x, wExt, y []float32) {
	kk := s.In * s.K * s.K
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

func (b *cpu) ConvBackward(ws *Workspace, s ConvShape, x, dy, wFlip, dwExt, dx []float32) {
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
