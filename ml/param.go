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

// Workspace is scratch memory shared by the layers of one network: im2col columns (one
// buffer per core) and weight-gradient partial sums are needed by one convolution at a
// time, and a block's inner gradient only during that block's backward pass, so one set of
// buffers serves them all. A network creates one and hands it to its layers; networks that
// may run concurrently must not share one.
type Workspace struct {
	be   Backend
	cols [][]float32
	dw   []float32
	grad []float32
	wr   []float32 // a convolution's weights reordered for its GEMMs
	bias []float32
}

// NewWorkspace returns an empty workspace whose buffers come from be.
func NewWorkspace(be Backend) *Workspace { return &Workspace{be: be} }

// reserveWorkers makes room for the column buffers of n workers; it must run before the
// workers start, which then each touch only their own buffer.
func (ws *Workspace) reserveWorkers(n int) {
	for len(ws.cols) < n {
		ws.cols = append(ws.cols, nil)
	}
}

func (ws *Workspace) workerCols(worker, n int) []float32 {
	ws.cols[worker] = fit(ws.be, ws.cols[worker], n)
	return ws.cols[worker]
}

func (ws *Workspace) dwSlots(n int) []float32 {
	ws.dw = fit(ws.be, ws.dw, n)
	return ws.dw
}

func (ws *Workspace) reordered(n int) []float32 {
	ws.wr = fit(ws.be, ws.wr, n)
	return ws.wr
}

func (ws *Workspace) biasColumn(n int) []float32 {
	ws.bias = fit(ws.be, ws.bias, n)
	return ws.bias
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
