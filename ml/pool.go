package ml

// MaxPool2d is 2x2 max pooling with stride 2 (sides must be even).
type MaxPool2d struct {
	be           Backend
	arg          []uint8
	planes, h, w int
}

// NewMaxPool2d returns a 2x2 max pool computed on be.
func NewMaxPool2d(be Backend) *MaxPool2d { return &MaxPool2d{be: be} }

// Forward pools planes of h x w from x into y (planes of h/2 x w/2).
func (p *MaxPool2d) Forward(x []float32, planes, h, w int, y []float32) {
	p.planes, p.h, p.w = planes, h, w
	if need := planes * (h / 2) * (w / 2); len(p.arg) < need {
		p.arg = make([]uint8, need)
	}
	p.be.MaxPool2Forward(x, planes, h, w, y, p.arg)
}

// Backward adds the gradient dy to dx at the maxima of the last Forward. It accumulates
// because a pooled tensor is usually also a skip connection with its own gradient.
func (p *MaxPool2d) Backward(dy, dx []float32) {
	p.be.MaxPool2Backward(dy, p.arg, p.planes, p.h, p.w, dx)
}

// Upsample2 doubles both sides bilinearly with align_corners=False, as PyTorch's
// F.interpolate(scale_factor=2, mode="bilinear").
type Upsample2 struct {
	be           Backend
	planes, h, w int
}

// NewUpsample2 returns a x2 bilinear upsampler computed on be.
func NewUpsample2(be Backend) *Upsample2 { return &Upsample2{be: be} }

// Forward resizes planes of h x w from x into y (planes of 2h x 2w).
func (u *Upsample2) Forward(x []float32, planes, h, w int, y []float32) {
	u.planes, u.h, u.w = planes, h, w
	u.be.Upsample2Forward(x, planes, h, w, y)
}

// Backward sets dx to the gradient w.r.t. the input of the last Forward.
func (u *Upsample2) Backward(dy, dx []float32) {
	u.be.Upsample2Backward(dy, u.planes, u.h, u.w, dx)
}
