package ml

import (
	"fmt"
	"math/rand/v2"
)

// UNet is the reference's full U-Net ("multiclass-segmentation" models.py): four pooling
// levels with DownConv blocks of 64-128-256-512-512 channels (scaled by ArchConfig.Width
// over 64), a decoder of bilinear x2 upsampling, concatenation with the skip and a
// DownConv (up1 (1024, 512), up2 (768, 256), up3 (384, 128), up4 (192, 64)), and a 3x3
// head. Parameter names follow the reference's state_dict (conv1..conv5,
// up1.downconv..up4.downconv, conv11).
type UNet struct {
	cfg   ArchConfig
	be    Backend
	ws    *Workspace
	width []int       // encoder widths, one per level, the bottom's last
	Enc   []*DownConv // conv1..conv5, the last one the bottom
	Dec   []*DownConv // Dec[l] is the decoder block of level l (up1 is Dec[levels-1])
	Head  *Conv2d
	pools []*MaxPool2d
	ups   []*Upsample2

	n, h, w int
	// cat[l] holds [upsampled | skip] for level l: the encoder block writes its output
	// straight into the skip half, so concatenation costs nothing.
	cat, pooled, dec    [][]float32
	bottom, logits      []float32
	dCat, dPooled, dDec [][]float32
	dBottom             []float32
}

// unetLevels is the number of 2x2 poolings of UNet.
const unetLevels = 4

func init() {
	RegisterArch("unet", func(cfg ArchConfig, be Backend) (Network, error) { return NewUNet(cfg, be) })
}

// NewUNet builds the network with PyTorch's default initialisation from cfg.Seed.
func NewUNet(cfg ArchConfig, be Backend) (*UNet, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	b := cfg.width(64)
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	dropRNG := rand.New(rand.NewPCG(cfg.Seed, 0xd209))
	ws := NewWorkspace(be)
	u := &UNet{cfg: cfg, be: be, ws: ws, width: []int{b, 2 * b, 4 * b, 8 * b, 8 * b}}
	blk := func(name string, in, out int) *DownConv {
		return NewDownConv(name, in, out, cfg.DropRate, cfg.BNMomentum, be, ws, rng, dropRNG)
	}
	in := cfg.InChannels
	for l, c := range u.width {
		u.Enc = append(u.Enc, blk(fmt.Sprintf("conv%d", l+1), in, c))
		in = c
	}
	u.Dec = make([]*DownConv, unetLevels)
	for l := unetLevels - 1; l >= 0; l-- {
		u.Dec[l] = blk(fmt.Sprintf("up%d.downconv", unetLevels-l), u.width[l+1]+u.width[l], u.width[l])
	}
	u.Head = NewConv2d(fmt.Sprintf("conv%d", 2*unetLevels+3), b, cfg.OutChannels(), 3, 1, 1, true, be, ws, rng)
	u.Enc[0].Conv1.NeedInputGrad = false
	for range unetLevels {
		u.pools = append(u.pools, NewMaxPool2d(be))
		u.ups = append(u.ups, NewUpsample2(be))
	}
	n := unetLevels
	u.cat, u.pooled, u.dec = make([][]float32, n), make([][]float32, n), make([][]float32, n)
	u.dCat, u.dPooled, u.dDec = make([][]float32, n), make([][]float32, n), make([][]float32, n)
	return u, nil
}

// blocks lists the blocks in parameter order: encoder, then decoder from the bottom up.
func (u *UNet) blocks() []*DownConv {
	bs := append([]*DownConv(nil), u.Enc...)
	for l := unetLevels - 1; l >= 0; l-- {
		bs = append(bs, u.Dec[l])
	}
	return bs
}

// Params lists the trainable tensors in a stable order.
func (u *UNet) Params() []*Param {
	var ps []*Param
	for _, b := range u.blocks() {
		ps = append(ps, b.Params()...)
	}
	return append(ps, u.Head.Params()...)
}

// Buffers lists the batch-norm running statistics in a stable order.
func (u *UNet) Buffers() []*Param {
	var ps []*Param
	for _, b := range u.blocks() {
		ps = append(ps, b.Buffers()...)
	}
	return ps
}

// Config returns the configuration the network was built with.
func (u *UNet) Config() ArchConfig { return u.cfg }

// SizeMultiple is the divisor both image sides must have (four 2x2 poolings).
func (u *UNet) SizeMultiple() int { return 1 << unetLevels }

// SetDropout changes the dropout rate of every block.
func (u *UNet) SetDropout(p float32) {
	u.cfg.DropRate = p
	for _, b := range u.blocks() {
		b.setDropout(p)
	}
}

