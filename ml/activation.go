package ml

import "math/rand/v2"

// ReLU is max(x, 0), applied in place.
type ReLU struct{ be Backend }

// NewReLU returns a ReLU computed on be.
func NewReLU(be Backend) *ReLU { return &ReLU{be: be} }

// Forward rectifies x in place; x then serves as the saved output for Backward.
func (r *ReLU) Forward(x []float32) { r.be.ReLUForward(x) }

// Backward zeroes dy in place where the output y was not positive.
func (r *ReLU) Backward(y, dy []float32) { r.be.ReLUBackward(y, dy) }

// Dropout2d zeroes whole channels of each sample with probability P during training and
// scales the kept ones by 1/(1-P), as PyTorch's Dropout2d; it is the identity in evaluation.
// Its masks come from its own seeded generator, so training is reproducible.
type Dropout2d struct {
	P float32
	// InEval keeps dropout active in evaluation (Monte-Carlo dropout for uncertainty).
	InEval bool
	rng    *rand.Rand
	be     Backend
	scale  []float32
	used   []float32 // scales of the last training Forward, nil when it was the identity
}

// NewDropout2d creates channel dropout drawing its masks from rng.
func NewDropout2d(p float32, rng *rand.Rand, be Backend) *Dropout2d {
	return &Dropout2d{P: p, rng: rng, be: be}
}

// sample draws one scale per (channel, sample) plane, or returns nil when dropout is the
// identity (evaluation without InEval, or P == 0).
func (d *Dropout2d) sample(c, n int, train bool) []float32 {
	if (!train && !d.InEval) || d.P <= 0 {
		return nil
	}
	if len(d.scale) != c*n {
		d.scale = make([]float32, c*n)
	}
	keep := 1 / (1 - d.P)
	for i := range d.scale {
		if d.rng.Float32() < d.P {
			d.scale[i] = 0
		} else {
			d.scale[i] = keep
		}
	}
	return d.scale
}

// Forward applies dropout in place to x (c channels of n planes of hw values).
func (d *Dropout2d) Forward(x []float32, c, n, hw int, train bool) {
	d.used = d.sample(c, n, train)
	if d.used != nil {
		d.be.ScalePlanes(x, c, n, hw, d.used)
	}
}

// Backward scales dy in place by the masks of the last Forward.
func (d *Dropout2d) Backward(dy []float32, c, n, hw int) {
	if d.used != nil {
		d.be.ScalePlanes(dy, c, n, hw, d.used)
	}
}
