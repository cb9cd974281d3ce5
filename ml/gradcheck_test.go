package ml

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Finite-difference checks: every layer's backward pass against central differences of
// the scalar objective sum(r * output) with a fixed random r, in float64 accumulation.

func randSlice(rng *rand.Rand, n int, scale float32) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64()) * scale
	}
	return x
}

func dot64(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

// checkGrad compares grad[i] with (f(x+eps) - f(x-eps)) / 2eps for up to `probes` indices of x
// spread over its length; f must read x afresh on every call.
func checkGrad(t *testing.T, what string, x, grad []float32, f func() float64, probes int, eps float32) {
	t.Helper()
	step := max(1, len(x)/probes)
	bad := 0
	for i := 0; i < len(x); i += step {
		orig := x[i]
		x[i] = orig + eps
		fp := f()
		x[i] = orig - eps
		fm := f()
		x[i] = orig
		num := (fp - fm) / (2 * float64(eps))
		ana := float64(grad[i])
		if math.Abs(num-ana) > 5e-3+2e-2*math.Max(math.Abs(num), math.Abs(ana)) {
			if bad < 5 {
				t.Errorf("%s[%d]: backward %g, finite difference %g", what, i, ana, num)
			}
			bad++
		}
	}
}

func TestGradConv2d(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		in, out, k, pad, dil int
		bias                 bool
	}{
		{"3x3 pad 1", 3, 4, 3, 1, 1, true},
		{"3x3 dilation 2", 2, 3, 3, 2, 2, true},
		{"1x1", 3, 2, 1, 0, 1, false},
		{"3x3 valid", 2, 2, 3, 0, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := testRNG()
			be := DefaultBackend
			c := NewConv2d("c", tc.in, tc.out, tc.k, tc.pad, tc.dil, tc.bias, be, NewWorkspace(be), rng)
			n, h, w := 2, 7, 6
			ho, wo := c.OutSize(h, w)
			x := randSlice(rng, tc.in*n*h*w, 1)
			r := randSlice(rng, tc.out*n*ho*wo, 1)
			y := make([]float32, len(r))
			f := func() float64 { c.Forward(x, n, h, w, y); return dot64(y, r) }
			f()
			dx := make([]float32, len(x))
			c.Backward(append([]float32(nil), r...), dx)
			checkGrad(t, "input", x, dx, f, 40, 1e-2)
			checkGrad(t, "weight", c.Weight.Data, c.Weight.Grad, f, 40, 1e-2)
			if tc.bias {
				checkGrad(t, "bias", c.Bias.Data, c.Bias.Grad, f, 10, 1e-2)
			}
		})
	}
}

func TestGradBatchNorm(t *testing.T) {
	for _, fused := range []bool{false, true} {
		name := "plain"
		if fused {
			name = "with fused ReLU and Dropout2d"
		}
		t.Run(name, func(t *testing.T) {
			rng := testRNG()
			be := DefaultBackend
			c, n, hw := 3, 4, 10
			bn := NewBatchNorm2d("bn", c, 0.1, be)
			copy(bn.Weight.Data, randSlice(rng, c, 1))
			copy(bn.Bias.Data, randSlice(rng, c, 1))
			if fused {
				bn.ReLUBefore = true
				bn.Drop = NewDropout2d(0.4, nil, be)
			}
			x := randSlice(rng, c*n*hw, 2)
			r := randSlice(rng, c*n*hw, 1)
			y := make([]float32, len(x))
			work := make([]float32, len(x))
			f := func() float64 {
				if fused {
					bn.Drop.rng = rand.New(rand.NewPCG(7, 7)) // the same channel mask every time
				}
				copy(work, x) // the fused ReLU rectifies its input in place
				bn.Forward(work, n, hw, y, true)
				return dot64(y, r)
			}
			f()
			if fused {
				dropped := 0
				for _, s := range bn.scale {
					if s == 0 {
						dropped++
					}
				}
				if dropped == 0 || dropped == len(bn.scale) {
					t.Fatalf("dropout mask drops %d of %d planes; the check needs some of each", dropped, len(bn.scale))
				}
			}
			g := append([]float32(nil), r...)
			bn.Backward(g)
			checkGrad(t, "input", x, g, f, 60, 1e-2)
			checkGrad(t, "gamma", bn.Weight.Data, bn.Weight.Grad, f, c, 1e-2)
			checkGrad(t, "beta", bn.Bias.Data, bn.Bias.Grad, f, c, 1e-2)
		})
	}
}

