package ml

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

var goldenArchsCache map[string]json.RawMessage

// goldenArchs decodes case name of testdata/golden_archs.json (written by
// testdata/gen_archs.py) into v.
func goldenArchs(t *testing.T, name string, v any) {
	t.Helper()
	if goldenArchsCache == nil {
		b, err := os.ReadFile(filepath.Join("testdata", "golden_archs.json"))
		if err != nil {
			t.Fatalf("golden fixtures: %v (regenerate with /usr/bin/python3 testdata/gen_archs.py)", err)
		}
		if err := json.Unmarshal(b, &goldenArchsCache); err != nil {
			t.Fatal(err)
		}
	}
	raw, ok := goldenArchsCache[name]
	if !ok {
		t.Fatalf("golden case %q missing (regenerate with /usr/bin/python3 testdata/gen_archs.py)", name)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("golden case %q: %v", name, err)
	}
}

func TestGoldenMaxPoolIndicesAndUnpool(t *testing.T) {
	var g struct {
		Shape          []int
		X, U, Y, R, Du []float32
		Indices        []int
	}
	goldenArchs(t, "unpool", &g)
	n, c, h, w := g.Shape[0], g.Shape[1], g.Shape[2], g.Shape[3]
	be := DefaultBackend
	pool := NewMaxPool2d(be)
	pooled := make([]float32, len(g.X)/4)
	pool.Forward(toCN(g.X, n, c, h*w), c*n, h, w, pooled)
	idx := pool.Indices()
	got := make([]float32, len(idx))
	want := make([]float32, len(idx))
	for i := range idx {
		got[i] = float32(idx[i])
	}
	transposeCN(got, want, c, n, h*w/4) // channel-major to PyTorch's order
	for i := range want {
		if int(want[i]) != g.Indices[i] {
			t.Fatalf("index %d: %v, PyTorch %d", i, want[i], g.Indices[i])
		}
	}
	un := NewMaxUnpool2d(pool, be)
	y := make([]float32, len(g.X))
	un.Forward(toCN(g.U, n, c, h*w/4), y)
	assertClose(t, "unpool forward", toNC(y, c, n, h*w), g.Y, 0, 0)
	du := make([]float32, len(g.U))
	un.Backward(toCN(g.R, n, c, h*w), du)
	assertClose(t, "unpool gradient", toNC(du, c, n, h*w/4), g.Du, 0, 0)
}

func TestGoldenGlobalAvgPool(t *testing.T) {
	var g struct {
		Shape           []int
		X, Means, R, Dx []float32
	}
	goldenArchs(t, "gap", &g)
	n, c, hw := g.Shape[0], g.Shape[1], g.Shape[2]*g.Shape[3]
	be := DefaultBackend
	gap, bc := NewGlobalAvgPool2d(be), NewBroadcastPlanes(be)
	means := make([]float32, c*n)
	gap.Forward(toCN(g.X, n, c, hw), c*n, hw, means)
	assertClose(t, "means", toNC(means, c, n, 1), g.Means, 1e-6, 1e-5)
	y := make([]float32, len(g.X))
	bc.Forward(means, c*n, hw, y)
	dMeans := make([]float32, c*n)
	bc.Backward(toCN(g.R, n, c, hw), dMeans)
	dx := make([]float32, len(g.X))
	gap.Backward(dMeans, dx)
	assertClose(t, "gradient", toNC(dx, c, n, hw), g.Dx, 1e-6, 1e-5)
}

type archGolden struct {
	X       []float32
	Mask    []uint8
	Shape   []int
	PEval   []float32            `json:"p_eval"`
	PTrain  []float32            `json:"p_train"`
	Loss    float32              `json:"loss"`
	Grad    map[string][]float32 `json:"grad"`
	Names   []string             `json:"names"`
	Trained int                  `json:"trainable"`
}

// detModel builds arch with the golden fixtures' deterministic weights and no dropout;
// width 0 is the paper's.
func detModel(t *testing.T, arch string, width int) *Model {
	t.Helper()
	cfg := DefaultArchConfig(2)
	cfg.DropRate, cfg.Width = 0, width
	m, err := NewModel(arch, cfg, PaperDice())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range append(m.Params(), m.Buffers()...) {
		detFill(p)
	}
	return m
}

