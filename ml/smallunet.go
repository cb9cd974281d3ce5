package ml

import (
	"fmt"
	"math/rand/v2"
)

// SmallUNet is the pipeline's default network (PIPELINE.md): three pooling levels,
// DownConv blocks of 32-64-128-128 channels, bilinear upsampling with concatenated skips,
// and a 3x3 head. Parameter names follow the reference implementation's state_dict.
type SmallUNet struct {
	cfg                 ArchConfig
	be                  Backend
	ws                  *Workspace
	Conv1, Conv2, Conv3 *DownConv
	Conv4               *DownConv
	Up1, Up2, Up3       *DownConv // the reference's up*.downconv
	Conv9               *Conv2d   // head
	pool1, pool2, pool3 *MaxPool2d
	ups1, ups2, ups3    *Upsample2

	n, h, w int
	// Activations. catK holds [upsampled | skip] for decoder level K: the encoder block
	// writes its output straight into the skip half, so concatenation costs nothing.
	cat1, cat2, cat3 []float32
	p1, p2, p3       []float32 // pooled
	b4               []float32 // bottom block output
	u1, u2, u3       []float32 // decoder block outputs
	logits           []float32
	// Gradients, named after the activation they belong to.
	dCat1, dCat2, dCat3 []float32
	dP1, dP2, dP3       []float32
	dB4, dU1, dU2, dU3  []float32
}

func init() {
	RegisterArch("smallunet", func(cfg ArchConfig, be Backend) (Network, error) { return NewSmallUNet(cfg, be) })
}

// NewSmallUNet builds the network with PyTorch's default initialisation from cfg.Seed.
func NewSmallUNet(cfg ArchConfig, be Backend) (*SmallUNet, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	dropRNG := rand.New(rand.NewPCG(cfg.Seed, 0xd209))
	ws := NewWorkspace(be)
	blk := func(name string, in, out int) *DownConv {
		return NewDownConv(name, in, out, cfg.DropRate, cfg.BNMomentum, be, ws, rng, dropRNG)
	}
	u := &SmallUNet{cfg: cfg, be: be, ws: ws}
	u.Conv1 = blk("conv1", cfg.InChannels, 32)
	u.Conv2 = blk("conv2", 32, 64)
	u.Conv3 = blk("conv3", 64, 128)
	u.Conv4 = blk("conv4", 128, 128)
	u.Up1 = blk("up1.downconv", 256, 128)
	u.Up2 = blk("up2.downconv", 192, 64)
	u.Up3 = blk("up3.downconv", 96, 32)
	u.Conv9 = NewConv2d("conv9", 32, cfg.OutChannels(), 3, 1, 1, true, be, ws, rng)
	u.Conv1.Conv1.NeedInputGrad = false
	u.pool1, u.pool2, u.pool3 = NewMaxPool2d(be), NewMaxPool2d(be), NewMaxPool2d(be)
	u.ups1, u.ups2, u.ups3 = NewUpsample2(be), NewUpsample2(be), NewUpsample2(be)
	return u, nil
}

func (u *SmallUNet) blocks() []*DownConv {
	return []*DownConv{u.Conv1, u.Conv2, u.Conv3, u.Conv4, u.Up1, u.Up2, u.Up3}
}

// Params lists the trainable tensors in a stable order.
func (u *SmallUNet) Params() []*Param {
	var ps []*Param
	for _, b := range u.blocks() {
		ps = append(ps, b.Params()...)
	}
	return append(ps, u.Conv9.Params()...)
}

// Buffers lists the batch-norm running statistics in a stable order.
func (u *SmallUNet) Buffers() []*Param {
	var ps []*Param
	for _, b := range u.blocks() {
		ps = append(ps, b.Buffers()...)
	}
	return ps
}

// Config returns the configuration the network was built with.
func (u *SmallUNet) Config() ArchConfig { return u.cfg }

// SetDropout changes the dropout rate of every block.
func (u *SmallUNet) SetDropout(p float32) {
	u.cfg.DropRate = p
	for _, b := range u.blocks() {
		b.setDropout(p)
	}
}

// SetDropoutInEval keeps dropout active in evaluation mode (Monte-Carlo dropout).
func (u *SmallUNet) SetDropoutInEval(on bool) {
	for _, b := range u.blocks() {
		b.setDropoutInEval(on)
	}
}

// SizeMultiple is the divisor both image sides must have (three 2x2 poolings).
func (u *SmallUNet) SizeMultiple() int { return 8 }

