package ml

import "math"

// BatchNorm2d normalises each channel as PyTorch's BatchNorm2d: in training with the batch
// statistics (biased variance) while updating running statistics with momentum and the
// unbiased variance; in evaluation with the running statistics. Both modes read and write
// the same running buffers, so switching modes never loses them.
//
// Two neighbours are fused in, because the pipeline's blocks run conv -> ReLU -> BN ->
// Dropout2d and every pass over the activations costs time: with ReLUBefore the layer
// applies ReLU to its input in place first, and with Drop set it applies that channel
// dropout to its output. Both default to off, giving a plain BatchNorm2d.
type BatchNorm2d struct {
	C                       int
	Momentum, Eps           float32
	Weight, Bias            *Param // gamma, beta
	RunningMean, RunningVar *Param
	ReLUBefore              bool
	Drop                    *Dropout2d

	be         Backend
	x          []float32 // input (after the fused ReLU) saved for Backward
	n, hw      int
	mean, vari []float32
	invstd     []float32
	scale      []float32 // dropout plane scales of the last training forward, nil if none
}

// NewBatchNorm2d creates a batch norm with gamma 1, beta 0, running mean 0 and variance 1.
func NewBatchNorm2d(name string, c int, momentum float32, be Backend) *BatchNorm2d {
	b := &BatchNorm2d{C: c, Momentum: momentum, Eps: 1e-5, be: be}
	b.Weight = newParam(be, name+".weight", true, c)
	b.Bias = newParam(be, name+".bias", true, c)
	b.RunningMean = newParam(be, name+".running_mean", false, c)
	b.RunningVar = newParam(be, name+".running_var", false, c)
	for i := 0; i < c; i++ {
		b.Weight.Data[i], b.RunningVar.Data[i] = 1, 1
	}
	b.mean, b.vari, b.invstd = make([]float32, c), make([]float32, c), make([]float32, c)
	return b
}

// Params lists gamma and beta; Buffers the running statistics.
func (b *BatchNorm2d) Params() []*Param  { return []*Param{b.Weight, b.Bias} }
func (b *BatchNorm2d) Buffers() []*Param { return []*Param{b.RunningMean, b.RunningVar} }

// Forward normalises x (C channels of n planes of hw values) into y. With ReLUBefore, x is
// rectified first: in place in training (the backward pass needs it), on the fly in evaluation.
func (b *BatchNorm2d) Forward(x []float32, n, hw int, y []float32, train bool) {
	b.x, b.n, b.hw = x, n, hw
	b.scale = nil
	if !train {
		// No backward pass follows evaluation, so the ReLU is applied on the fly and x is
		// left as it was.
		for c := 0; c < b.C; c++ {
			b.mean[c] = b.RunningMean.Data[c]
			b.invstd[c] = float32(1 / math.Sqrt(float64(b.RunningVar.Data[c])+float64(b.Eps)))
		}
		if b.Drop != nil {
			b.scale = b.Drop.sample(b.C, n, false)
		}
		b.be.ChannelAffine(x, y, b.C, n, hw, b.ReLUBefore, b.mean, b.invstd, b.Weight.Data, b.Bias.Data, b.scale)
		return
	}
	m := n * hw
	b.be.ChannelStats(x, b.C, m, b.ReLUBefore, b.mean, b.vari)
	unbias := float32(m) / float32(max(m-1, 1))
	for c := 0; c < b.C; c++ {
		b.invstd[c] = float32(1 / math.Sqrt(float64(b.vari[c])+float64(b.Eps)))
		b.RunningMean.Data[c] = (1-b.Momentum)*b.RunningMean.Data[c] + b.Momentum*b.mean[c]
		b.RunningVar.Data[c] = (1-b.Momentum)*b.RunningVar.Data[c] + b.Momentum*b.vari[c]*unbias
	}
	if b.Drop != nil {
		b.scale = b.Drop.sample(b.C, n, true)
	}
	b.be.ChannelAffine(x, y, b.C, n, hw, false, b.mean, b.invstd, b.Weight.Data, b.Bias.Data, b.scale)
}

// Backward turns dy (gradient w.r.t. the output of the last training Forward) in place into
// the gradient w.r.t. the input (before the fused ReLU), accumulating gamma and beta gradients.
func (b *BatchNorm2d) Backward(dy []float32) {
	b.be.BatchNormBackward(b.x, dy, b.C, b.n, b.hw, b.mean, b.invstd, b.Weight.Data, b.scale,
		b.ReLUBefore, b.Weight.Grad, b.Bias.Grad)
}
