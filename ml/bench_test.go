package ml

import (
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
)

// peakRSSMiB reads the process's peak resident memory (VmHWM) from /proc, or -1 if unknown.
func peakRSSMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, err := strconv.ParseFloat(f[1], 64)
			if err == nil {
				return kb / 1024
			}
		}
	}
	return -1
}

// syntheticBatch is a deterministic batch: a bright disc with a darker core on noise,
// labelled background / ring / core.
func syntheticBatch(n, h, w int, seed float64) ([]float32, []uint8) {
	img := make([]float32, n*h*w)
	mask := make([]uint8, n*h*w)
	for s := 0; s < n; s++ {
		cx := float64(w)/2 + float64(w)/8*math.Sin(seed+float64(s))
		cy := float64(h)/2 + float64(h)/8*math.Cos(1.3*seed+float64(s))
		r := float64(min(h, w)) / 4
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				i := (s*h+y)*w + x
				d := math.Hypot(float64(x)-cx, float64(y)-cy)
				noise := 0.3 * math.Sin(float64(i)*12.9898+seed)
				switch {
				case d < r/2:
					img[i], mask[i] = float32(0.5+noise), 2
				case d < r:
					img[i], mask[i] = float32(1.5+noise), 1
				default:
					img[i] = float32(-0.5 + noise)
				}
			}
		}
	}
	return img, mask
}

// smallUNetTrainFLOP counts multiply-adds x2 of SmallUNet's convolutions for one training
// iteration (forward, weight gradient, input gradient except the first layer).
func smallUNetTrainFLOP(n, h, w, classes int) float64 {
	type conv struct{ in, out, div int }
	convs := []conv{{1, 32, 1}, {32, 32, 1}, {32, 64, 2}, {64, 64, 2}, {64, 128, 4}, {128, 128, 4},
		{128, 128, 8}, {128, 128, 8}, {256, 128, 4}, {128, 128, 4}, {192, 64, 2}, {64, 64, 2},
		{96, 32, 1}, {32, 32, 1}, {32, classes, 1}}
	var total float64
	for i, c := range convs {
		px := float64(n*h*w) / float64(c.div*c.div)
		f := 2 * 9 * float64(c.in*c.out) * px
		total += 2 * f // forward and weight gradient
		if i > 0 {
			total += f // input gradient
		}
	}
	return total
}

func BenchmarkSmallUNetTrainStep(b *testing.B) { benchTrainStep(b, 11, 160, 160, 2) }

// BenchmarkSmallUNetTrainStep80 is the pipeline's small-field-of-view setting (80x80 crops),
// the one whose PyTorch timing PIPELINE.md reports.
func BenchmarkSmallUNetTrainStep80(b *testing.B) { benchTrainStep(b, 11, 80, 80, 2) }

func benchTrainStep(b *testing.B, n, h, w, k int) {
	m, err := NewModel("smallunet", DefaultArchConfig(k), PaperDice())
	if err != nil {
		b.Fatal(err)
	}
	img, mask := syntheticBatch(n, h, w, 1)
	if _, err := m.Step(img, mask, n, h, w); err != nil { // allocate buffers outside the timing
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := m.Step(img, mask, n, h, w); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	sec := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(sec, "s/iter")
	b.ReportMetric(smallUNetTrainFLOP(n, h, w, k+1)/sec/1e9, "GFLOP/s")
	b.ReportMetric(peakRSSMiB(), "peakMiB")
}

func BenchmarkSmallUNetInfer(b *testing.B) {
	const n, h, w, k = 1, 160, 160, 2
	m, err := NewModel("smallunet", DefaultArchConfig(k), PaperDice())
	if err != nil {
		b.Fatal(err)
	}
	img, _ := syntheticBatch(n, h, w, 2)
	out := make([]float32, n*(k+1)*h*w)
	if err := m.PredictInto(out, img, n, h, w); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := m.PredictInto(out, img, n, h, w); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/op")
}

// BenchmarkSGEMMPeak measures the backend's SGEMM on a large square product: the ceiling
// the training step's GFLOP/s is compared against.
func BenchmarkSGEMMPeak(b *testing.B) {
	const s = 2048
	be := DefaultBackend
	x, y, z := be.Alloc(s*s), be.Alloc(s*s), be.Alloc(s*s)
	for i := range x {
		x[i], y[i] = float32(i%7)*0.1, float32(i%5)*0.1
	}
	be.Sgemm(false, false, s, s, s, 1, x, s, y, s, 0, z, s)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		be.Sgemm(false, false, s, s, s, 1, x, s, y, s, 0, z, s)
	}
	b.StopTimer()
	b.ReportMetric(2*s*s*s/(b.Elapsed().Seconds()/float64(b.N))/1e9, "GFLOP/s")
}