func (u *SmallUNet) resize(n, h, w int) {
	if u.n == n && u.h == h && u.w == w {
		return
	}
	u.n, u.h, u.w = n, h, w
	m1, m2, m3, m4 := n*h*w, n*h*w/4, n*h*w/16, n*h*w/64
	k := u.cfg.OutChannels()
	f := func(buf *[]float32, n int) { *buf = fit(u.be, *buf, n) }
	f(&u.cat3, 96*m1)
	f(&u.cat2, 192*m2)
	f(&u.cat1, 256*m3)
	f(&u.p1, 32*m2)
	f(&u.p2, 64*m3)
	f(&u.p3, 128*m4)
	f(&u.b4, 128*m4)
	f(&u.u1, 128*m3)
	f(&u.u2, 64*m2)
	f(&u.u3, 32*m1)
	f(&u.logits, k*m1)
}

// resizeGrads fits the gradient buffers to the last forward's shape. They are allocated on
// the first backward pass, so a model used only for inference never holds them.
func (u *SmallUNet) resizeGrads() {
	m1, m2, m3, m4 := u.n*u.h*u.w, u.n*u.h*u.w/4, u.n*u.h*u.w/16, u.n*u.h*u.w/64
	f := func(buf *[]float32, n int) { *buf = fit(u.be, *buf, n) }
	f(&u.dCat3, 96*m1)
	f(&u.dCat2, 192*m2)
	f(&u.dCat1, 256*m3)
	f(&u.dP1, 32*m2)
	f(&u.dP2, 64*m3)
	f(&u.dP3, 128*m4)
	f(&u.dB4, 128*m4)
	f(&u.dU1, 128*m3)
	f(&u.dU2, 64*m2)
	f(&u.dU3, 32*m1)
}

// Forward runs the network on x (n samples, channel-major) and returns the logits
// (OutChannels, channel-major), valid until the next Forward.
func (u *SmallUNet) Forward(x []float32, n, h, w int, train bool) ([]float32, error) {
	if h%8 != 0 || w%8 != 0 || h == 0 || w == 0 || n <= 0 {
		return nil, fmt.Errorf("smallunet: input %dx%d (batch %d): sides must be positive multiples of 8", h, w, n)
	}
	if len(x) != n*u.cfg.InChannels*h*w {
		return nil, fmt.Errorf("smallunet: input has %d values, want %d", len(x), n*u.cfg.InChannels*h*w)
	}
	u.resize(n, h, w)
	m1, m2, m3 := n*h*w, n*h*w/4, n*h*w/16
	skip1, skip2, skip3 := u.cat3[64*m1:], u.cat2[128*m2:], u.cat1[128*m3:]
	u.Conv1.Forward(x, n, h, w, skip1, train)
	u.pool1.Forward(skip1, 32*n, h, w, u.p1)
	u.Conv2.Forward(u.p1, n, h/2, w/2, skip2, train)
	u.pool2.Forward(skip2, 64*n, h/2, w/2, u.p2)
	u.Conv3.Forward(u.p2, n, h/4, w/4, skip3, train)
	u.pool3.Forward(skip3, 128*n, h/4, w/4, u.p3)
	u.Conv4.Forward(u.p3, n, h/8, w/8, u.b4, train)
	u.ups1.Forward(u.b4, 128*n, h/8, w/8, u.cat1)
	u.Up1.Forward(u.cat1, n, h/4, w/4, u.u1, train)
	u.ups2.Forward(u.u1, 128*n, h/4, w/4, u.cat2)
	u.Up2.Forward(u.cat2, n, h/2, w/2, u.u2, train)
	u.ups3.Forward(u.u2, 64*n, h/2, w/2, u.cat3)
	u.Up3.Forward(u.cat3, n, h, w, u.u3, train)
	u.Conv9.Forward(u.u3, n, h, w, u.logits)
	return u.logits, nil
}

// Backward accumulates parameter gradients from dLogits, the gradient w.r.t. the logits of
// the last (training) Forward. dLogits is left unchanged.
func (u *SmallUNet) Backward(dLogits []float32) {
	n, h, w := u.n, u.h, u.w
	m1, m2, m3 := n*h*w, n*h*w/4, n*h*w/16
	u.resizeGrads()
	u.Conv9.Backward(dLogits, u.dU3)
	u.Up3.Backward(u.dU3, u.dCat3)
	u.ups3.Backward(u.dCat3[:64*m1], u.dU2)
	u.Up2.Backward(u.dU2, u.dCat2)
	u.ups2.Backward(u.dCat2[:128*m2], u.dU1)
	u.Up1.Backward(u.dU1, u.dCat1)
	u.ups1.Backward(u.dCat1[:128*m3], u.dB4)
	u.Conv4.Backward(u.dB4, u.dP3)
	dSkip3, dSkip2, dSkip1 := u.dCat1[128*m3:], u.dCat2[128*m2:], u.dCat3[64*m1:]
	u.pool3.Backward(u.dP3, dSkip3)
	u.Conv3.Backward(dSkip3, u.dP2)
	u.pool2.Backward(u.dP2, dSkip2)
	u.Conv2.Backward(dSkip2, u.dP1)
	u.pool1.Backward(u.dP1, dSkip1)
	u.Conv1.Backward(dSkip1, nil)
}
