package ml

import "math/rand/v2"

// Conv2d is a stride-1 2-D convolution with square kernel, zero padding, dilation and an
// optional bias, computed as im2col + SGEMM over chunks of image rows of the whole batch.
type Conv2d struct {
	In, Out, Kernel, Pad, Dil int
	Weight                    *Param // (Out, In, Kernel, Kernel)
	Bias                      *Param // (Out), nil without bias
	// NeedInputGrad is false for a network's first layer, whose input gradient nobody uses.
	NeedInputGrad bool

	be Backend
	ws *Workspace

	x           []float32 // input saved for the backward pass
	n, h, w     int
	ho, wo      int
	wExt, dwExt []float32 // [weights | bias] as one (Out, In*K*K+1) matrix
	wFlip       []float32 // weights flipped and transposed for the input gradient
}

// NewConv2d creates a convolution with PyTorch's default initialisation drawn from rng.
func NewConv2d(name string, in, out, kernel, pad, dil int, bias bool, be Backend, ws *Workspace, rng *rand.Rand) *Conv2d {
	c := &Conv2d{In: in, Out: out, Kernel: kernel, Pad: pad, Dil: dil, NeedInputGrad: true, be: be, ws: ws}
	fanIn := in * kernel * kernel
	c.Weight = newParam(be, name+".weight", true, out, in, kernel, kernel)
	uniformInit(c.Weight, fanIn, rng)
	if bias {
		c.Bias = newParam(be, name+".bias", true, out)
		uniformInit(c.Bias, fanIn, rng)
	}
	c.wExt = be.Alloc(out * (fanIn + 1))
	c.dwExt = be.Alloc(out * (fanIn + 1))
	c.wFlip = be.Alloc(out * fanIn)
	return c
}

// Params lists the trainable tensors.
func (c *Conv2d) Params() []*Param {
	if c.Bias == nil {
		return []*Param{c.Weight}
	}
	return []*Param{c.Weight, c.Bias}
}

// OutSize is the spatial size of the output for an h x w input.
func (c *Conv2d) OutSize(h, w int) (int, int) {
	span := c.Dil * (c.Kernel - 1)
	return h + 2*c.Pad - span, w + 2*c.Pad - span
}

// rowsPerChunk picks how many output rows to unroll at once so that a chunk's columns
// (rowsLen values per row and channel-tap) stay within colBudget.
func rowsPerChunk(taps, rowLen, totalRows int) int {
	r := colBudget / (taps * rowLen)
	return min(max(r, 1), totalRows)
}

// Forward computes y (Out channels, channel-major) from x (In channels, n planes h x w)
// and keeps x for Backward.
func (c *Conv2d) Forward(x []float32, n, h, w int, y []float32) {
	c.x, c.n, c.h, c.w = x, n, h, w
	c.ho, c.wo = c.OutSize(h, w)
	kk := c.In * c.Kernel * c.Kernel
	// The bias rides along as one more column of the weight matrix, against a row of ones
	// in the unrolled input: the GEMM adds it, and its gradient falls out of the weight GEMM.
	for o := 0; o < c.Out; o++ {
		copy(c.wExt[o*(kk+1):o*(kk+1)+kk], c.Weight.Data[o*kk:(o+1)*kk])
		c.wExt[o*(kk+1)+kk] = 0
		if c.Bias != nil {
			c.wExt[o*(kk+1)+kk] = c.Bias.Data[o]
		}
	}
	rows := n * c.ho
	step := rowsPerChunk(kk+1, c.wo, rows)
	ldy := n * c.ho * c.wo
	for r0 := 0; r0 < rows; r0 += step {
		r1 := min(r0+step, rows)
		col := c.unroll(x, r0, r1)
		c.be.Sgemm(false, false, c.Out, (r1-r0)*c.wo, kk+1, 1, c.wExt, kk+1, col, (r1-r0)*c.wo, 0, y[r0*c.wo:], ldy)
	}
}

// unroll writes the im2col columns of output rows [r0, r1) followed by a row of ones.
func (c *Conv2d) unroll(x []float32, r0, r1 int) []float32 {
	kk := c.In * c.Kernel * c.Kernel
	cols := (r1 - r0) * c.wo
	col := c.ws.cols((kk + 1) * cols)
	c.be.Im2col(x, c.In, c.n, c.h, c.w, c.Kernel, c.Pad, c.Dil, r0, r1, col)
	ones := col[kk*cols:]
	for i := range ones {
		ones[i] = 1
	}
	return col
}

// Backward accumulates the weight and bias gradients from dy (gradient w.r.t. the output
// of the last Forward) and, when dx is non-nil, sets dx to the gradient w.r.t. the input.
func (c *Conv2d) Backward(dy, dx []float32) {
	kk := c.In * c.Kernel * c.Kernel
	n, ldy := c.n, c.n*c.ho*c.wo
	clear(c.dwExt)
	rows := n * c.ho
	step := rowsPerChunk(kk+1, c.wo, rows)
	for r0 := 0; r0 < rows; r0 += step {
		r1 := min(r0+step, rows)
		col := c.unroll(c.x, r0, r1)
		cols := (r1 - r0) * c.wo
		c.be.Sgemm(false, true, c.Out, kk+1, cols, 1, dy[r0*c.wo:], ldy, col, cols, 1, c.dwExt, kk+1)
	}
	for o := 0; o < c.Out; o++ {
		g := c.Weight.Grad[o*kk : (o+1)*kk]
		for i, v := range c.dwExt[o*(kk+1) : o*(kk+1)+kk] {
			g[i] += v
		}
		if c.Bias != nil {
			c.Bias.Grad[o] += c.dwExt[o*(kk+1)+kk]
		}
	}
	if dx == nil || !c.NeedInputGrad {
		return
	}
	// The input gradient of a stride-1 convolution is a convolution of dy with the kernel
	// flipped and its channel axes swapped, padded by dil*(k-1)-pad: the same im2col + GEMM,
	// writing dx directly instead of scattering columns back (col2im).
	k, kk2 := c.Kernel, c.Out*c.Kernel*c.Kernel
	for o := 0; o < c.Out; o++ {
		for i := 0; i < c.In; i++ {
			src := c.Weight.Data[(o*c.In+i)*k*k : (o*c.In+i+1)*k*k]
			dst := c.wFlip[i*kk2+o*k*k : i*kk2+(o+1)*k*k]
			for t := range src {
				dst[k*k-1-t] = src[t]
			}
		}
	}
	pad := c.Dil*(k-1) - c.Pad
	rows = n * c.h
	step = rowsPerChunk(kk2, c.w, rows)
	ldx := n * c.h * c.w
	for r0 := 0; r0 < rows; r0 += step {
		r1 := min(r0+step, rows)
		cols := (r1 - r0) * c.w
		col := c.ws.cols(kk2 * cols)
		c.be.Im2col(dy, c.Out, n, c.ho, c.wo, k, pad, c.Dil, r0, r1, col)
		c.be.Sgemm(false, false, c.In, cols, kk2, 1, c.wFlip, kk2, col, cols, 0, dx[r0*c.w:], ldx)
	}
}
