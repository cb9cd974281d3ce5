package agreement

import (
	"encoding/json"
	"math"
	"os"
	"testing"
)

// goldenFixture is testdata/golden.json, written by testdata/gen_golden.py with numpy and scipy.
type goldenFixture struct {
	MaxIterations int          `json:"maxIterations"`
	Tolerance     float64      `json:"tolerance"`
	Cases         []goldenCase `json:"cases"`
}

type goldenCase struct {
	Name     string   `json:"name"`
	W        int      `json:"w"`
	H        int      `json:"h"`
	DX       float64  `json:"dx"`
	DY       float64  `json:"dy"`
	Classes  int      `json:"classes"`
	Reads    []string `json:"reads"` // label digits, x fastest
	Pairs    []Pair   `json:"pairs"`
	Majority string   `json:"majority"`
	Staple   struct {
		Consensus   string      `json:"consensus"`
		Probability [][]float64 `json:"probability"` // rounded to 6 decimals
		Sensitivity [][]float64 `json:"sensitivity"`
		Specificity [][]float64 `json:"specificity"`
		Iterations  int         `json:"iterations"`
		Converged   bool        `json:"converged"`
	} `json:"staple"`
}

func loadGolden(t *testing.T) goldenFixture {
	t.Helper()
	raw, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var f goldenFixture
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Cases) == 0 {
		t.Fatal("golden.json has no cases")
	}
	return f
}

func digitsToLabels(s string) []uint8 {
	out := make([]uint8, len(s))
	for i := range s {
		out[i] = s[i] - '0'
	}
	return out
}

func (c goldenCase) grid() Grid { return Grid{W: c.W, H: c.H, DX: c.DX, DY: c.DY} }

func (c goldenCase) reads() [][]uint8 {
	reads := make([][]uint8, len(c.Reads))
	for j, s := range c.Reads {
		reads[j] = digitsToLabels(s)
	}
	return reads
}

// Distances and ratios are sums and square roots of exact pixel offsets: agreement to 1e-9 is expected.
const goldenTol = 1e-9

func closeTo(got, want, tol float64) bool { return math.Abs(got-want) <= tol*max(1, math.Abs(want)) }

func optionalClose(got, want *float64) bool {
	if got == nil || want == nil {
		return got == nil && want == nil
	}
	return closeTo(*got, *want, goldenTol)
}

func TestPairwiseMatchesScipy(t *testing.T) {
	for _, gc := range loadGolden(t).Cases {
		got, err := Pairwise(gc.grid(), gc.reads(), gc.Classes)
		if err != nil {
			t.Fatalf("%s: %v", gc.Name, err)
		}
		if len(got) != len(gc.Pairs) {
			t.Fatalf("%s: %d pairs, want %d", gc.Name, len(got), len(gc.Pairs))
		}
		for k, want := range gc.Pairs {
			p := got[k]
			if p.A != want.A || p.B != want.B || len(p.Classes) != len(want.Classes) {
				t.Fatalf("%s: pair %d is (%d, %d) with %d classes, want (%d, %d) with %d", gc.Name, k, p.A, p.B,
					len(p.Classes), want.A, want.B, len(want.Classes))
			}
			for c, w := range want.Classes {
				g := p.Classes[c]
				if g.Class != w.Class || !closeTo(g.Dice, w.Dice, goldenTol) ||
					!optionalClose(g.HausdorffMM, w.HausdorffMM) || !optionalClose(g.HD95MM, w.HD95MM) ||
					!closeTo(g.AreaAMM2, w.AreaAMM2, goldenTol) || !closeTo(g.AreaBMM2, w.AreaBMM2, goldenTol) ||
					!closeTo(g.AreaDiffMM2, w.AreaDiffMM2, goldenTol) {
					t.Errorf("%s: reads (%d, %d) class %d:\n"+
						" got  Dice %v HD %v HD95 %v areas %v %v %v\n want Dice %v HD %v HD95 %v areas %v %v %v",
						gc.Name, p.A, p.B, w.Class, g.Dice, deref(g.HausdorffMM), deref(g.HD95MM), g.AreaAMM2,
						g.AreaBMM2, g.AreaDiffMM2, w.Dice, deref(w.HausdorffMM), deref(w.HD95MM), w.AreaAMM2,
						w.AreaBMM2, w.AreaDiffMM2)
				}
			}
		}
	}
}

func TestMajorityVoteMatchesNumpy(t *testing.T) {
	for _, gc := range loadGolden(t).Cases {
		got, err := MajorityVote(gc.grid(), gc.reads(), gc.Classes)
		if err != nil {
			t.Fatalf("%s: %v", gc.Name, err)
		}
		want := digitsToLabels(gc.Majority)
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%s: pixel (%d, %d) votes %d, want %d", gc.Name, i%gc.W, i/gc.W, got[i], want[i])
			}
		}
	}
}

func TestStapleMatchesNumpy(t *testing.T) {
	f := loadGolden(t)
	opts := StapleOptions{MaxIterations: f.MaxIterations, Tolerance: f.Tolerance}
	for _, gc := range f.Cases {
		res, err := Staple(gc.grid(), gc.reads(), gc.Classes, opts)
		if err != nil {
			t.Fatalf("%s: %v", gc.Name, err)
		}
		want := gc.Staple
		if res.Iterations != want.Iterations || res.Converged != want.Converged {
			t.Errorf("%s: %d iterations (converged %v), want %d (%v)", gc.Name, res.Iterations, res.Converged,
				want.Iterations, want.Converged)
		}
		wantConsensus := digitsToLabels(want.Consensus)
		for i := range wantConsensus {
			if res.Consensus[i] != wantConsensus[i] {
				t.Errorf("%s: pixel (%d, %d) consensus %d, want %d", gc.Name, i%gc.W, i/gc.W, res.Consensus[i],
					wantConsensus[i])
			}
		}
		worst := 0.0
		for s, ps := range want.Probability {
			for i, p := range ps {
				worst = max(worst, math.Abs(float64(res.Probability[s][i])-p))
			}
		}
		// The fixture rounds to 6 decimals and the result is float32.
		if worst > 1e-5 {
			t.Errorf("%s: probabilities differ by up to %g, want at most 1e-5", gc.Name, worst)
		}
		for j := range want.Sensitivity {
			for c := range want.Sensitivity[j] {
				if !closeTo(res.Sensitivity[j][c], want.Sensitivity[j][c], 1e-9) ||
					!closeTo(res.Specificity[j][c], want.Specificity[j][c], 1e-9) {
					t.Errorf("%s: read %d label %d sensitivity %v specificity %v, want %v %v", gc.Name, j, c,
						res.Sensitivity[j][c], res.Specificity[j][c], want.Sensitivity[j][c], want.Specificity[j][c])
				}
			}
		}
	}
}
