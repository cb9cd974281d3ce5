package train

import (
	"testing"
	"time"

	"github.com/mriworkbench/workbench/ml"
)

func TestZZScratch(t *testing.T) {
	for _, c := range []struct{ n, s int }{{11, 64}, {11, 96}, {4, 96}, {8, 64}, {11, 160}, {1, 256}} {
		m, _ := ml.NewModel("smallunet", ml.DefaultArchConfig(2), ml.PaperDice())
		img := make([]float32, c.n*c.s*c.s)
		for i := range img {
			img[i] = float32(i%7) * 0.1
		}
		mask := make([]uint8, c.n*c.s*c.s)
		start := time.Now()
		m.Step(img, mask, c.n, c.s, c.s)
		first := time.Since(start)
		start = time.Now()
		for range 3 {
			m.Step(img, mask, c.n, c.s, c.s)
		}
		st := time.Since(start) / 3
		start = time.Now()
		m.Predict(img[:c.s*c.s], 1, c.s, c.s)
		t.Logf("n=%d s=%d first %v step %v predict1 %v", c.n, c.s, first, st, time.Since(start))
	}
}
