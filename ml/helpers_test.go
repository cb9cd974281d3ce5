package ml

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// toCN reorders a sample-major (n, c, plane) array into the engine's channel-major order.
func toCN(x []float32, n, c, plane int) []float32 {
	y := make([]float32, len(x))
	transposeCN(x, y, n, c, plane)
	return y
}

// toNC reorders a channel-major (c, n, plane) array into sample-major order.
func toNC(x []float32, c, n, plane int) []float32 {
	y := make([]float32, len(x))
	transposeCN(x, y, c, n, plane)
	return y
}

// detFill sets p to the deterministic contents testdata/torch_smallunet.py's det_values gives.
func detFill(p *Param) {
	phase := 0.3
	for _, b := range []byte(p.Name) {
		phase += 0.01 * float64(b)
	}
	fanIn := 1
	for _, s := range p.Shape[1:] {
		fanIn *= s
	}
	for i := range p.Data {
		s := math.Sin(0.7*float64(i) + phase)
		var v float64
		switch {
		case strings.HasSuffix(p.Name, "running_var"):
			v = 1 + 0.3*s
		case strings.HasSuffix(p.Name, "running_mean"):
			v = 0.1 * s
		case strings.HasSuffix(p.Name, "_bn.weight"):
			v = 1 + 0.2*s
		case strings.HasSuffix(p.Name, ".bias"):
			v = 0.1 * s
		default:
			v = 1.5 / math.Sqrt(float64(fanIn)) * s
		}
		p.Data[i] = float32(v)
	}
}

// assertClose fails when any |got-want| exceeds atol + rtol*|want|, reporting the worst.
func assertClose(t *testing.T, what string, got, want []float32, atol, rtol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	worst, at := 0.0, -1
	for i := range got {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if excess := d - (atol + rtol*math.Abs(float64(want[i]))); excess > 0 && excess > worst || math.IsNaN(d) {
			worst, at = excess, i
		}
	}
	if at >= 0 {
		t.Errorf("%s: value %d is %g, want %g (tolerance %g + %g relative)", what, at, got[at], want[at], atol, rtol)
	}
}

var goldenCache map[string]json.RawMessage

// golden decodes case name of testdata/golden.json (written by testdata/gen_golden.py) into v.
func golden(t *testing.T, name string, v any) {
	t.Helper()
	if goldenCache == nil {
		b, err := os.ReadFile(filepath.Join("testdata", "golden.json"))
		if err != nil {
			t.Fatalf("golden fixtures: %v (regenerate with `make golden`)", err)
		}
		if err := json.Unmarshal(b, &goldenCache); err != nil {
			t.Fatal(err)
		}
	}
	raw, ok := goldenCache[name]
	if !ok {
		t.Fatalf("golden case %q missing (regenerate with `make golden`)", name)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("golden case %q: %v", name, err)
	}
}
