package ml

import (
	"fmt"
	"math/rand/v2"
)

// NoPoolASPP is the reference's NoPoolASPP (Perone et al. 2018, "multiclass-segmentation"
// models.py): no pooling, so every layer sees the full resolution. Every unit is conv ->
// ReLU -> BatchNorm -> Dropout2d with Width filters (64 by default):
//
//   - conv1a, conv1b: 3x3; conv2a, conv2b: 3x3 at dilation 2, giving the features f;
//   - five branches on f, two units each: branch1 3x3 then 1x1 (the "1x1 branch"), and
//     branches 2 to 5 two 3x3 convolutions at dilation rates 6, 12, 18 and 24;
//   - the global average of f, broadcast back to the full size as a sixth branch;
//   - the six concatenated (6*Width channels), then BatchNorm (concat_bn) and Dropout2d;
//   - amort: 1x1 to 2*Width channels, ReLU, BatchNorm, Dropout2d; prediction: 1x1 to
//     the output channels.
//
// As in the reference, the pooled branch has no convolution of its own (PIPELINE.md's
// summary does not say; the reference's forward pass expands the pooled features as
// they are), and the branch rates are fixed whatever the image size: a rate larger than
// the image reads only padding beyond its centre tap. The reference ends in a sigmoid
// even with several classes; here Model's head applies the pipeline's rule (softmax over
// K+1 channels, sigmoid for one class) to these logits as for every architecture.
// Parameter names follow the reference's state_dict.
type NoPoolASPP struct {
	cfg      ArchConfig
	be       Backend
	ws       *Workspace
	Stem     []*convUnit    // conv1a, conv1b, conv2a, conv2b
	Branches [][2]*convUnit // branch1..branch5, units a and b
	ConcatBN *BatchNorm2d   // with concat_drop fused
	Amort    *convUnit
	Pred     *Conv2d
	gap      *GlobalAvgPool2d
	bcast    *BroadcastPlanes
	width    int

	n, h, w int
	stem    [][]float32 // stem unit outputs; the last is f
	mid     [][]float32 // branch unit a outputs
	means   []float32   // pooled f, one per plane
	cat     []float32   // [branch1 | ... | branch5 | pooled]
	catBN   []float32
	amort   []float32
	logits  []float32
	// Gradients.
	dStem  [][]float32
	dMid   []float32
	dF     []float32 // scratch for one branch's share of f's gradient
	dMeans []float32
	dCat   []float32
	dAmort []float32
}

// asppRates are the dilation rates of branches 2 to 5.
var asppRates = []int{6, 12, 18, 24}

func init() {
	RegisterArch("nopoolaspp", func(cfg ArchConfig, be Backend) (Network, error) { return NewNoPoolASPP(cfg, be) })
}

// NewNoPoolASPP builds the network with PyTorch's default initialisation from cfg.Seed.
func NewNoPoolASPP(cfg ArchConfig, be Backend) (*NoPoolASPP, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	b := cfg.width(64)
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	dropRNG := rand.New(rand.NewPCG(cfg.Seed, 0xd209))
	ws := NewWorkspace(be)
	a := &NoPoolASPP{cfg: cfg, be: be, ws: ws, width: b}
	unit := func(name string, in, out, kernel, dil int) *convUnit {
		pad := dil * (kernel - 1) / 2
		return newConvUnit(name, name+"_bn", in, out, kernel, pad, dil, false, cfg, be, ws, rng, dropRNG)
	}
	a.Stem = []*convUnit{
		unit("conv1a", cfg.InChannels, b, 3, 1), unit("conv1b", b, b, 3, 1),
		unit("conv2a", b, b, 3, 2), unit("conv2b", b, b, 3, 2),
	}
	a.Stem[0].Conv.NeedInputGrad = false
	a.Branches = append(a.Branches, [2]*convUnit{unit("branch1a", b, b, 3, 1), unit("branch1b", b, b, 1, 1)})
	for i, r := range asppRates {
		name := fmt.Sprintf("branch%d", i+2)
		a.Branches = append(a.Branches, [2]*convUnit{unit(name+"a", b, b, 3, r), unit(name+"b", b, b, 3, r)})
	}
	a.ConcatBN = NewBatchNorm2d("concat_bn", 6*b, cfg.BNMomentum, be)
	a.ConcatBN.Drop = NewDropout2d(cfg.DropRate, dropRNG, be)
	a.Amort = unit("amort", 6*b, 2*b, 1, 1)
	a.Pred = NewConv2d("prediction", 2*b, cfg.OutChannels(), 1, 0, 1, true, be, ws, rng)
	a.gap, a.bcast = NewGlobalAvgPool2d(be), NewBroadcastPlanes(be)
	a.stem, a.dStem = make([][]float32, len(a.Stem)), make([][]float32, len(a.Stem))
	a.mid = make([][]float32, len(a.Branches))
	return a, nil
}

// units lists the units in parameter order, without concat_bn (between branches and amort).
func (a *NoPoolASPP) units() []*convUnit {
	us := append([]*convUnit(nil), a.Stem...)
	for _, br := range a.Branches {
		us = append(us, br[0], br[1])
	}
	return append(us, a.Amort)
}

// Params lists the trainable tensors in the reference's order.
func (a *NoPoolASPP) Params() []*Param {
	var ps []*Param
	us := a.units()
	for _, u := range us[:len(us)-1] {
		ps = append(ps, u.params()...)
	}
	ps = append(ps, a.ConcatBN.Params()...)
	ps = append(ps, a.Amort.params()...)
	return append(ps, a.Pred.Params()...)
}

