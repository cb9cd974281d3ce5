package ml

import (
	"math"
	"strings"
	"testing"
)

func TestSmallUNetParameters(t *testing.T) {
	m, err := NewModel("smallunet", DefaultArchConfig(2), PaperDice())
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	names := map[string]bool{}
	for _, p := range append(m.Params(), m.Buffers()...) {
		if names[p.Name] {
			t.Errorf("duplicate name %s", p.Name)
		}
		names[p.Name] = true
		n := 1
		for _, s := range p.Shape {
			n *= s
		}
		if n != len(p.Data) {
			t.Errorf("%s: shape %v but %d values", p.Name, p.Shape, len(p.Data))
		}
		if p.Grad != nil {
			total += n
		}
	}
	// PyTorch's count for this network with 3 output channels (see testdata/torch_smallunet.py).
	if total != 1211907 {
		t.Errorf("%d trainable values, want 1211907", total)
	}
	for _, name := range []string{"conv1.conv1.weight", "conv1.conv1_bn.running_mean", "up3.downconv.conv2_bn.running_var", "conv9.bias"} {
		if !names[name] {
			t.Errorf("missing %s", name)
		}
	}
	// PyTorch's default initialisation bound for the head: 1/sqrt(32*9).
	bound := float32(1 / math.Sqrt(32*9))
	for _, v := range m.Params()[len(m.Params())-2].Data {
		if v < -bound || v > bound {
			t.Fatalf("conv9 weight %g outside the kaiming-uniform bound", v)
		}
	}
}

func TestArchRegistry(t *testing.T) {
	found := false
	for _, a := range Archs() {
		found = found || a == "smallunet"
	}
	if !found {
		t.Errorf("smallunet not registered: %v", Archs())
	}
	if _, err := NewNetwork("nosuchnet", DefaultArchConfig(2), nil); err == nil || !strings.Contains(err.Error(), "smallunet") {
		t.Errorf("unknown architecture: error %v should list the known ones", err)
	}
	bad := DefaultArchConfig(0)
	if _, err := NewNetwork("smallunet", bad, nil); err == nil {
		t.Error("zero classes accepted")
	}
	one, err := NewModel("smallunet", DefaultArchConfig(1), PaperDice())
	if err != nil {
		t.Fatal(err)
	}
	if one.OutChannels() != 1 {
		t.Errorf("one class: %d output channels, want 1 (sigmoid)", one.OutChannels())
	}
}

func TestModelRejectsBadInput(t *testing.T) {
	m, err := NewModel("smallunet", DefaultArchConfig(2), PaperDice())
	if err != nil {
		t.Fatal(err)
	}
	img, mask := syntheticBatch(1, 16, 16, 0)
	for _, tc := range []struct {
		name    string
		img     []float32
		mask    []uint8
		n, h, w int
	}{
		{"side not a multiple of 8", make([]float32, 16*12), make([]uint8, 16*12), 1, 16, 12},
		{"image length", img[:100], mask, 1, 16, 16},
		{"mask length", img, mask[:100], 1, 16, 16},
		{"class out of range", img, append(append([]uint8(nil), mask[:255]...), 3), 1, 16, 16},
	} {
		if _, err := m.Step(tc.img, tc.mask, tc.n, tc.h, tc.w); err == nil {
			t.Errorf("%s: Step accepted it", tc.name)
		}
	}
	if _, err := m.Predict(img, 1, 16, 8); err == nil {
		t.Error("Predict accepted an image of the wrong length")
	}
}

func TestTrainingIsDeterministic(t *testing.T) {
	run := func() ([]float32, []float32) {
		m, err := NewModel("smallunet", DefaultArchConfig(2), PaperDice())
		if err != nil {
			t.Fatal(err)
		}
		img, mask := syntheticBatch(3, 16, 24, 0.1)
		var losses []float32
		for i := 0; i < 3; i++ {
			l, err := m.Step(img, mask, 3, 16, 24)
			if err != nil {
				t.Fatal(err)
			}
			losses = append(losses, l)
		}
		p, err := m.Predict(img, 3, 16, 24)
		if err != nil {
			t.Fatal(err)
		}
		return losses, p
	}
	l1, p1 := run()
	l2, p2 := run()
	assertClose(t, "losses of two runs with one seed", l1, l2, 0, 0)
	assertClose(t, "predictions of two runs with one seed", p1, p2, 0, 0)
}

