package train

import (
	"testing"
)

// BenchmarkPredictVolume times inference on the 20 whole 256x192 slices of the gm-challenge volume, in one pass
// per slice (padded to a multiple of 8) or tiled with the default 48x48 training crop (overlap 12), and with 4
// Monte-Carlo dropout passes.
func BenchmarkPredictVolume(b *testing.B) {
	fx := loadFixture(b)
	m, err := NewModel(DefaultSettings(2))
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		o    PredictOptions
	}{
		{"full", PredictOptions{}},
		{"full-batch1", PredictOptions{BatchSize: 1}},
		{"tiled48", PredictOptions{Tiled: true}},
		{"full-mc4", PredictOptions{MCPasses: 4}},
	} {
		b.Run(c.name, func(b *testing.B) {
			if _, err := m.PredictSlices(fx.Samples, c.o); err != nil { // buffers allocated outside the timing
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				if _, err := m.PredictSlices(fx.Samples, c.o); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/volume")
		})
	}
}
