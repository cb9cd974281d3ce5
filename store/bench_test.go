package store

import (
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchVolume imports a 320x320x20 volume, the size the web app's performance targets name.
func benchVolume(b *testing.B) (*Store, VolumeMeta, []uint8) {
	s, err := Open(b.TempDir(), os.DirFS(testMigrations))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	p, err := s.CreateProject(ctx, "bench", wmgm, nil)
	if err != nil {
		b.Fatal(err)
	}
	g := testGeometry
	g.Shape = [3]int{320, 320, 20}
	v, err := s.ImportVolume(ctx, ImportRequest{ProjectID: p.ID, Name: "v", OriginalName: "v.nii",
		Original: strings.NewReader("x"), Geometry: g})
	if err != nil {
		b.Fatal(err)
	}
	// A disc of class 1 around a smaller disc of class 2, like a cord with grey matter.
	mask := make([]uint8, 320*320)
	for y := range 320 {
		for x := range 320 {
			d := (x-160)*(x-160) + (y-160)*(y-160)
			switch {
			case d < 20*20:
				mask[y*320+x] = 2
			case d < 45*45:
				mask[y*320+x] = 1
			}
		}
	}
	return s, v, mask
}

// latencies collects the duration of each operation of a benchmark and reports its median and 99th
// percentile, which a mean per op hides (an fsync now and then, a checkpoint).
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

func (l *latencies) report(b *testing.B) {
	if len(l.d) == 0 {
		return
	}
	slices.Sort(l.d)
	at := func(p float64) float64 { return float64(l.d[int(p*float64(len(l.d)-1))].Microseconds()) / 1000 }
	b.ReportMetric(at(0.50), "ms-p50")
	b.ReportMetric(at(0.99), "ms-p99")
}

// eachSyncMode runs bench on stores opened with each SQLite sync mode: FULL, the workbench's, and NORMAL, to
// show what durability against a power cut costs.
func eachSyncMode(b *testing.B, bench func(b *testing.B)) {
	for _, mode := range []string{"FULL", "NORMAL"} {
		b.Run("synchronous="+mode, func(b *testing.B) {
			defer func(saved string) { synchronous = saved }(synchronous)
			synchronous = mode
			bench(b)
		})
	}
}

// BenchmarkSaveLabel320 is one annotator saving stroke after stroke on a slice of a real database file:
// ns/op and the p50/p99 latency of a save.
func BenchmarkSaveLabel320(b *testing.B) {
	eachSyncMode(b, func(b *testing.B) {
		s, v, mask := benchVolume(b)
		var lat latencies
		version := 0
		for b.Loop() {
			start := time.Now()
			l, err := s.SaveLabel(ctx, LabelWrite{VolumeID: v.ID, Slice: 7, BaseVersion: version, Mask: mask})
			if err != nil {
				b.Fatal(err)
			}
			lat.add(time.Since(start))
			version = l.Version
		}
		lat.report(b)
	})
}

// BenchmarkSaveLabel320Annotators is 20 annotators saving as fast as they can at once, each on its own slice:
// saves queue for SQLite's one write lock, so the p99 shows what a sync per commit costs under load.
func BenchmarkSaveLabel320Annotators(b *testing.B) {
	const annotators = 20
	eachSyncMode(b, func(b *testing.B) {
		s, v, mask := benchVolume(b)
		var lat latencies
		var next atomic.Int32
		b.SetParallelism((annotators + 1) / 2) // RunParallel starts parallelism x GOMAXPROCS goroutines
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			slice := int(next.Add(1)-1) % v.Shape[2]
			version := 0
			for pb.Next() {
				start := time.Now()
				l, err := s.SaveLabel(ctx, LabelWrite{VolumeID: v.ID, Slice: slice, BaseVersion: version, Mask: mask})
				if err != nil {
					b.Error(err)
					return
				}
				lat.add(time.Since(start))
				version = l.Version
			}
		})
		lat.report(b)
	})
}

func BenchmarkLabel320(b *testing.B) {
	s, v, mask := benchVolume(b)
	if _, err := s.SaveLabel(ctx, LabelWrite{VolumeID: v.ID, Slice: 7, Mask: mask}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.Label(ctx, v.ID, 7); err != nil {
			b.Fatal(err)
		}
	}
}
