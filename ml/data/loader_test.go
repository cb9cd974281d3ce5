package data

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"testing/synctest"
)

func trainingSet(n int) []Sample {
	r := rand.New(rand.NewPCG(21, 22))
	out := make([]Sample, n)
	for i := range out {
		out[i] = randomSample(r, fmt.Sprintf("vol%d/slice%d", i/4, i), 48+i%3, 40+i%5, 2)
	}
	return out
}

func trainConfig(seed uint64) LoaderConfig {
	return LoaderConfig{BatchSize: 4, CropW: 32, CropH: 32, Placement: PlaceRandom, Augment: DefaultAugment(),
		Seed: seed, Shuffle: true}
}

// drain copies the first n batches out of a loader.
func drain(t *testing.T, samples []Sample, cfg LoaderConfig, n int) []Batch {
	t.Helper()
	l, err := NewLoader(context.Background(), samples, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var out []Batch
	for range n {
		b, err := l.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		b.Images, b.Masks, b.Keys = slices.Clone(b.Images), slices.Clone(b.Masks), slices.Clone(b.Keys)
		out = append(out, b)
	}
	return out
}

func sameBatches(a, b []Batch) bool {
	for i := range a {
		if !slices.Equal(a[i].Images, b[i].Images) || !slices.Equal(a[i].Masks, b[i].Masks) || !slices.Equal(a[i].Keys, b[i].Keys) {
			return false
		}
	}
	return true
}

// The same seed gives the same batches, whatever the number of workers; another seed gives others.
func TestLoaderDeterministic(t *testing.T) {
	samples := trainingSet(10)
	a := drain(t, samples, trainConfig(1), 9)
	cfg := trainConfig(1)
	cfg.Workers = 3
	b := drain(t, samples, cfg, 9)
	if !sameBatches(a, b) {
		t.Fatal("same seed, different batches (1 vs 3 workers)")
	}
	if c := drain(t, samples, trainConfig(2), 9); sameBatches(a, c) {
		t.Fatal("another seed gave the same batches")
	}
	fg := trainConfig(1)
	fg.Placement = PlaceForeground
	one, two := drain(t, samples, fg, 5), drain(t, samples, fg, 5)
	if !sameBatches(one, two) || sameBatches(one, a[:5]) {
		t.Fatal("foreground placement: not reproducible, or no different from random placement")
	}
}

// Each epoch visits every sample once, in a new order; short last batches, Last flags and io.EOF.
func TestLoaderEpochs(t *testing.T) {
	samples := trainingSet(10)
	cfg := trainConfig(3)
	cfg.Epochs = 3
	l, err := NewLoader(context.Background(), samples, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var orders [][]string
	for epoch := range 3 {
		var keys []string
		for i, want := range []int{4, 4, 2} {
			b, err := l.Next(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if b.N != want || len(b.Images) != want*32*32 || len(b.Masks) != want*32*32 || b.Epoch != epoch || b.Index != i || b.Last != (i == 2) {
				t.Fatalf("epoch %d batch %d: N %d epoch %d index %d last %v", epoch, i, b.N, b.Epoch, b.Index, b.Last)
			}
			keys = append(keys, b.Keys...)
		}
		sorted := slices.Sorted(slices.Values(keys))
		if len(slices.Compact(sorted)) != len(samples) {
			t.Fatalf("epoch %d visited %v", epoch, keys)
		}
		orders = append(orders, keys)
	}
	if slices.Equal(orders[0], orders[1]) && slices.Equal(orders[1], orders[2]) {
		t.Fatal("shuffling gave the same order every epoch")
	}
	if _, err := l.Next(context.Background()); err != io.EOF {
		t.Fatalf("after the last epoch: %v, want io.EOF", err)
	}
}

func TestLoaderFullBatches(t *testing.T) {
	cfg := trainConfig(4)
	cfg.FullBatches, cfg.BatchSize = true, 11
	for _, b := range drain(t, trainingSet(7), cfg, 3) {
		if b.N != 11 || len(b.Keys) != 11 || !b.Last {
			t.Fatalf("batch N %d last %v, want 11 samples per one-batch epoch", b.N, b.Last)
		}
	}
}

// Without augmentation a batch is exactly the centre crops, normalised per slice, in the samples' order.
func TestLoaderValidationBatches(t *testing.T) {
	samples := trainingSet(5)
	cfg := LoaderConfig{BatchSize: 2, CropW: 32, CropH: 32, Epochs: 1}
	got := drain(t, samples, cfg, 3)
	plane := 32 * 32
	img, mask := make([]float32, plane), make([]uint8, plane)
	k := 0
	for _, b := range got {
		for j := range b.N {
			s := samples[k]
			CropInto(img, mask, s, CenterOrigin(s.W, s.H, 32, 32), 32, 32, SliceStats(s.Image))
			if b.Keys[j] != s.Key || !slices.Equal(b.Images[j*plane:(j+1)*plane], img) || !slices.Equal(b.Masks[j*plane:(j+1)*plane], mask) {
				t.Fatalf("batch sample %d (%s) differs from the centre crop of %s", k, b.Keys[j], s.Key)
			}
			k++
		}
	}
}

func TestLoaderRejectsBadInput(t *testing.T) {
	ctx := context.Background()
	good := trainingSet(2)
	unlabelled := slices.Clone(good)
	unlabelled[1].Mask = nil
	for name, tc := range map[string]struct {
		samples []Sample
		cfg     LoaderConfig
	}{
		"no samples": {nil, trainConfig(1)},
		"unlabelled": {unlabelled, trainConfig(1)},
		"batch 0":    {good, LoaderConfig{CropW: 8, CropH: 8}},
		"augment":    {good, LoaderConfig{BatchSize: 1, CropW: 8, CropH: 8, Augment: AugmentConfig{FlipProb: 2}}},
	} {
		if l, err := NewLoader(ctx, tc.samples, tc.cfg); err == nil {
			l.Close()
			t.Errorf("%s: accepted", name)
		}
	}
}

// Next honours its context, Close and the loader's context stop the producer, and no goroutine outlives them:
// synctest fails the test if any goroutine started inside the bubble is still running at its end.
func TestLoaderCancellationLeavesNoGoroutine(t *testing.T) {
	samples := trainingSet(6)
	synctest.Test(t, func(t *testing.T) {
		// Cancelled Next: returns ctx's error; the loader goes on working.
		l, err := NewLoader(context.Background(), samples, trainConfig(5))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := l.Next(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled Next: %v", err)
		}
		if _, err := l.Next(context.Background()); err != nil {
			t.Fatalf("Next after a cancelled Next: %v", err)
		}
		// Close with the producer blocked on a full pipeline.
		synctest.Wait()
		l.Close()
		l.Close()
		if _, err := l.Next(context.Background()); err == nil {
			t.Fatal("Next after Close returned a batch")
		}

		// Cancelling the loader's context stops it too.
		lctx, lcancel := context.WithCancel(context.Background())
		l2, err := NewLoader(lctx, samples, trainConfig(6))
		if err != nil {
			t.Fatal(err)
		}
		lcancel()
		synctest.Wait()
		for {
			if _, err := l2.Next(context.Background()); err != nil {
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("after the loader's context ended: %v", err)
				}
				break // the batches prepared before the cancellation may still come out
			}
		}
		l2.Close()
	})
}

// In steady state a batch costs no allocation proportional to its images: the two buffers are reused.
func TestLoaderReusesBuffers(t *testing.T) {
	samples := trainingSet(12)
	cfg := trainConfig(7)
	cfg.BatchSize, cfg.CropW, cfg.CropH = 6, 64, 64
	l, err := NewLoader(context.Background(), samples, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	for range 4 { // warm up the elastic scratch buffers
		if _, err := l.Next(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const batches = 20
	for range batches {
		if _, err := l.Next(ctx); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	perBatch := float64(after.TotalAlloc-before.TotalAlloc) / batches
	imageBytes := float64(cfg.BatchSize * cfg.CropW * cfg.CropH * 4)
	if perBatch > 0.01*imageBytes {
		t.Fatalf("%.0f bytes allocated per batch, images are %.0f bytes", perBatch, imageBytes)
	}
}
