package data_test

import (
	"context"
	"fmt"

	"github.com/mriworkbench/workbench/ml/data"
)

func demoSlices(n, w, h int) []data.Sample {
	out := make([]data.Sample, n)
	for i := range out {
		s := data.Sample{Image: make([]float32, w*h), Mask: make([]uint8, w*h), W: w, H: h,
			Spacing: [2]float64{0.78, 0.78}, Key: fmt.Sprintf("vol0/slice%d", i)}
		for j := range s.Image {
			s.Image[j] = float32(j % 97)
			if j%w > w/3 && j%w < w/2 {
				s.Mask[j] = 1
			}
		}
		out[i] = s
	}
	return out
}

// Training: split the labelled slices, then feed augmented batches while the model trains.
func ExampleLoader() {
	train, val, _, err := data.Split(demoSlices(10, 256, 192), 1, data.DefaultFractions)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	loader, err := data.NewLoader(ctx, train, data.LoaderConfig{
		BatchSize: 11, CropW: 160, CropH: 160, Placement: data.PlaceRandom,
		Augment: data.DefaultAugment(), Seed: 1, Shuffle: true, FullBatches: true,
	})
	if err != nil {
		panic(err)
	}
	defer loader.Close()
	for range 2 {
		b, err := loader.Next(ctx) // valid until the next call; the following batch is being prepared meanwhile
		if err != nil {
			panic(err)
		}
		fmt.Println(b.N, len(b.Images), len(b.Masks), b.Epoch)
	}
	fmt.Println(len(train), len(val))
	// Output:
	// 11 281600 281600 0
	// 11 281600 281600 1
	// 7 2
}

// Inference: cover a whole slice with overlapping crops and average the network's probabilities.
func ExampleTiles() {
	s := demoSlices(1, 256, 192)[0]
	const crop, classes = 160, 3
	st := data.Normalization{}.For(s.Image)
	stitch := data.NewStitcher(s.W, s.H, classes)
	input := make([]float32, crop*crop)
	probs := make([]float32, classes*crop*crop)
	tiles := data.Tiles(s.W, s.H, crop, crop, 32)
	for _, origin := range tiles {
		data.CropInto(input, nil, s, origin, crop, crop, st)
		for i := range probs { // the network's softmax output would go here
			probs[i] = 1.0 / classes
		}
		if err := stitch.Add(origin, crop, crop, probs); err != nil {
			panic(err)
		}
	}
	fmt.Println(tiles, stitch.Covered(), len(stitch.ClassMap(nil)))
	// Output: [{0 0} {96 0} {0 32} {96 32}] true 49152
}
