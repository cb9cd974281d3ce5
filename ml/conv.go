package ml

import "math/rand/v2"

// Conv2d is a stride-1 2-D convolution with square kernel, zero padding, dilation and an
// optional bias; the backend computes it (on the CPU: Winograd, row-shifted GEMMs or im2col
// over chunks of image rows, see cpu_conv.go).
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

// shape is the convolution's shape for an input batch of n planes of h x w.
func (c *Conv2d) shape(n, h, w int) ConvShape {
	return ConvShape{In: c.In, Out: c.Out, K: c.Kernel, Pad: c.Pad, Dil: c.Dil, N: n, H: h, W: w}
}

// Forward computes y (Out channels, channel-major) from x (In channels, n planes h x w)
// and keeps x for Backward.
func (c *Conv2d) Forward(x []float32, n, h, w int, y []float32) {
	c.x, c.n, c.h, c.w = x, n, h, w
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
	c.be.ConvForward(c.ws, c.shape(n, h, w), x, c.wExt, y)
}

// Backward accumulates the weight and bias gradients from dy (gradient w.r.t. the output
// of the last Forward) and, when dx is non-nil, sets dx to the gradient w.r.t. the input.
func (c *Conv2d) Backward(dy, dx []float32) {
	kk := c.In * c.Kernel * c.Kernel
	if !c.NeedInputGrad {
		dx = nil
	}
	if dx != nil {
		// The input gradient convolves dy with the kernel flipped and its channel axes swapped.
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
	}
	c.be.ConvBackward(c.ws, c.shape(c.n, c.h, c.w), c.x, dy, c.wFlip, c.dwExt, dx)
	for o := 0; o < c.Out; o++ {
		g := c.Weight.Grad[o*kk : (o+1)*kk]
		for i, v := range c.dwExt[o*(kk+1) : o*(kk+1)+kk] {
			g[i] += v
		}
		if c.Bias != nil {
			c.Bias.Grad[o] += c.dwExt[o*(kk+1)+kk]
		}
	}
}
