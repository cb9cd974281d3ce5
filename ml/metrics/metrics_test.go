package metrics

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"
)

type fixtureSlice struct {
	W, H    int
	Spacing [2]float64
	Pred    []string
	Truth   []string
	Metrics []ClassMetrics
}

type fixtureCase struct {
	Name    string
	Classes []int
	Slices  []fixtureSlice
	Pooled  []ClassMetrics
}

func parseRows(t *testing.T, rows []string, w, h int) []uint8 {
	t.Helper()
	if len(rows) != h {
		t.Fatalf("%d rows, want %d", len(rows), h)
	}
	out := make([]uint8, 0, w*h)
	for _, r := range rows {
		if len(r) != w {
			t.Fatalf("row %q, want %d columns", r, w)
		}
		for _, c := range r {
			out = append(out, uint8(c-'0'))
		}
	}
	return out
}

func near(a, b float64) bool {
	if math.IsInf(a, 0) || math.IsInf(b, 0) {
		return a == b
	}
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b))
}

func compare(t *testing.T, where string, got, want ClassMetrics) {
	t.Helper()
	if got.Class != want.Class || got.Confusion != want.Confusion || got.Slices != want.Slices || got.SlicesOneEmpty != want.SlicesOneEmpty {
		t.Errorf("%s: class %d confusion %+v slices %d/%d, scipy class %d %+v %d/%d", where, got.Class, got.Confusion,
			got.Slices, got.SlicesOneEmpty, want.Class, want.Confusion, want.Slices, want.SlicesOneEmpty)
	}
	for _, f := range []struct {
		name      string
		got, want float64
	}{
		{"dice", got.Dice, want.Dice}, {"jaccard", got.Jaccard, want.Jaccard}, {"precision", got.Precision, want.Precision},
		{"recall", got.Recall, want.Recall}, {"specificity", got.Specificity, want.Specificity},
		{"conformity", got.Conformity, want.Conformity},
		{"hausdorff px", got.HausdorffPx, want.HausdorffPx}, {"hausdorff mm", got.HausdorffMM, want.HausdorffMM},
		{"mean surface px", got.MeanSurfacePx, want.MeanSurfacePx}, {"mean surface mm", got.MeanSurfaceMM, want.MeanSurfaceMM},
	} {
		if math.IsNaN(f.got) || !near(f.got, f.want) {
			t.Errorf("%s class %d: %s = %v, scipy %v", where, got.Class, f.name, f.got, f.want)
		}
	}
}

