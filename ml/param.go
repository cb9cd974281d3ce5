package ml

import (
	"math"
	"math/rand/v2"
)

// Param is a named tensor a network owns. Trainable parameters carry a gradient of the
// same length; buffers (batch-norm running statistics) have Grad nil. Names are stable
// (they follow PyTorch's state_dict keys of the reference implementation, e.g.
// "conv1.conv1.weight" or "up1.downconv.conv2_bn.running_var"), so model files can store
// exactly Name, Shape and Data.
type Param struct {
	Name  string
	Shape []int
	Data  []float32
	Grad  []float32
}

// Numel is the number of values in the tensor.
func (p *Param) Numel() int { return len(p.Data) }

func newParam(be Backend, name string, trainable bool, shape ...int) *Param {
	n := 1
	for _, s := range shape {
		n *= s
	}
	p := &Param{Name: name, Shape: shape, Data: be.Alloc(n)}
	if trainable {
		p.Grad = be.Alloc(n)
	}
	return p
}

// uniformInit fills p with U(-bound, bound), PyTorch's default for convolution weights
// (kaiming_uniform with a=sqrt(5) reduces to bound = 1/sqrt(fan_in)) and biases.
func uniformInit(p *Param, fanIn int, rng *rand.Rand) {
	bound := 1 / math.Sqrt(float64(fanIn))
	for i := range p.Data {
		p.Data[i] = float32((rng.Float64()*2 - 1) * bound)
	}
}

// Workspace is scratch memory shared by the layers of one network: im2col columns are
// needed by one convolution at a time, and a block's inner gradient only during that
// block's backward pass, so one buffer of each serves them all. A network creates one and
// hands it to its layers; layers of networks that may run concurrently must not share one.
type Workspace struct {
	be   Backend
	col  []float32
	grad []float32
}

// colBudget bounds the im2col scratch (in float32 values): convolutions are computed in
// chunks of image rows whose unrolled columns fit, which keeps the scratch cache-sized
// instead of proportional to the batch.
var colBudget = 1 << 20

// NewWorkspace returns an empty workspace whose buffers come from be.
func NewWorkspace(be Backend) *Workspace { return &Workspace{be: be} }

func (ws *Workspace) cols(n int) []float32 {
	ws.col = fit(ws.be, ws.col, n)
	return ws.col
}

func (ws *Workspace) innerGrad(n int) []float32 {
	ws.grad = fit(ws.be, ws.grad, n)
	return ws.grad
}

// fit returns buf resized to n values, reallocating only when its capacity is too small, so
// that alternating shapes (training batches, then a validation or inference batch) reuse
// the largest buffers instead of churning memory. Callers overwrite the contents.
func fit(be Backend, buf []float32, n int) []float32 {
	if cap(buf) >= n {
		return buf[:n]
	}
	return be.Alloc(n)
}
