package ml

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// trainSteps runs steps training iterations and returns the first and the last loss.
func trainSteps(t *testing.T, m *Model, img []float32, mask []uint8, n, h, w, steps int) (first, last float32) {
	t.Helper()
	for i := 0; i < steps; i++ {
		loss, err := m.Step(img, mask, n, h, w)
		if err != nil {
			t.Fatal(err)
		}
		if math.IsNaN(float64(loss)) {
			t.Fatalf("step %d: loss is NaN", i)
		}
		if i == 0 {
			first = loss
		}
		last = loss
	}
	return first, last
}

// foregroundDice is the hard Dice of class k between argmax predictions and the mask.
func foregroundDice(probs []float32, mask []uint8, c, k, n, hw int) float64 {
	var inter, pred, truth float64
	for s := 0; s < n; s++ {
		for i := 0; i < hw; i++ {
			best := 0
			for ch := 1; ch < c; ch++ {
				if probs[(s*c+ch)*hw+i] > probs[(s*c+best)*hw+i] {
					best = ch
				}
			}
			p, g := best == k, int(mask[s*hw+i]) == k
			if p {
				pred++
			}
			if g {
				truth++
			}
			if p && g {
				inter++
			}
		}
	}
	return 2 * inter / math.Max(pred+truth, 1)
}

func TestLossFallsOnSyntheticTask(t *testing.T) {
	const n, h, w = 4, 24, 24
	m, err := NewModel("smallunet", DefaultArchConfig(2), PaperDice())
	if err != nil {
		t.Fatal(err)
	}
	img, mask := syntheticBatch(n, h, w, 0.3)
	first, last := trainSteps(t, m, img, mask, n, h, w, 30)
	t.Logf("paper Dice loss: %.4f -> %.4f after 30 steps", first, last)
	if last > first-0.2 {
		t.Errorf("loss went from %.4f to %.4f: it should fall by at least 0.2", first, last)
	}
	probs, err := m.Predict(img, n, h, w)
	if err != nil {
		t.Fatal(err)
	}
	for k := 1; k <= 2; k++ {
		if d := foregroundDice(probs, mask, 3, k, n, h*w); d < 0.7 {
			t.Errorf("class %d: Dice %.3f in evaluation mode after training, want at least 0.7", k, d)
		}
	}
}

func TestLossFallsOnSyntheticTaskOneClass(t *testing.T) {
	const n, h, w = 4, 16, 16
	m, err := NewModel("smallunet", DefaultArchConfig(1), DiceCE())
	if err != nil {
		t.Fatal(err)
	}
	img, mask := syntheticBatch(n, h, w, 0.7)
	for i := range mask {
		mask[i] = min(mask[i], 1)
	}
	first, last := trainSteps(t, m, img, mask, n, h, w, 30)
	t.Logf("Dice+BCE loss with a sigmoid head: %.4f -> %.4f", first, last)
	if last > first-0.3 {
		t.Errorf("loss went from %.4f to %.4f: it should fall by at least 0.3", first, last)
	}
}

// readSliceFixture loads the real T2* slice that testdata/gen_slice.py exported.
func readSliceFixture(t *testing.T) ([]float32, []uint8, int) {
	const size = 48
	raw, err := os.ReadFile(filepath.Join("testdata", "slice_t2s_48x48.f32"))
	if err != nil {
		t.Fatalf("real slice fixture: %v (regenerate with `make golden`)", err)
	}
	mask, err := os.ReadFile(filepath.Join("testdata", "slice_t2s_48x48.u8"))
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != 4*size*size || len(mask) != size*size {
		t.Fatalf("fixture sizes %d and %d, want %d and %d", len(raw), len(mask), 4*size*size, size*size)
	}
	img := make([]float32, size*size)
	for i := range img {
		img[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return img, mask, size
}

// TestLossFallsOnRealSlice trains on one real T2* slice of the cervical cord with its white
// and grey matter masks (a batch of the slice and its mirror image).
func TestLossFallsOnRealSlice(t *testing.T) {
	img1, mask1, s := readSliceFixture(t)
	img, mask := make([]float32, 2*s*s), make([]uint8, 2*s*s)
	copy(img, img1)
	copy(mask, mask1)
	for y := 0; y < s; y++ {
		for x := 0; x < s; x++ {
			img[s*s+y*s+x], mask[s*s+y*s+x] = img1[y*s+s-1-x], mask1[y*s+s-1-x]
		}
	}
	m, err := NewModel("smallunet", DefaultArchConfig(2), DiceCE())
	if err != nil {
		t.Fatal(err)
	}
	first, last := trainSteps(t, m, img, mask, 2, s, s, 60)
	probs, err := m.Predict(img, 2, s, s)
	if err != nil {
		t.Fatal(err)
	}
	wm, gm := foregroundDice(probs, mask, 3, 1, 2, s*s), foregroundDice(probs, mask, 3, 2, 2, s*s)
	t.Logf("Dice+CE loss %.4f -> %.4f in 60 steps; training-slice Dice WM %.3f GM %.3f", first, last, wm, gm)
	if last > first-0.5 {
		t.Errorf("loss went from %.4f to %.4f: it should fall by at least 0.5", first, last)
	}
	if wm < 0.5 {
		t.Errorf("white matter Dice %.3f on the training slice, want at least 0.5", wm)
	}
}