func TestGradReLUAndDropout(t *testing.T) {
	rng := testRNG()
	be := DefaultBackend
	x := randSlice(rng, 200, 1)
	r := randSlice(rng, 200, 1)
	y := make([]float32, len(x))
	relu := NewReLU(be)
	f := func() float64 { copy(y, x); relu.Forward(y); return dot64(y, r) }
	f()
	g := append([]float32(nil), r...)
	relu.Backward(y, g)
	checkGrad(t, "relu input", x, g, f, 50, 1e-3)

	d := NewDropout2d(0.5, nil, be)
	c, n, hw := 4, 5, 10
	f = func() float64 {
		d.rng = rand.New(rand.NewPCG(3, 3))
		copy(y, x)
		d.Forward(y, c, n, hw, true)
		return dot64(y, r)
	}
	f()
	g = append(g[:0], r...)
	d.Backward(g, c, n, hw)
	checkGrad(t, "dropout input", x, g, f, 50, 1e-2)
	// Evaluation mode is the identity.
	copy(y, x)
	d.Forward(y, c, n, hw, false)
	assertClose(t, "dropout in eval mode", y, x, 0, 0)
}

func TestGradPoolAndUpsample(t *testing.T) {
	rng := testRNG()
	be := DefaultBackend
	planes, h, w := 3, 6, 8
	x := randSlice(rng, planes*h*w, 1)
	r := randSlice(rng, planes*h*w/4, 1)
	y := make([]float32, len(r))
	p := NewMaxPool2d(be)
	f := func() float64 { p.Forward(x, planes, h, w, y); return dot64(y, r) }
	f()
	dx := make([]float32, len(x))
	p.Backward(r, dx)
	checkGrad(t, "maxpool input", x, dx, f, 60, 1e-3)

	u := NewUpsample2(be)
	r = randSlice(rng, 4*len(x), 1)
	y = make([]float32, len(r))
	f = func() float64 { u.Forward(x, planes, h, w, y); return dot64(y, r) }
	f()
	u.Backward(r, dx)
	checkGrad(t, "upsample input", x, dx, f, 60, 1e-2)
}

func TestGradLosses(t *testing.T) {
	losses := map[string]Loss{"dice": PaperDice(), "dice-perclass": PerClassDice(), "ce": CrossEntropy(), "dice+ce": DiceCE(),
		"dice-perclass with background": {Dice: DicePerClass, DiceWeight: 1, Smooth: 0.001}}
	for name, loss := range losses {
		for _, c := range []int{1, 3} {
			t.Run(name+map[bool]string{true: " sigmoid", false: " softmax"}[c == 1], func(t *testing.T) {
				rng := testRNG()
				be := DefaultBackend
				m := 40
				z := randSlice(rng, c*m, 2)
				masks := make([]uint8, m)
				for i := range masks {
					masks[i] = uint8(rng.IntN(max(c, 2)))
				}
				p := make([]float32, len(z))
				dz := make([]float32, len(z))
				f := func() float64 {
					if c == 1 {
						be.Sigmoid(z, p)
					} else {
						be.SoftmaxChannels(z, p, c, m)
					}
					return loss.Evaluate(z, p, masks, c, m, dz)
				}
				f()
				g := append([]float32(nil), dz...)
				checkGrad(t, "logits", z, g, f, len(z), 1e-2)
			})
		}
	}
}

// TestGradSmallUNet checks the whole network's backward pass, dropout on, through the loss,
// at one entry of every parameter tensor. Tiny inputs make the deepest batch norms
// normalise a handful of mostly-zero ReLU outputs, where the loss is too curved for finite
// differences; the golden weights at 24x24 keep it smooth (and PyTorch agrees on them).
func TestGradSmallUNet(t *testing.T) {
	m := goldenModel(t)
	m.Loss = DiceCE()
	m.Net.SetDropout(0.3)
	net := m.Net.(*SmallUNet)
	n, h, w := 2, 24, 24
	img, mask := syntheticBatch(n, h, w, 0.5)
	dz := make([]float32, 3*n*h*w)
	f := func() float64 {
		for _, b := range net.blocks() { // the same dropout masks on every evaluation
			rng := rand.New(rand.NewPCG(5, 5))
			b.BN1.Drop.rng, b.BN2.Drop.rng = rng, rng
		}
		z, err := m.forward(img, n, h, w, true)
		if err != nil {
			t.Fatal(err)
		}
		return m.Loss.Evaluate(z, m.probs, mask, 3, n*h*w, dz)
	}
	f()
	m.Opt.ZeroGrad()
	m.Net.Backward(dz)
	for _, p := range m.Params() {
		g := append([]float32(nil), p.Grad...)
		checkGrad(t, p.Name, p.Data, g, f, 1, 1e-3)
	}
}
