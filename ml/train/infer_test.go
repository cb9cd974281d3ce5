package train

import (
	"math"
	"reflect"
	"testing"

	"github.com/mriworkbench/workbench/ml/data"
)

func checkPrediction(t *testing.T, p Prediction, chans, w, h int) {
	t.Helper()
	plane := w * h
	if len(p.ClassMap) != plane || len(p.Probs) != chans*plane {
		t.Fatalf("class map %d and probabilities %d values for %dx%d with %d channels", len(p.ClassMap), len(p.Probs), w, h, chans)
	}
	for i := range plane {
		var sum float64
		best, bestP := 0, float32(-1)
		for c := range chans {
			v := p.Probs[c*plane+i]
			sum += float64(v)
			if v > bestP {
				best, bestP = c, v
			}
		}
		if chans > 1 && (math.Abs(sum-1) > 1e-4 || int(p.ClassMap[i]) != best) {
			t.Fatalf("pixel %d: probabilities sum to %v, class %d, argmax %d", i, sum, p.ClassMap[i], best)
		}
	}
	if !(p.Uncertainty >= 0 && p.Uncertainty <= 1) {
		t.Fatalf("uncertainty %v outside [0, 1]", p.Uncertainty)
	}
}

func TestPredictSlicesAnySizeFullAndTiled(t *testing.T) {
	m := trainedModel(t) // trained on 32x32 crops
	sizes := [][2]int{{45, 37}, {8, 8}, {5, 3}, {100, 20}, {31, 64}}
	var slices []data.Sample
	for _, sz := range sizes {
		slices = append(slices, discSamples(1, sz[0], sz[1])[0])
	}
	full, err := m.PredictSlices(slices, PredictOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tiled, err := m.PredictSlices(slices, PredictOptions{Tiled: true})
	if err != nil {
		t.Fatal(err)
	}
	for i, sz := range sizes {
		checkPrediction(t, full[i], 3, sz[0], sz[1])
		checkPrediction(t, tiled[i], 3, sz[0], sz[1])
	}
	// A single-pass slice that fits one tile exactly is the same computation either way.
	exact := discSamples(1, 32, 32)
	a, _ := m.PredictSlices(exact, PredictOptions{})
	b, _ := m.PredictSlices(exact, PredictOptions{Tiled: true})
	if !reflect.DeepEqual(a[0].Probs, b[0].Probs) {
		t.Fatal("a 32x32 slice gives different probabilities tiled and whole")
	}
	// Batching slices changes nothing.
	same := discSamples(5, 40, 24)
	batched, err := m.PredictSlices(same, PredictOptions{BatchSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i := range same {
		one, _, u, err := m.PredictSlice(same[i].Image, 40, 24)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(one, batched[i].ClassMap) || math.Abs(u-batched[i].Uncertainty) > 1e-6 {
			t.Fatalf("slice %d predicted differently in a batch", i)
		}
	}
	if _, _, _, err := m.PredictSlice(make([]float32, 10), 4, 4); err == nil {
		t.Fatal("wrong image length accepted")
	}
}

func TestPredictOneClassSigmoid(t *testing.T) {
	s := quickSettings()
	s.Classes = 1
	m, err := NewModel(s)
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.PredictSlices(discSamples(1, 20, 12), PredictOptions{Region: RegionSlice})
	if err != nil {
		t.Fatal(err)
	}
	checkPrediction(t, p[0], 1, 20, 12)
	for i, c := range p[0].ClassMap {
		if (c == 1) != (p[0].Probs[i] >= 0.5) {
			t.Fatalf("pixel %d: class %d at probability %v", i, c, p[0].Probs[i])
		}
	}
}

func TestUncertaintyRegions(t *testing.T) {
	const plane = 4
	// Channels: background, class 1. Two confident background pixels, one confident class-1 pixel, one 50/50.
	p := []float32{1, 1, 0, 0.5, 0, 0, 1, 0.5}
	if got := uncertainty(p, 2, plane, RegionSlice); math.Abs(got-0.25) > 1e-9 {
		t.Fatalf("whole slice: %v, want 0.25", got)
	}
	if got := uncertainty(p, 2, plane, RegionForeground); math.Abs(got-0.5) > 1e-9 {
		t.Fatalf("foreground: %v, want 0.5", got)
	}
	if got := uncertainty([]float32{1, 1, 0, 0}, 2, 2, RegionForeground); got != 0 {
		t.Fatalf("empty foreground: %v", got)
	}
}

func TestMonteCarloDropout(t *testing.T) {
	m := trainedModel(t)
	slices := discSamples(2, 40, 32)
	before, err := m.PredictSlices(slices, PredictOptions{})
	if err != nil {
		t.Fatal(err)
	}
	weights := m.snapshot()
	mc1, err := m.PredictSlices(slices, PredictOptions{MCPasses: 6, MCSeed: 3})
	if err != nil {
		t.Fatal(err)
	}
	mc2, err := m.PredictSlices(slices, PredictOptions{MCPasses: 6, MCSeed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(mc1[0].Probs, mc2[0].Probs) {
		t.Fatal("Monte-Carlo passes with the same seed differ")
	}
	if !reflect.DeepEqual(weights, m.snapshot()) {
		t.Fatal("Monte-Carlo passes left the weights changed")
	}
	after, _ := m.PredictSlices(slices, PredictOptions{})
	if !reflect.DeepEqual(before[0].Probs, after[0].Probs) {
		t.Fatal("plain prediction changed after Monte-Carlo passes")
	}
	var diff float64
	for i := range mc1 {
		checkPrediction(t, mc1[i], 3, 40, 32)
		for j, v := range mc1[i].Probs {
			diff = math.Max(diff, math.Abs(float64(v-before[i].Probs[j])))
		}
	}
	if diff < 1e-4 {
		t.Fatalf("dropout passes match the deterministic prediction (largest difference %g)", diff)
	}
	// Kept channels are scaled by 1/(1-p), so on average the passes stay near the deterministic network (exactly
	// so for a linear one); a wrong scaling of gamma and beta would pull the mean far away.
	many, err := m.PredictSlices(slices[:1], PredictOptions{MCPasses: 200, MCSeed: 9})
	if err != nil {
		t.Fatal(err)
	}
	var meanAbs float64
	for j, v := range many[0].Probs {
		meanAbs += math.Abs(float64(v - before[0].Probs[j]))
	}
	if meanAbs /= float64(len(many[0].Probs)); meanAbs > 0.1 {
		t.Fatalf("mean of 200 dropout passes is %v away from the deterministic prediction on average", meanAbs)
	}

	s := quickSettings()
	s.DropRate = 0
	noDrop, err := NewModel(s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := noDrop.PredictSlices(slices, PredictOptions{MCPasses: 2}); err == nil {
		t.Fatal("Monte-Carlo dropout on a model without dropout accepted")
	}
}
