package data

import (
	"math"
	"slices"
	"testing"
)

func keysOf(ss []Sample) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.Key
	}
	return out
}

func TestSplitCounts(t *testing.T) {
	for _, tc := range []struct{ n, train, val, eval int }{
		{0, 0, 0, 0}, {1, 1, 0, 0}, {2, 1, 1, 0}, {3, 1, 1, 1}, {4, 2, 1, 1}, {10, 7, 2, 1}, {20, 14, 3, 3}, {100, 70, 15, 15},
	} {
		train, val, eval, err := Split(keyedSamples(tc.n), 1, DefaultFractions)
		if err != nil {
			t.Fatal(err)
		}
		if len(train) != tc.train || len(val) != tc.val || len(eval) != tc.eval {
			t.Errorf("n=%d: got %d/%d/%d, want %d/%d/%d", tc.n, len(train), len(val), len(eval), tc.train, tc.val, tc.eval)
		}
	}
}

func TestSplitReproducibleDisjointOrderFree(t *testing.T) {
	samples := keyedSamples(57)
	train, val, eval, err := Split(samples, 42, DefaultFractions)
	if err != nil {
		t.Fatal(err)
	}
	reversed := slices.Clone(samples)
	slices.Reverse(reversed)
	train2, val2, eval2, _ := Split(reversed, 42, DefaultFractions)
	if !slices.Equal(keysOf(train), keysOf(train2)) || !slices.Equal(keysOf(val), keysOf(val2)) || !slices.Equal(keysOf(eval), keysOf(eval2)) {
		t.Fatal("same seed and keys in another order gave another split")
	}
	seen := map[string]int{}
	for _, set := range [][]Sample{train, val, eval} {
		for _, s := range set {
			seen[s.Key]++
		}
	}
	if len(seen) != len(samples) {
		t.Fatalf("split covers %d of %d samples", len(seen), len(samples))
	}
	for k, n := range seen {
		if n != 1 {
			t.Fatalf("%s is in %d sets", k, n)
		}
	}
	other, _, _, _ := Split(samples, 43, DefaultFractions)
	if slices.Equal(keysOf(train), keysOf(other)) {
		t.Fatal("another seed gave the same training set")
	}
}

// Labelling one more slice must not reshuffle the sets: at most a couple of old samples change set.
func TestSplitStableWhenSamplesAdded(t *testing.T) {
	samples := keyedSamples(101)
	setOf := func(ss []Sample) map[string]int {
		train, val, eval, _ := Split(ss, 7, DefaultFractions)
		m := map[string]int{}
		for i, set := range [][]Sample{train, val, eval} {
			for _, s := range set {
				m[s.Key] = i
			}
		}
		return m
	}
	before, after := setOf(samples[:100]), setOf(samples)
	moved := 0
	for k, set := range before {
		if after[k] != set {
			moved++
		}
	}
	if moved > 2 {
		t.Fatalf("adding one sample moved %d others between sets", moved)
	}
}

func TestSplitWithEval(t *testing.T) {
	samples := keyedSamples(15) // keys vol0..vol2: 5 each
	isEval := func(s Sample) bool { return s.Key[:4] == "vol2" }
	train, val, eval, err := SplitWithEval(samples, 3, DefaultFractions, isEval)
	if err != nil {
		t.Fatal(err)
	}
	if len(eval) != 5 || len(train) != 8 || len(val) != 2 {
		t.Fatalf("got %d/%d/%d, want 8/2/5", len(train), len(val), len(eval))
	}
	for _, s := range eval {
		if !isEval(s) {
			t.Fatalf("%s in evaluation set", s.Key)
		}
	}
	for _, s := range append(slices.Clone(train), val...) {
		if isEval(s) {
			t.Fatalf("evaluation sample %s in training or validation", s.Key)
		}
	}
}

func TestSplitRejectsBadFractions(t *testing.T) {
	for _, f := range []Fractions{{-0.1, 0.5, 0.6}, {0, 0.5, 0.5}, {0.5, 0.5, math.Inf(1)}} {
		if _, _, _, err := Split(keyedSamples(5), 1, f); err == nil {
			t.Errorf("fractions %+v accepted", f)
		}
	}
}
