package train

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"testing"

	"github.com/mriworkbench/workbench/ml/data"
)

// fixture is the gm-challenge developer volume exported by testdata/gen_fixture.py.
type fixture struct {
	Source  string     `json:"source"`
	W       int        `json:"w"`
	H       int        `json:"h"`
	Slices  int        `json:"slices"`
	Spacing [2]float64 `json:"spacing"`
	Classes []string   `json:"classes"`
	Samples []data.Sample
}

func loadFixture(t testing.TB) fixture {
	t.Helper()
	f, err := os.Open("testdata/gm_challenge.bin.gz")
	if err != nil {
		t.Fatalf("fixture missing (run /usr/bin/python3 testdata/gen_fixture.py): %v", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(zr)
	line, err := br.ReadBytes('\n')
	if err != nil {
		t.Fatal(err)
	}
	var fx fixture
	if err := json.Unmarshal(line, &fx); err != nil {
		t.Fatal(err)
	}
	plane := fx.W * fx.H
	raw := make([]uint16, fx.Slices*plane)
	if err := binary.Read(br, binary.LittleEndian, raw); err != nil {
		t.Fatal(err)
	}
	masks := make([]byte, fx.Slices*plane)
	if _, err := io.ReadFull(br, masks); err != nil {
		t.Fatal(err)
	}
	for z := range fx.Slices {
		img := make([]float32, plane)
		for i, v := range raw[z*plane : (z+1)*plane] {
			img[i] = float32(v)
		}
		fx.Samples = append(fx.Samples, data.Sample{
			Image: img, Mask: masks[z*plane : (z+1)*plane : (z+1)*plane],
			W: fx.W, H: fx.H, Spacing: fx.Spacing, Key: fmt.Sprintf("gm/slice%02d", z),
		})
	}
	return fx
}

// halves splits the fixture's slices into the even ones (labelled, for training) and the odd ones (held back).
func (fx fixture) halves() (even, odd []data.Sample) {
	for z, s := range fx.Samples {
		if z%2 == 0 {
			even = append(even, s)
		} else {
			odd = append(odd, s)
		}
	}
	return even, odd
}

// discSamples makes n small synthetic slices: a bright ring (class 1) around a darker core (class 2) on noise,
// at varying positions.
func discSamples(n, w, h int) []data.Sample {
	out := make([]data.Sample, n)
	for s := range out {
		img := make([]float32, w*h)
		mask := make([]uint8, w*h)
		cx := float64(w)/2 + float64(w)/8*math.Sin(float64(s))
		cy := float64(h)/2 + float64(h)/8*math.Cos(1.3*float64(s))
		r := float64(min(w, h)) / 4
		for y := range h {
			for x := range w {
				i := y*w + x
				d := math.Hypot(float64(x)-cx, float64(y)-cy)
				noise := 30 * math.Sin(float64(i)*12.9898+float64(s))
				switch {
				case d < r/2:
					img[i], mask[i] = float32(250+noise), 2
				case d < r:
					img[i], mask[i] = float32(400+noise), 1
				default:
					img[i] = float32(100 + noise)
				}
			}
		}
		out[s] = data.Sample{Image: img, Mask: mask, W: w, H: h, Spacing: [2]float64{0.5, 0.5}, Key: fmt.Sprintf("disc%02d", s)}
	}
	return out
}

// quickSettings train the synthetic discs in a fraction of a second per epoch.
func quickSettings() Settings {
	s := DefaultSettings(2)
	s.BudgetSeconds = 0
	s.Epochs = 3
	s.BatchSize = 4
	s.CropW, s.CropH = 32, 32
	s.Augment = data.AugmentConfig{}
	s.CrossValidate = 0 // the 70/15/15 split whatever the number of slices; folds_test.go covers cross-validation
	return s
}