// Buffers lists the batch-norm running statistics in the reference's order.
func (a *NoPoolASPP) Buffers() []*Param {
	var ps []*Param
	us := a.units()
	for _, u := range us[:len(us)-1] {
		ps = append(ps, u.buffers()...)
	}
	ps = append(ps, a.ConcatBN.Buffers()...)
	return append(ps, a.Amort.buffers()...)
}

// Config returns the configuration the network was built with.
func (a *NoPoolASPP) Config() ArchConfig { return a.cfg }

// SizeMultiple is 1: without pooling any image size works.
func (a *NoPoolASPP) SizeMultiple() int { return 1 }

func (a *NoPoolASPP) drops() []*Dropout2d {
	var ds []*Dropout2d
	for _, u := range a.units() {
		ds = append(ds, u.BN.Drop)
	}
	return append(ds, a.ConcatBN.Drop)
}

// SetDropout changes the dropout rate of every dropout layer.
func (a *NoPoolASPP) SetDropout(p float32) {
	a.cfg.DropRate = p
	for _, d := range a.drops() {
		d.P = p
	}
}

// SetDropoutInEval keeps dropout active in evaluation mode (Monte-Carlo dropout).
func (a *NoPoolASPP) SetDropoutInEval(on bool) {
	for _, d := range a.drops() {
		d.InEval = on
	}
}

func (a *NoPoolASPP) resize(n, h, w int) {
	if a.n == n && a.h == h && a.w == w {
		return
	}
	a.n, a.h, a.w = n, h, w
	m, b := n*h*w, a.width
	for i := range a.stem {
		a.stem[i] = fit(a.be, a.stem[i], b*m)
	}
	for i := range a.mid {
		a.mid[i] = fit(a.be, a.mid[i], b*m)
	}
	a.means = fit(a.be, a.means, b*n)
	a.cat = fit(a.be, a.cat, 6*b*m)
	a.catBN = fit(a.be, a.catBN, 6*b*m)
	a.amort = fit(a.be, a.amort, 2*b*m)
	a.logits = fit(a.be, a.logits, a.cfg.OutChannels()*m)
}

// resizeGrads fits the gradient buffers on the first backward pass.
func (a *NoPoolASPP) resizeGrads() {
	m, b := a.n*a.h*a.w, a.width
	for i := range a.dStem {
		a.dStem[i] = fit(a.be, a.dStem[i], b*m)
	}
	a.dMid = fit(a.be, a.dMid, b*m)
	a.dF = fit(a.be, a.dF, b*m)
	a.dMeans = fit(a.be, a.dMeans, b*a.n)
	a.dCat = fit(a.be, a.dCat, 6*b*m)
	a.dAmort = fit(a.be, a.dAmort, 2*b*m)
}

// Forward runs the network on x (n samples, channel-major) and returns the logits
// (OutChannels, channel-major), valid until the next Forward.
func (a *NoPoolASPP) Forward(x []float32, n, h, w int, train bool) ([]float32, error) {
	if h <= 0 || w <= 0 || n <= 0 {
		return nil, fmt.Errorf("nopoolaspp: input %dx%d (batch %d): sides and batch must be positive", h, w, n)
	}
	if len(x) != n*a.cfg.InChannels*h*w {
		return nil, fmt.Errorf("nopoolaspp: input has %d values, want %d", len(x), n*a.cfg.InChannels*h*w)
	}
	a.resize(n, h, w)
	m, b := n*h*w, a.width
	in := x
	for i, u := range a.Stem {
		u.Forward(in, n, h, w, a.stem[i], train)
		in = a.stem[i]
	}
	f := in
	for i, br := range a.Branches {
		br[0].Forward(f, n, h, w, a.mid[i], train)
		br[1].Forward(a.mid[i], n, h, w, a.cat[i*b*m:(i+1)*b*m], train)
	}
	a.gap.Forward(f, b*n, h*w, a.means)
	a.bcast.Forward(a.means, b*n, h*w, a.cat[5*b*m:])
	a.ConcatBN.Forward(a.cat, n, h*w, a.catBN, train)
	a.Amort.Forward(a.catBN, n, h, w, a.amort, train)
	a.Pred.Forward(a.amort, n, h, w, a.logits)
	return a.logits, nil
}

// Backward accumulates parameter gradients from dLogits, the gradient w.r.t. the logits of
// the last (training) Forward. dLogits is left unchanged.
func (a *NoPoolASPP) Backward(dLogits []float32) {
	a.resizeGrads()
	m, b := a.n*a.h*a.w, a.width
	a.Pred.Backward(dLogits, a.dAmort)
	a.Amort.Backward(a.dAmort, a.dCat)
	a.ConcatBN.Backward(a.dCat)
	// f feeds five branches and the pooling: the first branch sets its gradient, the
	// others add to it.
	last := len(a.Stem) - 1
	dF := a.dStem[last]
	for i, br := range a.Branches {
		br[1].Backward(a.dCat[i*b*m:(i+1)*b*m], a.dMid)
		if i == 0 {
			br[0].Backward(a.dMid, dF)
			continue
		}
		br[0].Backward(a.dMid, a.dF)
		a.be.AddTo(dF, a.dF)
	}
	a.bcast.Backward(a.dCat[5*b*m:], a.dMeans)
	a.gap.Backward(a.dMeans, dF)
	for i := last; i > 0; i-- {
		a.Stem[i].Backward(a.dStem[i], a.dStem[i-1])
	}
	a.Stem[0].Backward(a.dStem[0], nil)
}
