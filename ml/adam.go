package ml

import "math"

// Adam is the Adam optimiser with PyTorch's update rule (torch.optim.Adam without weight
// decay or amsgrad): bias-corrected moments, step lr/(1-beta1^t) * m / (sqrt(v)/sqrt(1-beta2^t) + eps).
type Adam struct {
	LR, Beta1, Beta2, Eps float32

	be     Backend
	params []*Param
	m, v   [][]float32
	t      int
}

// NewAdam creates an optimiser for params with PyTorch's defaults (betas 0.9, 0.999; eps 1e-8).
func NewAdam(params []*Param, lr float32, be Backend) *Adam {
	a := &Adam{LR: lr, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, be: be, params: params}
	for _, p := range params {
		a.m = append(a.m, be.Alloc(p.Numel()))
		a.v = append(a.v, be.Alloc(p.Numel()))
	}
	return a
}

// ZeroGrad clears every parameter's gradient before a new backward pass.
func (a *Adam) ZeroGrad() {
	for _, p := range a.params {
		clear(p.Grad)
	}
}

// Step updates every parameter from its gradient.
func (a *Adam) Step() {
	a.t++
	bias1 := float32(1 - math.Pow(float64(a.Beta1), float64(a.t)))
	bias2 := float32(1 - math.Pow(float64(a.Beta2), float64(a.t)))
	for i, p := range a.params {
		a.be.AdamUpdate(p.Data, p.Grad, a.m[i], a.v[i], a.LR, a.Beta1, a.Beta2, a.Eps, bias1, bias2)
	}
}
