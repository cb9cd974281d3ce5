package train

import (
	"testing"
)

// BenchmarkPredictVolume times inference on the 20 whole 256x192 slices of the gm-challenge volume, in one pass
// per slice (padded to a multiple of 8) or tiled with the default 64x64 training crop, and with 10 Monte-Carlo
// dropout passes.
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
		{"tiled64", PredictOptions{Tiled: true}},
		{"full-mc10", PredictOptions{MCPasses: 10}},
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
