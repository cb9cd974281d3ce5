package ml

// GlobalAvgPool2d averages every plane to one value, as PyTorch's avg_pool2d with the
// whole plane as kernel (or AdaptiveAvgPool2d(1)).
type GlobalAvgPool2d struct {
	be         Backend
	planes, hw int
}

// NewGlobalAvgPool2d returns a global average pool computed on be.
func NewGlobalAvgPool2d(be Backend) *GlobalAvgPool2d { return &GlobalAvgPool2d{be: be} }

// Forward sets y[p] to the mean of plane p of x (planes of hw values).
func (g *GlobalAvgPool2d) Forward(x []float32, planes, hw int, y []float32) {
	g.planes, g.hw = planes, hw
	g.be.PlaneSums(x, planes, hw, 1/float32(hw), y)
}

// Backward adds the gradient w.r.t. the input of the last Forward to dx: dy[p]/hw at
// every value of plane p. It accumulates because the pooled tensor usually feeds other
// layers too.
func (g *GlobalAvgPool2d) Backward(dy, dx []float32) {
	g.be.FillPlanes(dy, g.planes, g.hw, 1/float32(g.hw), true, dx)
}

// BroadcastPlanes expands one value per plane to a whole plane, as PyTorch's expand of a
// (N, C, 1, 1) tensor to (N, C, H, W).
type BroadcastPlanes struct {
	be         Backend
	planes, hw int
}

// NewBroadcastPlanes returns a broadcast computed on be.
func NewBroadcastPlanes(be Backend) *BroadcastPlanes { return &BroadcastPlanes{be: be} }

// Forward fills plane p of y (hw values) with v[p].
func (b *BroadcastPlanes) Forward(v []float32, planes, hw int, y []float32) {
	b.planes, b.hw = planes, hw
	b.be.FillPlanes(v, planes, hw, 1, false, y)
}

// Backward sets dv[p] to the sum of plane p of dy.
func (b *BroadcastPlanes) Backward(dy, dv []float32) {
	b.be.PlaneSums(dy, b.planes, b.hw, 1, dv)
}