var newArchs = []string{"unet", "segnet", "nopoolaspp"}

func TestGoldenArchs(t *testing.T) {
	for _, arch := range newArchs {
		t.Run(arch, func(t *testing.T) {
			var g archGolden
			goldenArchs(t, arch, &g)
			n, h, w := g.Shape[0], g.Shape[2], g.Shape[3]
			m := detModel(t, arch, 0)
			var names []string
			trainable := 0
			for _, p := range m.Params() {
				names = append(names, p.Name)
				trainable += p.Numel()
			}
			for _, p := range m.Buffers() {
				names = append(names, p.Name)
			}
			slices.Sort(names)
			want := slices.Sorted(slices.Values(g.Names))
			if !slices.Equal(names, want) {
				t.Fatalf("tensor names differ from PyTorch's state_dict:\n go %v\n pt %v", names, want)
			}
			if trainable != g.Trained {
				t.Errorf("%d trainable values, PyTorch has %d", trainable, g.Trained)
			}
			m.SetEval()
			p, err := m.Forward(g.X, n, h, w)
			if err != nil {
				t.Fatal(err)
			}
			assertClose(t, "eval-mode probabilities", p, g.PEval, 1e-4, 0)
			m.SetTrain()
			if p, err = m.Forward(g.X, n, h, w); err != nil {
				t.Fatal(err)
			}
			assertClose(t, "train-mode probabilities", p, g.PTrain, 1e-4, 0)

			// Backward at width 8, against PyTorch's gradients.
			small := detModel(t, arch, 8)
			loss, err := small.Step(g.X, g.Mask, n, h, w)
			if err != nil {
				t.Fatal(err)
			}
			assertClose(t, "loss", []float32{loss}, []float32{g.Loss}, 1e-5, 1e-5)
			for _, p := range small.Params() {
				want, ok := g.Grad[p.Name]
				if !ok {
					t.Errorf("%s: not in the PyTorch model", p.Name)
					continue
				}
				assertClose(t, p.Name+" gradient", sample(p.Grad), want, 1e-6, 1e-3)
			}
		})
	}
}

