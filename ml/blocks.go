package ml

import "math/rand/v2"

// DownConv is the pipeline's convolution block: conv3x3 -> ReLU -> BatchNorm -> Dropout2d,
// twice. ReLU and dropout are fused into the batch norms (see BatchNorm2d).
type DownConv struct {
	Conv1, Conv2 *Conv2d
	BN1, BN2     *BatchNorm2d
	In, Out      int

	be         Backend
	ws         *Workspace
	n, h, w    int
	a1, a2, d1 []float32 // conv outputs (rectified in place) and the first BN output
}

// NewDownConv builds a block named like the reference's state_dict
// (name.conv1, name.conv1_bn, name.conv2, name.conv2_bn).
func NewDownConv(name string, in, out int, drop, momentum float32, be Backend, ws *Workspace, rng, dropRNG *rand.Rand) *DownConv {
	d := &DownConv{In: in, Out: out, be: be, ws: ws}
	d.Conv1 = NewConv2d(name+".conv1", in, out, 3, 1, 1, true, be, ws, rng)
	d.BN1 = NewBatchNorm2d(name+".conv1_bn", out, momentum, be)
	d.Conv2 = NewConv2d(name+".conv2", out, out, 3, 1, 1, true, be, ws, rng)
	d.BN2 = NewBatchNorm2d(name+".conv2_bn", out, momentum, be)
	d.BN1.ReLUBefore, d.BN2.ReLUBefore = true, true
	d.BN1.Drop = NewDropout2d(drop, dropRNG, be)
	d.BN2.Drop = NewDropout2d(drop, dropRNG, be)
	return d
}

// Params and Buffers list the block's tensors in a stable order.
func (d *DownConv) Params() []*Param {
	var ps []*Param
	ps = append(ps, d.Conv1.Params()...)
	ps = append(ps, d.BN1.Params()...)
	ps = append(ps, d.Conv2.Params()...)
	return append(ps, d.BN2.Params()...)
}

func (d *DownConv) Buffers() []*Param { return append(d.BN1.Buffers(), d.BN2.Buffers()...) }

// setDropout changes the dropout rate of both layers.
func (d *DownConv) setDropout(p float32) { d.BN1.Drop.P, d.BN2.Drop.P = p, p }

// setDropoutInEval keeps both dropout layers active in evaluation mode.
func (d *DownConv) setDropoutInEval(on bool) { d.BN1.Drop.InEval, d.BN2.Drop.InEval = on, on }

// resize fits the block's activations to n planes of h x w.
func (d *DownConv) resize(n, h, w int) {
	if d.n == n && d.h == h && d.w == w {
		return
	}
	d.n, d.h, d.w = n, h, w
	sz := d.Out * n * h * w
	d.a1, d.a2, d.d1 = fit(d.be, d.a1, sz), fit(d.be, d.a2, sz), fit(d.be, d.d1, sz)
}

// Forward runs the block on x (In channels) into out (Out channels, same size).
func (d *DownConv) Forward(x []float32, n, h, w int, out []float32, train bool) {
	d.resize(n, h, w)
	d.Conv1.Forward(x, n, h, w, d.a1)
	d.BN1.Forward(d.a1, n, h*w, d.d1, train)
	d.Conv2.Forward(d.d1, n, h, w, d.a2)
	d.BN2.Forward(d.a2, n, h*w, out, train)
}

// Backward takes the gradient w.r.t. the block's output (overwritten) and sets dx, the
// gradient w.r.t. its input, unless dx is nil.
func (d *DownConv) Backward(dOut, dx []float32) {
	g1 := d.ws.innerGrad(d.Out * d.n * d.h * d.w) // gradient w.r.t. d1
	d.BN2.Backward(dOut)
	d.Conv2.Backward(dOut, g1)
	d.BN1.Backward(g1)
	d.Conv1.Backward(g1, dx)
}
