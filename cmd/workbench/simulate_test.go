package main

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mriworkbench/workbench/internal/testenv"
)

// simCurve is what the test reads of curve.json.
type simCurve struct {
	Order   string   `json:"order"`
	Classes []string `json:"classes"`
	Rounds  []struct {
		Round    int       `json:"round"`
		Labelled int       `json:"labelled"`
		Dice     []float64 `json:"dice"`
		Iters    int       `json:"iterations"`
		Volumes  []struct {
			Name      string `json:"name"`
			Seg       string `json:"seg"`
			Remainder []int  `json:"remainder"`
		} `json:"volumes"`
		Picked []struct {
			Volume string `json:"volume"`
			Slice  int    `json:"slice"`
		} `json:"picked"`
	} `json:"rounds"`
	Volumes []struct {
		Name   string `json:"name"`
		Truth  string `json:"truth"`
		Expert []int  `json:"expert"`
	} `json:"volumes"`
}

func readCurve(t *testing.T, out string) simCurve {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(out, "curve.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c simCurve
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// The short mode of the simulated-annotator benchmark, on the small t2s volume with all 9 slices labelled by
// the expert: each round trains (warm after the first), labels grow by K, Dice on the remainder is recorded
// and agrees with nibabel + numpy on the exported files; the source project is left as it was.
func TestSimulateShort(t *testing.T) {
	testenv.RequireNibabel(t)
	image := sharedData(t, "sct_testing_data", "t2s", "t2s.nii.gz")
	cord := sharedData(t, "sct_testing_data", "t2s", "t2s_seg.nii.gz")
	gm := sharedData(t, "sct_testing_data", "t2s", "t2s_gmseg_manual.nii.gz")
	data := t.TempDir()
	mustRun(t, "import", "--data", data, "--project", "t2s", "--classes", "wm,gm", image, "--mask", "wm="+cord, "--mask", "gm="+gm)

	for _, order := range []string{"spread", "random"} {
		out := filepath.Join(t.TempDir(), "sim")
		stdout := mustRun(t, "simulate", "--data", data, "--from-project", "t2s", "--out", out, "--order", order,
			"--start", "2", "--k", "2", "--rounds", "2", "--epochs", "1", "--settings", quick)
		for _, want := range []string{"1 volumes, 9 expert slices, 2 labelled to start, order " + order, "round 0: 2 labelled",
			"round 2: 6 labelled", "curve written to"} {
			if !strings.Contains(stdout, want) {
				t.Fatalf("%s: output lacks %q:\n%s", order, want, stdout)
			}
		}
		c := readCurve(t, out)
		if c.Order != order || len(c.Rounds) != 3 || len(c.Volumes) != 1 || len(c.Volumes[0].Expert) != 9 {
			t.Fatalf("%s: curve %+v", order, c)
		}
		labelledSoFar := map[int]bool{}
		for i, r := range c.Rounds {
			if r.Round != i || r.Labelled != 2+2*i || r.Iters < 1 || len(r.Dice) != 2 {
				t.Errorf("%s round %d: %+v", order, i, r)
			}
			for _, d := range r.Dice {
				if math.IsNaN(d) || d < 0 || d > 1 {
					t.Errorf("%s round %d: Dice %v", order, i, r.Dice)
				}
			}
			if len(r.Volumes) != 1 || len(r.Volumes[0].Remainder) != 9-r.Labelled {
				t.Fatalf("%s round %d: volumes %+v", order, i, r.Volumes)
			}
			if _, err := os.Stat(filepath.Join(out, r.Volumes[0].Seg)); err != nil {
				t.Errorf("%s round %d: export: %v", order, i, err)
			}
			for _, z := range r.Volumes[0].Remainder {
				if labelledSoFar[z] {
					t.Errorf("%s round %d: slice %d was labelled and is still in the remainder", order, i, z)
				}
			}
			wantPicked := 2
			if i == len(c.Rounds)-1 {
				wantPicked = 0
			}
			if len(r.Picked) != wantPicked {
				t.Errorf("%s round %d picked %+v", order, i, r.Picked)
			}
			for _, p := range r.Picked {
				labelledSoFar[p.Slice] = true
			}
		}
		checkSimDice(t, out, c)
	}
	// The source project is left as it was: its 9 labels, no model.
	if r := invoke(t, "predict", "--data", data, "--project", "t2s"); r.code == 0 || !strings.Contains(r.stderr, "no trained model") {
		t.Errorf("the source project has a model after simulating: %+v", r)
	}
	st, err := openStore(data)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if labels, err := st.ProjectLabels(context.Background(), 1); err != nil || len(labels) != 9 {
		t.Errorf("the source project has %d labels (%v), want 9", len(labels), err)
	}
}

// checkSimDice runs testdata/sim_dice.py on a simulation and compares its Dice with the workbench's.
func checkSimDice(t *testing.T, out string, c simCurve) {
	t.Helper()
	text := testenv.RunPython(t, "testdata/sim_dice.py", out)
	lines := strings.Split(strings.TrimSpace(text), "\n")
	var py struct {
		Rounds []struct {
			Labelled int       `json:"labelled"`
			Dice     []float64 `json:"dice"`
		} `json:"rounds"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &py); err != nil {
		t.Fatalf("sim_dice.py output %q: %v", text, err)
	}
	if len(py.Rounds) != len(c.Rounds) {
		t.Fatalf("sim_dice.py has %d rounds, the curve %d", len(py.Rounds), len(c.Rounds))
	}
	for i, r := range py.Rounds {
		for k, d := range r.Dice {
			if math.Abs(d-c.Rounds[i].Dice[k]) > 1e-9 || r.Labelled != c.Rounds[i].Labelled {
				t.Errorf("round %d class %d: nibabel Dice %.6f, workbench %.6f", i, k+1, d, c.Rounds[i].Dice[k])
			}
		}
	}
	t.Logf("nibabel:\n%s", strings.Join(lines[:len(lines)-1], "\n"))
}

func TestSimulateRefusesBadInput(t *testing.T) {
	data := t.TempDir()
	taken := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--out", filepath.Join(data, "x")}, "--from-project is required"},
		{[]string{"--from-project", "p"}, "--out is required"},
		{[]string{"--from-project", "p", "--out", filepath.Join(data, "x"), "--order", "best"}, `--order "best" must be`},
		{[]string{"--from-project", "p", "--out", filepath.Join(data, "x"), "--k", "0"}, "--k must be at least 1"},
		{[]string{"--from-project", "p", "--out", taken}, "exists: give a new directory"},
		{[]string{"--from-project", "nosuch", "--out", filepath.Join(data, "x")}, "nosuch"},
	} {
		r := invoke(t, append([]string{"simulate", "--data", data}, c.args...)...)
		if r.code == 0 || !strings.Contains(r.stderr, c.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("simulate %v: exit %d, stderr %q, want one line with %q", c.args, r.code, r.stderr, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(data, "x")); err == nil {
		t.Error("a refused simulation created its output directory")
	}
}
