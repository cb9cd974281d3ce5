package ml

// Backend is the boundary between the engine's layers and the hardware that computes them.
// Layers never loop over activations themselves: every kernel that touches an activation
// buffer goes through a Backend, so a GPU backend (cuBLAS/cuDNN behind a `cuda` build tag,
// with buffers from Alloc in unified memory) can replace the CPU one without changing
// layers, losses, models or their callers.
//
// Buffers are float32 activations in channel-major order (C, N, H, W): channel c of
// sample n is the plane starting at (c*N+n)*H*W. This order lets a convolution over a
// whole batch be one matrix product per chunk of image rows, lets batch-norm statistics
// be one contiguous run per channel, and makes channel concatenation free (two tensors
// allocated side by side are their concatenation).
type Backend interface {
	// Name says which implementation runs, for logs and benchmarks.
	Name() string
	// Alloc returns a zeroed buffer the backend can compute on.
	Alloc(n int) []float32
	// Sgemm computes C = alpha*op(A)*op(B) + beta*C on row-major matrices, where op(A) is
	// m x k and op(B) is k x n; lda, ldb and ldc are row strides.
	Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
		b []float32, ldb int, beta float32, c []float32, ldc int)
	// ConvForward computes y (Out channels, channel-major) from x for the stride-1
	// convolution s with weights wExt: an Out x (In*K*K+1) matrix whose last column is the bias.
	ConvForward(ws *Workspace, s ConvShape, x, wExt, y []float32)
	// ConvBackward sets dwExt (laid out as wExt) to the gradient of the weights and bias from
	// dy, and, when dx is non-nil, dx to the gradient w.r.t. x; wFlip is the kernel flipped
	// spatially with its channel axes swapped, an In x (Out*K*K) matrix.
	ConvBackward(ws *Workspace, s ConvShape, x, dy, wFlip, dwExt, dx []float32)

	// ReLUForward sets x = max(x, 0) in place.
	ReLUForward(x []float32)
	// ReLUBackward sets dy = 0 where y <= 0 (y is the ReLU output).
	ReLUBackward(y, dy []float32)
	// ChannelStats returns per-channel mean and biased variance over runs of m values
	// (a channel-major tensor with c channels). With relu set it first applies ReLU to x
	// in place, fusing the activation that precedes batch norm in the pipeline's blocks.
	ChannelStats(x []float32, c, m int, relu bool, mean, variance []float32)
	// ChannelAffine sets y = (r(x)-mean[ch])*invstd[ch]*gamma[ch]+beta[ch], where r is ReLU
	// when relu is set and the identity otherwise (x itself is not modified), then multiplies
	// every plane (ch, sample) of hw values by scale[ch*n+sample] when scale is non-nil
	// (channel dropout fused into batch norm).
	ChannelAffine(x, y []float32, c, n, hw int, relu bool, mean, invstd, gamma, beta, scale []float32)
	// BatchNormBackward turns dy, the gradient w.r.t. the output of ChannelAffine (after its
	// plane scaling by scale when non-nil), into the gradient w.r.t. the batch-norm input x,
	// in place, accumulating dgamma and dbeta; with relu set, x is a ReLU output and the
	// gradient is also passed back through that ReLU.
	BatchNormBackward(x, dy []float32, c, n, hw int, mean, invstd, gamma, scale []float32,
		relu bool, dgamma, dbeta []float32)
	// ScalePlanes multiplies every plane (ch, sample) of hw values by scale[ch*n+sample].
	ScalePlanes(x []float32, c, n, hw int, scale []float32)
	// MaxPool2Forward pools 2x2 windows of planes h x w into y, recording in arg the
	// position (0..3) of each window's first maximum.
	MaxPool2Forward(x []float32, planes, h, w int, y []float32, arg []uint8)
	// MaxPool2Backward adds dy to dx at the recorded maxima (dx is accumulated, not set).
	MaxPool2Backward(dy []float32, arg []uint8, planes, h, w int, dx []float32)
	// MaxUnpool2Forward sets y (planes h x w) to zero except at the maxima that
	// MaxPool2Forward recorded in arg, where it places the values of x (planes h/2 x w/2),
	// as PyTorch's max_unpool2d with the pooling's indices. It is also the pooling's
	// adjoint, so it serves as a max-pool backward pass that sets rather than accumulates.
	MaxUnpool2Forward(x []float32, arg []uint8, planes, h, w int, y []float32)
	// MaxUnpool2Backward sets dx (planes h/2 x w/2) to dy (planes h x w) read at the
	// recorded maxima.
	MaxUnpool2Backward(dy []float32, arg []uint8, planes, h, w int, dx []float32)
	// PlaneSums sets out[p] to scale times the sum of plane p's hw values.
	PlaneSums(x []float32, planes, hw int, scale float32, out []float32)
	// FillPlanes sets every value of plane p of y (hw values) to scale*v[p], or adds
	// scale*v[p] to it when accumulate is set.
	FillPlanes(v []float32, planes, hw int, scale float32, accumulate bool, y []float32)
	// AddTo sets dst += src elementwise (gradients of a tensor read by several layers).
	AddTo(dst, src []float32)
	// Upsample2Forward resizes planes h x w to 2h x 2w bilinearly (align_corners=False).
	Upsample2Forward(x []float32, planes, h, w int, y []float32)
	// Upsample2Backward sets dx (planes h x w) to the adjoint of Upsample2Forward applied to dy.
	Upsample2Backward(dy []float32, planes, h, w int, dx []float32)
	// SoftmaxChannels writes the softmax over c channels of every pixel of a channel-major
	// tensor holding m pixels per channel.
	SoftmaxChannels(z, p []float32, c, m int)
	// Sigmoid writes p = 1/(1+exp(-z)).
	Sigmoid(z, p []float32)
	// AdamUpdate applies one Adam step (PyTorch's rule) to w with gradient g and moments m, v.
	AdamUpdate(w, g, m, v []float32, lr, beta1, beta2, eps, bias1, bias2 float32)
}

// DefaultBackend is the CPU backend: SGEMM from OpenBLAS (or pure Go under the `purego`
// build tag) and parallel Go kernels on all available cores.
var DefaultBackend Backend = newCPU()