func TestModesKeepRunningStatistics(t *testing.T) {
	m, err := NewModel("smallunet", DefaultArchConfig(2), PaperDice())
	if err != nil {
		t.Fatal(err)
	}
	img, mask := syntheticBatch(2, 16, 16, 0.2)
	if _, err := m.Step(img, mask, 2, 16, 16); err != nil {
		t.Fatal(err)
	}
	before := append([]float32(nil), m.Buffers()[0].Data...)
	p1, _ := m.Predict(img, 2, 16, 16)
	m.SetEval()
	p2, _ := m.Forward(img, 2, 16, 16)
	assertClose(t, "running mean after evaluation", m.Buffers()[0].Data, before, 0, 0)
	assertClose(t, "Predict and Forward in eval mode", p1, p2, 0, 0)
	m.SetTrain()
	if _, err := m.Forward(img, 2, 16, 16); err != nil {
		t.Fatal(err)
	}
	m.SetEval()
	p3, _ := m.Forward(img, 2, 16, 16)
	if equal := func() bool {
		for i := range p3 {
			if p3[i] != p2[i] {
				return false
			}
		}
		return true
	}(); equal {
		t.Error("a training-mode forward did not update the running statistics")
	}
	for s := 0; s < 2; s++ { // probabilities sum to one per pixel
		for i := 0; i < 256; i++ {
			sum := p3[(s*3)*256+i] + p3[(s*3+1)*256+i] + p3[(s*3+2)*256+i]
			if sum < 0.9999 || sum > 1.0001 {
				t.Fatalf("sample %d pixel %d: probabilities sum to %g", s, i, sum)
			}
		}
	}
}

func TestBuffersReusedAcrossShapes(t *testing.T) {
	m, err := NewModel("smallunet", DefaultArchConfig(2), PaperDice())
	if err != nil {
		t.Fatal(err)
	}
	net := m.Net.(*SmallUNet)
	img, mask := syntheticBatch(2, 16, 16, 0.2)
	m.Step(img, mask, 2, 16, 16)
	first := &net.cat3[0]
	m.Step(img, mask, 2, 16, 16)
	if &net.cat3[0] != first {
		t.Error("activations were reallocated for an unchanged shape")
	}
	allocs := testing.AllocsPerRun(3, func() { m.Step(img, mask, 2, 16, 16) })
	t.Logf("allocations per step: %.0f", allocs)
	small, _ := syntheticBatch(1, 8, 16, 0.2)
	if _, err := m.Predict(small, 1, 8, 16); err != nil {
		t.Fatal(err)
	}
	if &net.cat3[0] != first {
		t.Error("activations reallocated for a smaller batch")
	}
	big, bigMask := syntheticBatch(3, 16, 16, 0.2)
	if _, err := m.Step(big, bigMask, 3, 16, 16); err != nil {
		t.Fatal(err)
	}
	if &net.cat3[0] == first {
		t.Error("activations not grown for a larger batch")
	}
	// Results do not depend on what the buffers held before.
	fresh, err := NewModel("smallunet", DefaultArchConfig(2), PaperDice())
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range m.Params() {
		copy(fresh.Params()[i].Data, p.Data)
	}
	for i, p := range m.Buffers() {
		copy(fresh.Buffers()[i].Data, p.Data)
	}
	want, _ := fresh.Predict(small, 1, 8, 16)
	got, _ := m.Predict(small, 1, 8, 16)
	assertClose(t, "prediction in reused buffers", got, want, 0, 0)
}

func TestSetLearningRate(t *testing.T) {
	m, err := NewModel("smallunet", DefaultArchConfig(2), PaperDice())
	if err != nil {
		t.Fatal(err)
	}
	if m.LearningRate() != 0.001 {
		t.Errorf("default learning rate %g, want 0.001", m.LearningRate())
	}
	m.SetLearningRate(0)
	img, mask := syntheticBatch(1, 8, 8, 0)
	w := append([]float32(nil), m.Params()[0].Data...)
	if _, err := m.Step(img, mask, 1, 8, 8); err != nil {
		t.Fatal(err)
	}
	assertClose(t, "weights after a step at learning rate 0", m.Params()[0].Data, w, 0, 0)
}

func TestPredictMC(t *testing.T) {
	m, err := NewModel("smallunet", DefaultArchConfig(2), PaperDice())
	if err != nil {
		t.Fatal(err)
	}
	img, mask := syntheticBatch(2, 16, 16, 0.4)
	for i := 0; i < 3; i++ {
		if _, err := m.Step(img, mask, 2, 16, 16); err != nil {
			t.Fatal(err)
		}
	}
	stats := append([]float32(nil), m.Buffers()[0].Data...)
	plain, _ := m.Predict(img, 2, 16, 16)
	a, err := m.PredictMC(img, 2, 16, 16)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := m.PredictMC(img, 2, 16, 16)
	differ := func(x, y []float32) bool {
		for i := range x {
			if x[i] != y[i] {
				return true
			}
		}
		return false
	}
	if !differ(a, b) || !differ(a, plain) {
		t.Error("Monte-Carlo passes should draw different dropout masks")
	}
	assertClose(t, "running statistics after Monte-Carlo passes", m.Buffers()[0].Data, stats, 0, 0)
	again, _ := m.Predict(img, 2, 16, 16)
	assertClose(t, "Predict after Monte-Carlo passes", again, plain, 0, 0)
}
