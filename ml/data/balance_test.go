package data

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// groupedSamples makes slices of two volumes: "big" with 12 slices of which 2 hold a structure, "small" with 3,
// all holding one.
func groupedSamples() []Sample {
	var out []Sample
	add := func(group string, n, full int) {
		for i := range n {
			s := Sample{Image: make([]float32, 16), Mask: make([]uint8, 16), W: 4, H: 4, Group: group, Key: group + string(rune('a'+i))}
			if i < full {
				s.Mask[5] = 1
			}
			out = append(out, s)
		}
	}
	add("big", 12, 2)
	add("small", 3, 3)
	return out
}

func TestBalancedWeights(t *testing.T) {
	samples := groupedSamples()
	w := BalancedWeights(samples, 0.25)
	var sum, big, bigEmpty, small float64
	for i, s := range samples {
		sum += w[i]
		switch {
		case s.Group == "small":
			small += w[i]
		case s.Mask[5] == 0:
			bigEmpty += w[i]
			big += w[i]
		default:
			big += w[i]
		}
	}
	near := func(got, want float64) bool { return math.Abs(got-want) < 1e-12 }
	if !near(sum, 1) || !near(big, 0.5) || !near(small, 0.5) || !near(bigEmpty, 0.125) {
		t.Fatalf("weights sum %v, big volume %v (empty slices %v), small volume %v; want 1, 0.5 (0.125), 0.5", sum, big, bigEmpty, small)
	}
	// One group and no empty slice: uniform.
	for i, v := range BalancedWeights(samples[12:], 0.25) {
		if !near(v, 1.0/3) {
			t.Fatalf("uniform case: weight %d is %v", i, v)
		}
	}
}

// TestBalancedLoaderDraws: a balanced loader's epochs draw the volumes and the empty slices at their shares,
// reproducibly.
func TestBalancedLoaderDraws(t *testing.T) {
	samples := groupedSamples()
	cfg := LoaderConfig{BatchSize: 5, CropW: 8, CropH: 8, Seed: 3, Shuffle: true, Epochs: 400, Balanced: true, EmptyShare: 0.25}
	count := func() map[string]int {
		l, err := NewLoader(context.Background(), samples, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		seen := map[string]int{}
		for {
			b, err := l.Next(context.Background())
			if err != nil {
				break
			}
			for k, key := range b.Keys {
				seen[key]++
				if b.Masks[k*64+3*8+3] == 1 { // pixel (1,1) of the slice, which the centred 8x8 crop puts at (3,3)
					seen["full"]++
				}
			}
		}
		return seen
	}
	seen := count()
	total := 400 * len(samples)
	small := seen["smalla"] + seen["smallb"] + seen["smallc"]
	var bigEmpty int
	for _, c := range "cdefghijkl" {
		bigEmpty += seen["big"+string(c)]
	}
	if f := float64(small) / float64(total); math.Abs(f-0.5) > 0.02 {
		t.Fatalf("small volume drawn %.3f of the time, want 0.5", f)
	}
	if f := float64(bigEmpty) / float64(total); math.Abs(f-0.125) > 0.02 {
		t.Fatalf("big volume's empty slices drawn %.3f of the time, want 0.125", f)
	}
	if seen["full"] != total-bigEmpty {
		t.Fatalf("%d crops hold the structure, want %d", seen["full"], total-bigEmpty)
	}
	if again := count(); again["smalla"] != seen["smalla"] || again["bigd"] != seen["bigd"] {
		t.Fatal("the same seed drew differently")
	}
	// Equal weights (one volume, every slice labelled) keep the plain shuffle: each slice once per epoch.
	uniform := LoaderConfig{BatchSize: 3, CropW: 8, CropH: 8, Seed: 3, Shuffle: true, Epochs: 5, Balanced: true, EmptyShare: 0.25}
	l, err := NewLoader(context.Background(), samples[12:], uniform)
	if err != nil {
		t.Fatal(err)
	}
	for {
		b, err := l.Next(context.Background())
		if err != nil {
			break
		}
		if keys := slices.Sorted(slices.Values(b.Keys)); !slices.Equal(keys, []string{"smalla", "smallb", "smallc"}) {
			t.Fatalf("epoch %d of one volume drew %v, want each slice once", b.Epoch, b.Keys)
		}
	}
	l.Close()
	cfg.EmptyShare = 1
	if _, err := NewLoader(context.Background(), samples, cfg); err == nil {
		t.Fatal("empty share 1 accepted")
	}
}

// TestPercentileStats: a few extreme voxels are clipped instead of squashing the slice; padding still takes
// the (clipped) minimum.
func TestPercentileStats(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	img := make([]float32, 1000)
	for i := range img {
		img[i] = float32(100 + r.Float64()*100)
	}
	img[7], img[500] = 1e6, 3e5
	st := Normalization{Mode: NormPercentile}.For(img)
	if st.Hi > 200 || st.Lo < 100 || st.Hi <= st.Lo {
		t.Fatalf("clip range [%v, %v], want inside [100, 200]", st.Lo, st.Hi)
	}
	if math.Abs(st.Mean-150) > 5 || math.Abs(st.Std-100/math.Sqrt(12)) > 3 {
		t.Fatalf("clipped mean %v std %v, want about 150 and 28.9", st.Mean, st.Std)
	}
	if got := st.normalize(1e6); got > 2 {
		t.Fatalf("an extreme voxel normalises to %v, want clipped to about +1.7", got)
	}
	plain := SliceStats(img)
	if spread := (plain.normalize(200) - plain.normalize(100)); spread > 0.01 {
		t.Fatalf("z-score keeps the tissue range %v wide: the test's outliers are too weak to show the point", spread)
	}
	if want := float64(slices.Min(img)); st.Min != want {
		t.Fatalf("padding minimum %v, want the raw minimum %v", st.Min, want)
	}
	if err := (Normalization{Mode: NormPercentile}).Validate(); err != nil {
		t.Fatal(err)
	}
	if z := PercentileStats(nil); z.Std != 1 {
		t.Fatalf("empty slice: %+v", z)
	}
}