func TestArchsRegisteredWithSizeRules(t *testing.T) {
	for arch, multiple := range map[string]int{"unet": 16, "segnet": 32, "nopoolaspp": 1} {
		if !slices.Contains(Archs(), arch) {
			t.Errorf("%s not registered: %v", arch, Archs())
			continue
		}
		cfg := DefaultArchConfig(2)
		cfg.Width = 4
		net, err := NewNetwork(arch, cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if net.SizeMultiple() != multiple {
			t.Errorf("%s: size multiple %d, want %d", arch, net.SizeMultiple(), multiple)
		}
		if multiple > 1 {
			if _, err := net.Forward(make([]float32, multiple*multiple*2), 1, multiple, 2*multiple-multiple/2, false); err == nil {
				t.Errorf("%s: accepted a side that is not a multiple of %d", arch, multiple)
			}
		}
		cfg.Width = -1
		if _, err := NewNetwork(arch, cfg, nil); err == nil {
			t.Errorf("%s: negative width accepted", arch)
		}
	}
	// NoPoolASPP takes any size.
	cfg := DefaultArchConfig(1)
	cfg.Width = 4
	m, err := NewModel("nopoolaspp", cfg, PaperDice())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Predict(make([]float32, 2*13*11), 2, 13, 11); err != nil {
		t.Errorf("nopoolaspp on 13x11: %v", err)
	}
}

func TestArchsLossFallsOnSyntheticTask(t *testing.T) {
	for _, tc := range []struct {
		arch               string
		width, size, steps int
	}{
		{"unet", 8, 32, 25}, {"segnet", 8, 32, 25},
		// With eight channels, dropping 30% of them everywhere leaves NoPoolASPP too little to learn from quickly.
		{"nopoolaspp", 16, 16, 30},
	} {
		t.Run(tc.arch, func(t *testing.T) {
			cfg := DefaultArchConfig(2)
			cfg.Width = tc.width
			m, err := NewModel(tc.arch, cfg, DiceCE())
			if err != nil {
				t.Fatal(err)
			}
			const n = 4
			img, mask := syntheticBatch(n, tc.size, tc.size, 0.3)
			first, last := trainSteps(t, m, img, mask, n, tc.size, tc.size, tc.steps)
			t.Logf("Dice+CE loss: %.4f -> %.4f after %d steps", first, last, tc.steps)
			if last > first-0.3 {
				t.Errorf("loss went from %.4f to %.4f: it should fall by at least 0.3", first, last)
			}
		})
	}
}

// Finite-difference checks of the new layers (see gradcheck_test.go).

func TestGradMaxUnpoolAndPoolSet(t *testing.T) {
	rng := testRNG()
	be := DefaultBackend
	planes, h, w := 3, 6, 8
	x := randSlice(rng, planes*h*w, 1)
	pooled := make([]float32, len(x)/4)
	pool := NewMaxPool2d(be)
	pool.Forward(x, planes, h, w, pooled)
	// Unpooling is linear in its input for fixed indices.
	un := NewMaxUnpool2d(pool, be)
	u := randSlice(rng, len(pooled), 1)
	r := randSlice(rng, len(x), 1)
	y := make([]float32, len(x))
	f := func() float64 { un.Forward(u, y); return dot64(y, r) }
	f()
	du := make([]float32, len(u))
	un.Backward(r, du)
	checkGrad(t, "unpool input", u, du, f, len(u), 1e-2)

	// BackwardSet sets what Backward adds.
	r = randSlice(rng, len(pooled), 1)
	f = func() float64 { pool.Forward(x, planes, h, w, pooled); return dot64(pooled, r) }
	f()
	dx := randSlice(rng, len(x), 1) // stale contents must be overwritten
	pool.BackwardSet(r, dx)
	checkGrad(t, "maxpool input (set)", x, dx, f, 60, 1e-3)
}

func TestGradGlobalAvgPoolBroadcast(t *testing.T) {
	rng := testRNG()
	be := DefaultBackend
	planes, hw := 4, 15
	x := randSlice(rng, planes*hw, 1)
	r := randSlice(rng, planes*hw, 1)
	gap, bc := NewGlobalAvgPool2d(be), NewBroadcastPlanes(be)
	means := make([]float32, planes)
	y := make([]float32, len(x))
	f := func() float64 {
		gap.Forward(x, planes, hw, means)
		bc.Forward(means, planes, hw, y)
		return dot64(y, r)
	}
	f()
	dMeans := make([]float32, planes)
	bc.Backward(r, dMeans)
	dx := make([]float32, len(x))
	for i := range dx {
		dx[i] = 1 // Backward accumulates onto what is there
	}
	gap.Backward(dMeans, dx)
	for i := range dx {
		dx[i]--
	}
	checkGrad(t, "input", x, dx, f, len(x), 1e-2)
}

func TestGradConvUnits(t *testing.T) {
	for _, tc := range []struct {
		name      string
		k, dil    int
		reluAfter bool
	}{
		{"conv-ReLU-BN-dropout, dilation 6", 3, 6, false},
		{"conv-BN-dropout-ReLU (SegNet)", 3, 1, true},
		{"1x1", 1, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := testRNG()
			be := DefaultBackend
			cfg := DefaultArchConfig(2)
			cfg.DropRate = 0.3
			u := newConvUnit("c", "c_bn", 2, 3, tc.k, tc.dil*(tc.k-1)/2, tc.dil, tc.reluAfter, cfg, be, NewWorkspace(be), rng, nil)
			n, h, w := 2, 14, 13 // wide enough for dilation 6 to reach most taps
			// Batch norm divides by the spread of the convolution's output, so the objective's
			// curvature in the weights grows as they shrink: unit-scale weights keep central
			// differences accurate (PyTorch's initial ones need steps too small for float32).
			copy(u.Conv.Weight.Data, randSlice(rng, len(u.Conv.Weight.Data), 1))
			x := randSlice(rng, 2*n*h*w, 1)
			r := randSlice(rng, 3*n*h*w, 1)
			y := make([]float32, len(r))
			f := func() float64 {
				u.BN.Drop.rng = rand.New(rand.NewPCG(9, 9)) // the same mask every time
				u.Forward(x, n, h, w, y, true)
				return dot64(y, r)
			}
			f()
			dx := make([]float32, len(x))
			u.Backward(append([]float32(nil), r...), dx)
			checkGradSteps(t, "input", x, dx, f, 40)
			checkGradSteps(t, "weight", u.Conv.Weight.Data, u.Conv.Weight.Grad, f, 20)
			checkGradSteps(t, "gamma", u.BN.Weight.Data, u.BN.Weight.Grad, f, 3)
		})
	}
}

