package ml

import (
	"fmt"
	"math/rand/v2"
)

// SegNet is the reference's SegNet ("multiclass-segmentation" models.py): a VGG-16-like
// encoder of five stages of 2, 2, 3, 3, 3 units conv3x3 -> BatchNorm -> Dropout2d -> ReLU
// with 64, 128, 256, 512, 512 channels (scaled by ArchConfig.Width over 64), each stage
// ending in a 2x2 max pool that keeps its indices; a mirrored decoder whose stages start by
// max-unpooling with the indices of their encoder stage, the last unit of each decoder
// stage narrowing to the next stage's width; and a 3x3 head (conv11d) without batch norm.
// Parameter names follow the reference's state_dict (conv11, bn11, ..., conv53d, bn53d,
// ..., conv12d, bn12d, conv11d). The reference's forward pass returns these logits without
// a head; Model applies the pipeline's softmax (sigmoid for one class) as for every
// architecture.
type SegNet struct {
	cfg     ArchConfig
	be      Backend
	ws      *Workspace
	Enc     [][]*convUnit // Enc[s][j] is conv{s+1}{j+1}
	Dec     [][]*convUnit // Dec[s][i] runs i-th in decoder stage s: conv{s+1}{convs-i}d
	Head    *Conv2d
	pools   []*MaxPool2d
	unpools []*MaxUnpool2d
	width   []int

	n, h, w int
	encOut  [][][]float32 // per unit output
	decOut  [][][]float32
	pooled  [][]float32 // per stage pool output
	unpool  [][]float32 // per stage unpool output
	logits  []float32
	g0, g1  []float32 // gradient ping-pong: the network is a chain
}

// segnetConvs is the number of units per stage.
var segnetConvs = []int{2, 2, 3, 3, 3}

func init() {
	RegisterArch("segnet", func(cfg ArchConfig, be Backend) (Network, error) { return NewSegNet(cfg, be) })
}

// NewSegNet builds the network with PyTorch's default initialisation from cfg.Seed.
func NewSegNet(cfg ArchConfig, be Backend) (*SegNet, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	b := cfg.width(64)
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	dropRNG := rand.New(rand.NewPCG(cfg.Seed, 0xd209))
	ws := NewWorkspace(be)
	s := &SegNet{cfg: cfg, be: be, ws: ws, width: []int{b, 2 * b, 4 * b, 8 * b, 8 * b}}
	unit := func(name string, in, out int) *convUnit {
		return newConvUnit("conv"+name, "bn"+name, in, out, 3, 1, 1, true, cfg, be, ws, rng, dropRNG)
	}
	stages := len(segnetConvs)
	in := cfg.InChannels
	for st := range stages {
		var units []*convUnit
		for j := range segnetConvs[st] {
			units = append(units, unit(fmt.Sprintf("%d%d", st+1, j+1), in, s.width[st]))
			in = s.width[st]
		}
		s.Enc = append(s.Enc, units)
		pool := NewMaxPool2d(be)
		s.pools = append(s.pools, pool)
		s.unpools = append(s.unpools, NewMaxUnpool2d(pool, be))
	}
	s.Enc[0][0].Conv.NeedInputGrad = false
	// The decoder is built from the bottom up, in the reference's order, so that the
	// initial weights drawn from rng follow its parameter order.
	s.Dec = make([][]*convUnit, stages)
	for st := stages - 1; st >= 0; st-- {
		c := segnetConvs[st]
		for j := c; j >= 1; j-- {
			if st == 0 && j == 1 {
				break // conv11d is the head
			}
			out := s.width[st]
			if j == 1 {
				out = s.width[st-1]
			}
			s.Dec[st] = append(s.Dec[st], unit(fmt.Sprintf("%d%dd", st+1, j), s.width[st], out))
		}
	}
	s.Head = NewConv2d("conv11d", b, cfg.OutChannels(), 3, 1, 1, true, be, ws, rng)
	s.encOut, s.decOut = make([][][]float32, stages), make([][][]float32, stages)
	for st := range stages {
		s.encOut[st] = make([][]float32, len(s.Enc[st]))
		s.decOut[st] = make([][]float32, len(s.Dec[st]))
	}
	s.pooled, s.unpool = make([][]float32, stages), make([][]float32, stages)
	return s, nil
}

// units lists the units in parameter order: encoder, then decoder from the bottom up.
func (s *SegNet) units() []*convUnit {
	var us []*convUnit
	for _, st := range s.Enc {
		us = append(us, st...)
	}
	for st := len(s.Dec) - 1; st >= 0; st-- {
		us = append(us, s.Dec[st]...)
	}
	return us
}

// Params lists the trainable tensors in a stable order.
func (s *SegNet) Params() []*Param {
	var ps []*Param
	for _, u := range s.units() {
		ps = append(ps, u.params()...)
	}
	return append(ps, s.Head.Params()...)
}

