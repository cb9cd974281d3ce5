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

// BackwardSet is Backward for a pooled tensor with no other consumer: it sets dx instead of
// adding to it, so the caller need not clear dx first.
func (p *MaxPool2d) BackwardSet(dy, dx []float32) {
	p.be.MaxUnpool2Forward(dy, p.arg, p.planes, p.h, p.w, dx)
}

// Indices returns the positions of the last Forward's maxima as PyTorch's
// max_pool2d(return_indices=True) gives them: for each output value, the flat index
// y*w+x of its maximum within its input plane.
func (p *MaxPool2d) Indices() []int {
	oh, ow := p.h/2, p.w/2
	idx := make([]int, p.planes*oh*ow)
	for i := range idx {
		a := int(p.arg[i])
		oy, ox := (i%(oh*ow))/ow, i%ow
		idx[i] = (2*oy+a/2)*p.w + 2*ox + a%2
	}
	return idx
}

// MaxUnpool2d inverts a MaxPool2d as PyTorch's MaxUnpool2d(2) with the pooling's indices:
// each value goes back to where its window's maximum was, and the rest is zero. It reads
// the indices of its pool's last Forward, so the pool must run first on the same shape.
type MaxUnpool2d struct {
	be   Backend
	pool *MaxPool2d
}

// NewMaxUnpool2d returns the unpooling that undoes pool.
func NewMaxUnpool2d(pool *MaxPool2d, be Backend) *MaxUnpool2d {
	return &MaxUnpool2d{be: be, pool: pool}
}

// Forward spreads x (the pool's output shape) into y (the pool's input shape).
func (u *MaxUnpool2d) Forward(x, y []float32) {
	p := u.pool
	u.be.MaxUnpool2Forward(x, p.arg, p.planes, p.h, p.w, y)
}

// Backward sets dx (the pool's output shape) to the gradient w.r.t. the input of Forward.
func (u *MaxUnpool2d) Backward(dy, dx []float32) {
	p := u.pool
	u.be.MaxUnpool2Backward(dy, p.arg, p.planes, p.h, p.w, dx)
}