// checkGradSteps is checkGrad for objectives with kinks (ReLU) and strong curvature (batch
// norm in the weights): a probe passes when the central difference at any of several step
// sizes agrees. Large steps cross kinks and feel curvature; small ones drown in float32
// rounding; one that fits each probe exists where the backward pass is right, while a
// wrong gradient disagrees at every step.
func checkGradSteps(t *testing.T, what string, x, grad []float32, f func() float64, probes int) {
	t.Helper()
	central := func(i int, e float32) float64 {
		orig := x[i]
		x[i] = orig + e
		fp := f()
		x[i] = orig - e
		fm := f()
		x[i] = orig
		return (fp - fm) / (2 * float64(e))
	}
	step := max(1, len(x)/probes)
	bad := 0
	for i := 0; i < len(x); i += step {
		ana := float64(grad[i])
		closest := math.Inf(1)
		for _, eps := range []float32{2e-3, 5e-4, 1.25e-4} {
			num := central(i, eps)
			if math.Abs(num-ana) < math.Abs(closest-ana) {
				closest = num
			}
		}
		if math.Abs(closest-ana) > 5e-3+2e-2*math.Max(math.Abs(closest), math.Abs(ana)) {
			if bad < 5 {
				t.Errorf("%s[%d]: backward %g, closest finite difference %g", what, i, ana, closest)
			}
			bad++
		}
	}
}

// TestArchsShapesAndModes runs each architecture through the Model paths a trainer uses:
// training steps at one size, inference at another and back (buffers are reused, so a
// stale size would show), and Monte-Carlo dropout, which must vary between calls while
// plain prediction does not.
func TestArchsShapesAndModes(t *testing.T) {
	for _, arch := range newArchs {
		t.Run(arch, func(t *testing.T) {
			cfg := DefaultArchConfig(2)
			cfg.Width = 4
			m, err := NewModel(arch, cfg, DiceCE())
			if err != nil {
				t.Fatal(err)
			}
			img, mask := syntheticBatch(3, 64, 32, 0.4)
			if _, err := m.Step(img, mask, 3, 64, 32); err != nil {
				t.Fatal(err)
			}
			small, smallMask := syntheticBatch(2, 32, 32, 0.9)
			if _, err := m.Step(small, smallMask, 2, 32, 32); err != nil {
				t.Fatal(err)
			}
			first, err := m.Predict(small, 2, 32, 32)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.Predict(img, 3, 64, 32); err != nil {
				t.Fatal(err)
			}
			again, err := m.Predict(small, 2, 32, 32)
			if err != nil {
				t.Fatal(err)
			}
			assertClose(t, "prediction after another size", again, first, 0, 0)
			mc1, err := m.PredictMC(small, 2, 32, 32)
			if err != nil {
				t.Fatal(err)
			}
			mc2, err := m.PredictMC(small, 2, 32, 32)
			if err != nil {
				t.Fatal(err)
			}
			if slices.Equal(mc1, mc2) {
				t.Error("Monte-Carlo dropout gave the same probabilities twice")
			}
			if plain, _ := m.Predict(small, 2, 32, 32); !slices.Equal(plain, first) {
				t.Error("Monte-Carlo dropout left dropout on for plain prediction")
			}
		})
	}
}

// BenchmarkArchTrainStep compares one training iteration of every architecture at the
// paper's widths on a batch of 4 slices of 96x96 (a multiple of SegNet's 32).
func BenchmarkArchTrainStep(b *testing.B) {
	const n, h, w = 4, 96, 96
	for _, arch := range append([]string{"smallunet"}, newArchs...) {
		b.Run(arch, func(b *testing.B) {
			m, err := NewModel(arch, DefaultArchConfig(2), PaperDice())
			if err != nil {
				b.Fatal(err)
			}
			img, mask := syntheticBatch(n, h, w, 1)
			if _, err := m.Step(img, mask, n, h, w); err != nil { // allocate outside the timing
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := m.Step(img, mask, n, h, w); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/iter")
		})
	}
}
