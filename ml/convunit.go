package ml

import "math/rand/v2"

// convUnit is one convolution with its batch norm and channel dropout, in either order
// the reference networks use: conv -> ReLU -> BatchNorm -> Dropout2d (DownConv's,
// NoPoolASPP's; the ReLU is fused into the batch norm) or, with reluAfter, conv ->
// BatchNorm -> Dropout2d -> ReLU (SegNet's).
type convUnit struct {
	Conv      *Conv2d
	BN        *BatchNorm2d
	reluAfter bool

	be      Backend
	n, h, w int
	a       []float32 // convolution output, the batch norm's saved input
	y       []float32 // output of the last Forward, which ReLU's backward pass reads
}

// newConvUnit builds a unit whose tensors are named convName and bnName, as in the
// reference's state_dict.
func newConvUnit(convName, bnName string, in, out, kernel, pad, dil int, reluAfter bool, cfg ArchConfig,
	be Backend, ws *Workspace, rng, dropRNG *rand.Rand) *convUnit {
	u := &convUnit{reluAfter: reluAfter, be: be}
	u.Conv = NewConv2d(convName, in, out, kernel, pad, dil, true, be, ws, rng)
	u.BN = NewBatchNorm2d(bnName, out, cfg.BNMomentum, be)
	u.BN.ReLUBefore = !reluAfter
	u.BN.Drop = NewDropout2d(cfg.DropRate, dropRNG, be)
	return u
}

func (u *convUnit) params() []*Param  { return append(u.Conv.Params(), u.BN.Params()...) }
func (u *convUnit) buffers() []*Param { return u.BN.Buffers() }

// Forward runs the unit on x (n planes of h x w per channel) into out (same size, since
// every convolution of these networks pads to keep it).
func (u *convUnit) Forward(x []float32, n, h, w int, out []float32, train bool) {
	u.n, u.h, u.w = n, h, w
	u.a = fit(u.be, u.a, u.Conv.Out*n*h*w)
	u.y = out
	u.Conv.Forward(x, n, h, w, u.a)
	u.BN.Forward(u.a, n, h*w, out, train)
	if u.reluAfter {
		u.be.ReLUForward(out)
	}
}

// Backward turns dOut (overwritten) into parameter gradients and, unless dx is nil, sets
// dx to the gradient w.r.t. the input of the last Forward.
func (u *convUnit) Backward(dOut, dx []float32) {
	if u.reluAfter {
		u.be.ReLUBackward(u.y, dOut)
	}
	u.BN.Backward(dOut)
	u.Conv.Backward(dOut, dx)
}