// SetDropoutInEval keeps dropout active in evaluation mode (Monte-Carlo dropout).
func (u *UNet) SetDropoutInEval(on bool) {
	for _, b := range u.blocks() {
		b.setDropoutInEval(on)
	}
}

// pixels is the number of pixels per channel of the batch at level l.
func (u *UNet) pixels(l int) int { return u.n * u.h * u.w >> (2 * l) }

func (u *UNet) resize(n, h, w int) {
	if u.n == n && u.h == h && u.w == w {
		return
	}
	u.n, u.h, u.w = n, h, w
	for l := range unetLevels {
		u.cat[l] = fit(u.be, u.cat[l], (u.width[l+1]+u.width[l])*u.pixels(l))
		u.pooled[l] = fit(u.be, u.pooled[l], u.width[l]*u.pixels(l+1))
		u.dec[l] = fit(u.be, u.dec[l], u.width[l]*u.pixels(l))
	}
	u.bottom = fit(u.be, u.bottom, u.width[unetLevels]*u.pixels(unetLevels))
	u.logits = fit(u.be, u.logits, u.cfg.OutChannels()*u.pixels(0))
}

// resizeGrads fits the gradient buffers to the last forward's shape, on the first
// backward pass, so a model used only for inference never holds them.
func (u *UNet) resizeGrads() {
	for l := range unetLevels {
		u.dCat[l] = fit(u.be, u.dCat[l], len(u.cat[l]))
		u.dPooled[l] = fit(u.be, u.dPooled[l], len(u.pooled[l]))
		u.dDec[l] = fit(u.be, u.dDec[l], len(u.dec[l]))
	}
	u.dBottom = fit(u.be, u.dBottom, len(u.bottom))
}

// Forward runs the network on x (n samples, channel-major) and returns the logits
// (OutChannels, channel-major), valid until the next Forward.
func (u *UNet) Forward(x []float32, n, h, w int, train bool) ([]float32, error) {
	k := u.SizeMultiple()
	if h%k != 0 || w%k != 0 || h == 0 || w == 0 || n <= 0 {
		return nil, fmt.Errorf("unet: input %dx%d (batch %d): sides must be positive multiples of %d", h, w, n, k)
	}
	if len(x) != n*u.cfg.InChannels*h*w {
		return nil, fmt.Errorf("unet: input has %d values, want %d", len(x), n*u.cfg.InChannels*h*w)
	}
	u.resize(n, h, w)
	in := x
	for l := range unetLevels {
		skip := u.cat[l][u.width[l+1]*u.pixels(l):]
		u.Enc[l].Forward(in, n, h>>l, w>>l, skip, train)
		u.pools[l].Forward(skip, u.width[l]*n, h>>l, w>>l, u.pooled[l])
		in = u.pooled[l]
	}
	u.Enc[unetLevels].Forward(in, n, h>>unetLevels, w>>unetLevels, u.bottom, train)
	prev := u.bottom
	for l := unetLevels - 1; l >= 0; l-- {
		u.ups[l].Forward(prev, u.width[l+1]*n, h>>(l+1), w>>(l+1), u.cat[l])
		u.Dec[l].Forward(u.cat[l], n, h>>l, w>>l, u.dec[l], train)
		prev = u.dec[l]
	}
	u.Head.Forward(u.dec[0], n, h, w, u.logits)
	return u.logits, nil
}

// Backward accumulates parameter gradients from dLogits, the gradient w.r.t. the logits of
// the last (training) Forward. dLogits is left unchanged.
func (u *UNet) Backward(dLogits []float32) {
	u.resizeGrads()
	u.Head.Backward(dLogits, u.dDec[0])
	for l := range unetLevels {
		u.Dec[l].Backward(u.dDec[l], u.dCat[l])
		dPrev := u.dBottom
		if l+1 < unetLevels {
			dPrev = u.dDec[l+1]
		}
		u.ups[l].Backward(u.dCat[l][:u.width[l+1]*u.pixels(l)], dPrev)
	}
	u.Enc[unetLevels].Backward(u.dBottom, u.dPooled[unetLevels-1])
	for l := unetLevels - 1; l >= 0; l-- {
		// The skip's gradient from the decoder is already in dCat; pooling adds its share.
		dSkip := u.dCat[l][u.width[l+1]*u.pixels(l):]
		u.pools[l].Backward(u.dPooled[l], dSkip)
		var dx []float32
		if l > 0 {
			dx = u.dPooled[l-1]
		}
		u.Enc[l].Backward(dSkip, dx)
	}
}
