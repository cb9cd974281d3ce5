package data

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchSlices are 11 slices of 256x192, the gm-challenge volume's in-plane size: the phantom plus noise.
func benchSlices() []Sample {
	r := rand.New(rand.NewPCG(31, 32))
	out := make([]Sample, 11)
	for i := range out {
		s := phantom(fmt.Sprintf("b%d", i), 256, 192)
		for j := range s.Image {
			s.Image[j] += float32(r.NormFloat64() * 20)
		}
		out[i] = s
	}
	return out
}

// reportStepShare adds the batch's cost as a share of a 4 s training step (SmallUNet, batch 11, 160x160 on a
// 2-core CPU: 4.8 s in PyTorch 1.13 per DESIGN.md).
func reportStepShare(b *testing.B) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/4e9*100, "%of4s-step")
}

// BenchmarkAugmentBatch: one batch of 11 crops of 160x160 from 256x192 slices with every augmentation applied to
// every sample (flip and elastic at rate 1 rather than 0.5 and 0.3: the worst case), on one goroutine.
func BenchmarkAugmentBatch(b *testing.B) {
	samples := benchSlices()
	stats := make([]Stats, len(samples))
	for i, s := range samples {
		stats[i] = SliceStats(s.Image)
	}
	cfg := DefaultAugment()
	cfg.FlipProb, cfg.ElasticProb = 1, 1
	const cw, ch = 160, 160
	img, mask := make([]float32, 11*cw*ch), make([]uint8, 11*cw*ch)
	aug := NewAugmenter()
	r := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	for b.Loop() {
		for i, s := range samples {
			p := cfg.Draw(r)
			origin := RandomOrigin(r, s.W, s.H, cw, ch)
			aug.Apply(img[i*cw*ch:(i+1)*cw*ch], mask[i*cw*ch:(i+1)*cw*ch], s, origin, cw, ch, stats[i], p)
		}
	}
	reportStepShare(b)
}

// BenchmarkLoaderNext: batches of 11 through the Loader with the default rates, as the trainer receives them when
// it does nothing else (the producer then runs flat out; in training it works while the step runs).
func BenchmarkLoaderNext(b *testing.B) {
	cfg := LoaderConfig{BatchSize: 11, CropW: 160, CropH: 160, Placement: PlaceRandom, Augment: DefaultAugment(),
		Seed: 1, Shuffle: true}
	l, err := NewLoader(context.Background(), benchSlices(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Next(ctx); err != nil {
			b.Fatal(err)
		}
	}
	reportStepShare(b)
}