// Buffers lists the batch-norm running statistics in a stable order.
func (s *SegNet) Buffers() []*Param {
	var ps []*Param
	for _, u := range s.units() {
		ps = append(ps, u.buffers()...)
	}
	return ps
}

// Config returns the configuration the network was built with.
func (s *SegNet) Config() ArchConfig { return s.cfg }

// SizeMultiple is the divisor both image sides must have (five 2x2 poolings).
func (s *SegNet) SizeMultiple() int { return 1 << len(segnetConvs) }

// SetDropout changes the dropout rate of every unit.
func (s *SegNet) SetDropout(p float32) {
	s.cfg.DropRate = p
	for _, u := range s.units() {
		u.BN.Drop.P = p
	}
}

// SetDropoutInEval keeps dropout active in evaluation mode (Monte-Carlo dropout).
func (s *SegNet) SetDropoutInEval(on bool) {
	for _, u := range s.units() {
		u.BN.Drop.InEval = on
	}
}

func (s *SegNet) resize(n, h, w int) {
	if s.n == n && s.h == h && s.w == w {
		return
	}
	s.n, s.h, s.w = n, h, w
	largest := 0
	for st := range s.Enc {
		m := n * h * w >> (2 * st)
		for j, u := range s.Enc[st] {
			s.encOut[st][j] = fit(s.be, s.encOut[st][j], u.Conv.Out*m)
		}
		for i, u := range s.Dec[st] {
			s.decOut[st][i] = fit(s.be, s.decOut[st][i], u.Conv.Out*m)
		}
		s.pooled[st] = fit(s.be, s.pooled[st], s.width[st]*m/4)
		s.unpool[st] = fit(s.be, s.unpool[st], s.width[st]*m)
		largest = max(largest, s.width[st]*m)
	}
	s.logits = fit(s.be, s.logits, s.cfg.OutChannels()*n*h*w)
	s.g0, s.g1 = fit(s.be, s.g0, largest), fit(s.be, s.g1, largest)
}

// Forward runs the network on x (n samples, channel-major) and returns the logits
// (OutChannels, channel-major), valid until the next Forward.
func (s *SegNet) Forward(x []float32, n, h, w int, train bool) ([]float32, error) {
	k := s.SizeMultiple()
	if h%k != 0 || w%k != 0 || h == 0 || w == 0 || n <= 0 {
		return nil, fmt.Errorf("segnet: input %dx%d (batch %d): sides must be positive multiples of %d", h, w, n, k)
	}
	if len(x) != n*s.cfg.InChannels*h*w {
		return nil, fmt.Errorf("segnet: input has %d values, want %d", len(x), n*s.cfg.InChannels*h*w)
	}
	s.resize(n, h, w)
	in := x
	for st, units := range s.Enc {
		hs, wst := h>>st, w>>st
		for j, u := range units {
			u.Forward(in, n, hs, wst, s.encOut[st][j], train)
			in = s.encOut[st][j]
		}
		s.pools[st].Forward(in, s.width[st]*n, hs, wst, s.pooled[st])
		in = s.pooled[st]
	}
	for st := len(s.Dec) - 1; st >= 0; st-- {
		s.unpools[st].Forward(in, s.unpool[st])
		in = s.unpool[st]
		for i, u := range s.Dec[st] {
			u.Forward(in, n, h>>st, w>>st, s.decOut[st][i], train)
			in = s.decOut[st][i]
		}
	}
	s.Head.Forward(in, n, h, w, s.logits)
	return s.logits, nil
}

// Backward accumulates parameter gradients from dLogits, the gradient w.r.t. the logits of
// the last (training) Forward. dLogits is left unchanged.
func (s *SegNet) Backward(dLogits []float32) {
	// g holds the gradient w.r.t. the current activation; each layer writes the gradient
	// w.r.t. its input into the other buffer.
	g, other := s.g0, s.g1
	step := func(size int) []float32 {
		next := other[:size]
		g, other = next, g[:cap(g)]
		return next
	}
	s.Head.Backward(dLogits, step(s.width[0]*s.n*s.h*s.w))
	for st := range s.Dec {
		m := s.n * s.h * s.w >> (2 * st)
		for i := len(s.Dec[st]) - 1; i >= 0; i-- {
			u := s.Dec[st][i]
			dOut := g
			u.Backward(dOut, step(u.Conv.In*m))
		}
		dOut := g
		s.unpools[st].Backward(dOut, step(s.width[st]*m/4))
	}
	for st := len(s.Enc) - 1; st >= 0; st-- {
		m := s.n * s.h * s.w >> (2 * st)
		dOut := g
		s.pools[st].BackwardSet(dOut, step(s.width[st]*m))
		for j := len(s.Enc[st]) - 1; j >= 0; j-- {
			u := s.Enc[st][j]
			dOut := g
			if j == 0 && st == 0 {
				u.Backward(dOut, nil)
				break
			}
			u.Backward(dOut, step(u.Conv.In*m))
		}
	}
}
