package ml

import "fmt"

// Model couples a network with its output head (softmax, or sigmoid for one class), a loss
// and an Adam optimiser: the library entry point for training steps and inference.
// Images are sample-major float32 (N, InChannels, H, W); masks are class indices (N, H, W);
// probabilities are (N, OutChannels, H, W). H and W must be multiples of the network's
// SizeMultiple; buffers grow to the largest shape seen and are reused for smaller ones. A Model is not
// safe for concurrent use.
type Model struct {
	Net  Network
	Loss Loss
	Opt  *Adam

	be    Backend
	train bool
	// Reused buffers (channel-major unless noted).
	x      []float32
	probs  []float32
	dz     []float32
	params []*Param
}

// NewModel builds architecture arch (see Archs) with cfg, the given loss and Adam at the
// pipeline's learning rate 0.001, on DefaultBackend. The model starts in training mode.
func NewModel(arch string, cfg ArchConfig, loss Loss) (*Model, error) {
	return NewModelOn(DefaultBackend, arch, cfg, loss)
}

// NewModelOn is NewModel on a chosen backend.
func NewModelOn(be Backend, arch string, cfg ArchConfig, loss Loss) (*Model, error) {
	net, err := NewNetwork(arch, cfg, be)
	if err != nil {
		return nil, err
	}
	m := &Model{Net: net, Loss: loss, be: be, train: true, params: net.Params()}
	m.Opt = NewAdam(m.params, 0.001, be)
	return m, nil
}

// SetTrain selects training mode for Forward (batch statistics, dropout).
func (m *Model) SetTrain() { m.train = true }

// SetEval selects evaluation mode for Forward (running statistics, no dropout).
func (m *Model) SetEval() { m.train = false }

// SetLearningRate changes Adam's learning rate for the following steps.
func (m *Model) SetLearningRate(lr float32) { m.Opt.LR = lr }

// LearningRate is Adam's current learning rate.
func (m *Model) LearningRate() float32 { return m.Opt.LR }

// Params lists the trainable tensors by stable name; Buffers the running statistics.
// Model files store exactly these, and loading copies into Data.
func (m *Model) Params() []*Param  { return m.params }
func (m *Model) Buffers() []*Param { return m.Net.Buffers() }

// OutChannels is the number of probability channels Predict returns per pixel.
func (m *Model) OutChannels() int { return m.Net.Config().OutChannels() }

func (m *Model) checkImages(images []float32, n, h, w int) error {
	cfg := m.Net.Config()
	k := m.Net.SizeMultiple()
	if n <= 0 || h <= 0 || w <= 0 || h%k != 0 || w%k != 0 {
		return fmt.Errorf("input batch %d of %dx%d: sides must be positive multiples of %d", n, h, w, k)
	}
	if len(images) != n*cfg.InChannels*h*w {
		return fmt.Errorf("images hold %d values, want %d (%d x %d x %d x %d)", len(images), n*cfg.InChannels*h*w, n, cfg.InChannels, h, w)
	}
	return nil
}

// forward runs the network and head, leaving channel-major probabilities in m.probs.
func (m *Model) forward(images []float32, n, h, w int, train bool) ([]float32, error) {
	if err := m.checkImages(images, n, h, w); err != nil {
		return nil, err
	}
	x := images
	if c := m.Net.Config().InChannels; c > 1 {
		m.x = grow(m.be, m.x, len(images))
		transposeCN(images, m.x, n, c, h*w)
		x = m.x
	}
	z, err := m.Net.Forward(x, n, h, w, train)
	if err != nil {
		return nil, err
	}
	m.probs = grow(m.be, m.probs, len(z))
	if k := m.OutChannels(); k == 1 {
		m.be.Sigmoid(z, m.probs)
	} else {
		m.be.SoftmaxChannels(z, m.probs, k, n*h*w)
	}
	return z, nil
}

// Step runs one training iteration in training mode on a batch: forward, loss, backward
// and an Adam update. It returns the loss before the update.
func (m *Model) Step(images []float32, masks []uint8, n, h, w int) (float32, error) {
	if len(masks) != n*h*w {
		return 0, fmt.Errorf("masks hold %d values, want %d", len(masks), n*h*w)
	}
	k := m.OutChannels()
	maxClass := max(k-1, 1)
	for _, v := range masks {
		if int(v) > maxClass {
			return 0, fmt.Errorf("mask value %d: the model has classes 0..%d", v, maxClass)
		}
	}
	z, err := m.forward(images, n, h, w, true)
	if err != nil {
		return 0, err
	}
	m.dz = grow(m.be, m.dz, len(z))
	loss := m.Loss.Evaluate(z, m.probs, masks, k, n*h*w, m.dz)
	m.Opt.ZeroGrad()
	m.Net.Backward(m.dz)
	m.Opt.Step()
	return float32(loss), nil
}

// Predict returns the probabilities (N, OutChannels, H, W) of a batch in evaluation mode,
// in a new slice.
func (m *Model) Predict(images []float32, n, h, w int) ([]float32, error) {
	out := make([]float32, n*m.OutChannels()*h*w)
	return out, m.PredictInto(out, images, n, h, w)
}

// PredictInto is Predict writing into dst, which must hold N*OutChannels*H*W values.
func (m *Model) PredictInto(dst, images []float32, n, h, w int) error {
	return m.forwardInto(dst, images, n, h, w, false)
}

// PredictMC is Predict with dropout active (Monte-Carlo dropout): batch norm uses its running
// statistics, and every (sample, channel) plane gets a fresh dropout draw from the model's
// seeded generator, so repeated calls sample the model's predictive distribution. The
// spread of the results over several calls estimates the model's uncertainty.
func (m *Model) PredictMC(images []float32, n, h, w int) ([]float32, error) {
	out := make([]float32, n*m.OutChannels()*h*w)
	m.Net.SetDropoutInEval(true)
	defer m.Net.SetDropoutInEval(false)
	return out, m.forwardInto(out, images, n, h, w, false)
}

// Forward returns probabilities like Predict but in the current mode (SetTrain/SetEval).
// In training mode it updates batch-norm running statistics and draws dropout masks.
func (m *Model) Forward(images []float32, n, h, w int) ([]float32, error) {
	out := make([]float32, n*m.OutChannels()*h*w)
	return out, m.forwardInto(out, images, n, h, w, m.train)
}

func (m *Model) forwardInto(dst, images []float32, n, h, w int, train bool) error {
	k := m.OutChannels()
	if len(dst) != n*k*h*w {
		return fmt.Errorf("output holds %d values, want %d", len(dst), n*k*h*w)
	}
	if _, err := m.forward(images, n, h, w, train); err != nil {
		return err
	}
	transposeCN(m.probs, dst, k, n, h*w)
	return nil
}

// transposeCN swaps the two outer axes of an (a, b, plane) array into (b, a, plane).
func transposeCN(src, dst []float32, a, b, plane int) {
	for i := 0; i < a; i++ {
		for j := 0; j < b; j++ {
			copy(dst[(j*a+i)*plane:(j*a+i+1)*plane], src[(i*b+j)*plane:(i*b+j+1)*plane])
		}
	}
}

func grow(be Backend, buf []float32, n int) []float32 { return fit(be, buf, n) }