// Every metric, per slice and pooled, matches the independent numpy/scipy computation of
// testdata/gen_metrics.py, including empty masks, masks touching the border and anisotropic spacing.
func TestMatchesScipy(t *testing.T) {
	raw, err := os.ReadFile("testdata/metrics.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []fixtureCase
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 5 {
		t.Fatalf("%d fixture cases, want 5", len(cases))
	}
	for _, c := range cases {
		acc, err := NewAccumulator(c.Classes)
		if err != nil {
			t.Fatal(err)
		}
		for si, s := range c.Slices {
			pred, truth := parseRows(t, s.Pred, s.W, s.H), parseRows(t, s.Truth, s.W, s.H)
			got, err := acc.Add(pred, truth, s.W, s.H, s.Spacing)
			if err != nil {
				t.Fatal(err)
			}
			direct, err := Slice(pred, truth, s.W, s.H, s.Spacing, c.Classes)
			if err != nil {
				t.Fatal(err)
			}
			for i := range c.Classes {
				compare(t, fmt.Sprintf("%s slice %d", c.Name, si), got[i], s.Metrics[i])
				compare(t, fmt.Sprintf("%s slice %d (Slice)", c.Name, si), direct[i], s.Metrics[i])
			}
		}
		for i, got := range acc.Result() {
			compare(t, c.Name+" pooled", got, c.Pooled[i])
		}
	}
}

func TestEmptyCasesDocumented(t *testing.T) {
	empty, one := make([]uint8, 12), make([]uint8, 12)
	one[5] = 1
	both, err := Binary(empty, empty, 4, 3, [2]float64{1, 1})
	if err != nil {
		t.Fatal(err)
	}
	if both.Dice != 1 || both.Jaccard != 1 || both.Precision != 1 || both.Recall != 1 || both.Specificity != 1 ||
		both.Conformity != 100 || both.HausdorffPx != 0 || both.MeanSurfaceMM != 0 {
		t.Fatalf("both empty: %+v", both)
	}
	missed, _ := Binary(empty, one, 4, 3, [2]float64{1, 1})
	if missed.Dice != 0 || missed.Precision != 0 || missed.Recall != 0 || missed.Specificity != 1 ||
		!math.IsInf(missed.Conformity, -1) || !math.IsInf(missed.HausdorffMM, 1) || !math.IsInf(missed.MeanSurfacePx, 1) {
		t.Fatalf("prediction empty: %+v", missed)
	}
	spurious, _ := Binary(one, empty, 4, 3, [2]float64{1, 1})
	if spurious.Dice != 0 || spurious.Precision != 0 || spurious.Recall != 0 || math.Abs(spurious.Specificity-11.0/12) > 1e-15 {
		t.Fatalf("truth empty: %+v", spurious)
	}
}

// Infinite results serialise (as null) and come back as the same infinities.
func TestJSONRoundTrip(t *testing.T) {
	empty, one := make([]uint8, 6), []uint8{0, 1, 1, 0, 0, 0}
	for _, pair := range [][2][]uint8{{empty, one}, {one, one}} {
		m, err := Binary(pair[0], pair[1], 3, 2, [2]float64{0.5, 2})
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		var back ClassMetrics
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if back != m {
			t.Fatalf("round trip of %s: %+v, want %+v", b, back, m)
		}
	}
}

// Model files written before the names became camelCase keep their distances.
func TestJSONReadsLegacyNames(t *testing.T) {
	var m ClassMetrics
	old := `{"class":2,"dice":0.5,"hausdorff_px":3,"hausdorff_mm":1.5,"mean_surface_px":1,"mean_surface_mm":null,"slices":4,"slices_one_empty":1}`
	if err := json.Unmarshal([]byte(old), &m); err != nil {
		t.Fatal(err)
	}
	if m.Class != 2 || m.Dice != 0.5 || m.HausdorffPx != 3 || m.HausdorffMM != 1.5 || m.MeanSurfacePx != 1 ||
		!math.IsInf(m.MeanSurfaceMM, 1) || m.Slices != 4 || m.SlicesOneEmpty != 1 {
		t.Fatalf("legacy metrics read as %+v", m)
	}
}

// The distance transform agrees with brute force on random point sets and anisotropic spacing.
func TestDistanceTransformBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := range 50 {
		w, h := 1+r.IntN(20), 1+r.IntN(20)
		spacing := [2]float64{0.2 + 2*r.Float64(), 0.2 + 2*r.Float64()}
		var pts []int
		for i := range w * h {
			if r.Float64() < 0.05 {
				pts = append(pts, i)
			}
		}
		if len(pts) == 0 {
			pts = append(pts, r.IntN(w*h))
		}
		d := distanceTo(pts, w, h, spacing)
		for i := range w * h {
			best := math.Inf(1)
			for _, p := range pts {
				dx, dy := float64(i%w-p%w)*spacing[0], float64(i/w-p/w)*spacing[1]
				best = math.Min(best, math.Hypot(dx, dy))
			}
			if math.Abs(d[i]-best) > 1e-9 {
				t.Fatalf("trial %d (%dx%d, %v): pixel %d distance %v, brute force %v", trial, w, h, spacing, i, d[i], best)
			}
		}
	}
}

// Random masks never produce NaN, and the scores stay in their ranges.
func TestNoNaNOnRandomMasks(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		w, h := 1+r.IntN(12), 1+r.IntN(12)
		pred, truth := make([]uint8, w*h), make([]uint8, w*h)
		density := r.Float64()
		for i := range pred {
			if r.Float64() < density {
				pred[i] = uint8(r.IntN(3))
			}
			if r.Float64() < density {
				truth[i] = uint8(r.IntN(3))
			}
		}
		ms, err := Slice(pred, truth, w, h, [2]float64{0.5, 3}, []int{0, 1, 2})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			for _, v := range []float64{m.Dice, m.Jaccard, m.Precision, m.Recall, m.Specificity} {
				if math.IsNaN(v) || v < 0 || v > 1 {
					t.Fatalf("score %v out of [0, 1] in %+v", v, m)
				}
			}
			for _, v := range []float64{m.Conformity, m.HausdorffPx, m.HausdorffMM, m.MeanSurfacePx, m.MeanSurfaceMM} {
				if math.IsNaN(v) {
					t.Fatalf("NaN in %+v", m)
				}
			}
			if m.MeanSurfacePx > m.HausdorffPx || m.MeanSurfaceMM > m.HausdorffMM {
				t.Fatalf("mean surface distance above Hausdorff: %+v", m)
			}
		}
	}
}

func TestRejectsBadInput(t *testing.T) {
	m := make([]uint8, 6)
	if _, err := Slice(m, m[:5], 3, 2, [2]float64{1, 1}, []int{1}); err == nil {
		t.Error("size mismatch accepted")
	}
	if _, err := Slice(m, m, 3, 2, [2]float64{0, 1}, []int{1}); err == nil {
		t.Error("zero spacing accepted")
	}
	if _, err := Slice(m, m, 3, 2, [2]float64{1, 1}, []int{256}); err == nil {
		t.Error("class 256 accepted")
	}
	if _, err := NewAccumulator([]int{-1}); err == nil {
		t.Error("class -1 accepted")
	}
}
