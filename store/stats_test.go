package store

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// sortedStats is ComputeStats as it was before the radix selection: a sorted copy of the finite values. It is
// the reference the selection must match exactly.
func sortedStats(data []float32) IntensityStats {
	finite := make([]float32, 0, len(data))
	var sum float64
	for _, v := range data {
		if f := float64(v); !math.IsNaN(f) && !math.IsInf(f, 0) {
			finite = append(finite, v)
			sum += f
		}
	}
	if len(finite) == 0 {
		return IntensityStats{}
	}
	mean := sum / float64(len(finite))
	var ss float64
	for _, v := range finite {
		d := float64(v) - mean
		ss += d * d
	}
	slices.Sort(finite)
	percentile := func(p float64) float64 {
		pos := p / 100 * float64(len(finite)-1)
		lo := int(math.Floor(pos))
		hi := min(lo+1, len(finite)-1)
		frac := pos - float64(lo)
		return float64(finite[lo])*(1-frac) + float64(finite[hi])*frac
	}
	return IntensityStats{Min: float64(finite[0]), Max: float64(finite[len(finite)-1]), Mean: mean,
		Std: math.Sqrt(ss / float64(len(finite))), P1: percentile(1), P99: percentile(99)}
}

// The selection finds exactly the order statistics sorting finds, on MRI-like and adversarial value sets:
// integers with many ties, wide and narrow float ranges, negatives around zero (signed zeros included),
// values sharing their high bits, NaN and infinities mixed in, and tiny inputs.
func TestComputeStatsMatchesSorting(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	gen := map[string]func(i int) float32{
		"uint8 ties":     func(int) float32 { return float32(rng.IntN(256)) },
		"int16 scaled":   func(int) float32 { return float32(rng.IntN(65536)-32768) * 0.37 },
		"normal":         func(int) float32 { return float32(rng.NormFloat64()*120 + 900) },
		"around zero":    func(int) float32 { return float32(rng.NormFloat64() * 1e-3) },
		"signed zeros":   func(i int) float32 { return [4]float32{0, float32(math.Copysign(0, -1)), 1, -1}[i%4] },
		"same high bits": func(int) float32 { return math.Float32frombits(0x3f800000 | uint32(rng.IntN(1<<16))) },
		"huge range":     func(int) float32 { return float32(math.Exp(rng.Float64()*170-85)) * float32(1-2*rng.IntN(2)) },
		"constant":       func(int) float32 { return 42 },
		"mostly nan": func(i int) float32 {
			switch i % 5 {
			case 0:
				return float32(math.NaN())
			case 1:
				return float32(math.Inf(1 - 2*(i%2)))
			}
			return float32(rng.IntN(1000))
		},
		"background zeros": func(i int) float32 {
			if i%3 != 0 {
				return 0
			}
			return float32(rng.IntN(4000))
		},
	}
	for name, g := range gen {
		for _, n := range []int{1, 2, 3, 99, 100, 101, 1000, 65537, 300_001} {
			data := make([]float32, n)
			for i := range data {
				data[i] = g(i)
			}
			got, want := ComputeStats(data), sortedStats(data)
			if got != want {
				t.Errorf("%s, %d values: %+v, sorting gives %+v", name, n, got, want)
			}
		}
	}
}

func benchStatsData() []float32 {
	rng := rand.New(rand.NewPCG(3, 4))
	data := make([]float32, 16<<20) // 64 MiB of float32, a 256x256x256 volume
	for i := range data {
		data[i] = float32(rng.IntN(4096)) // 12-bit MRI intensities
	}
	return data
}

// BenchmarkComputeStats measures the statistics of a 16 Mi-voxel volume by radix selection; compare with
// BenchmarkComputeStatsSorted (the sorted copy it replaced).
func BenchmarkComputeStats(b *testing.B) {
	data := benchStatsData()
	b.SetBytes(int64(4 * len(data)))
	for b.Loop() {
		ComputeStats(data)
	}
}

func BenchmarkComputeStatsSorted(b *testing.B) {
	data := benchStatsData()
	b.SetBytes(int64(4 * len(data)))
	for b.Loop() {
		sortedStats(data)
	}
}
