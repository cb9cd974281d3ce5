package interp

import (
	"encoding/json"
	"os"
	"strconv"
	"testing"
)

// goldenCase is one input of testdata/golden.json and the drafts numpy and scipy computed for it
// (testdata/gen_golden.py, from the package documentation's definition).
type goldenCase struct {
	Name      string             `json:"name"`
	Width     int                `json:"width"`
	Height    int                `json:"height"`
	Depth     int                `json:"depth"`
	Spacing   [2]float64         `json:"spacing"`
	Classes   int                `json:"classes"`
	Class     int                `json:"class"`
	From      *int               `json:"from"`
	To        *int               `json:"to"`
	Align     bool               `json:"align"`
	Labelled  map[string][]uint8 `json:"labelled"`
	Drafts    map[string][]uint8 `json:"drafts"`
	Ambiguous map[string][]int   `json:"ambiguous"` // voxels whose outcome hangs on rounding
}

// The drafts agree with the reference on every voxel but those whose interpolated distance is within 1e-6 of
// zero (or of the runner-up class), where rounding may go either way.
func TestFillMatchesScipyReference(t *testing.T) {
	raw, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var golden struct{ Cases []goldenCase }
	if err := json.Unmarshal(raw, &golden); err != nil {
		t.Fatal(err)
	}
	if len(golden.Cases) == 0 {
		t.Fatal("testdata/golden.json has no cases")
	}
	for _, c := range golden.Cases {
		t.Run(c.Name, func(t *testing.T) {
			labelled := map[int][]uint8{}
			for z, m := range c.Labelled {
				labelled[atoi(t, z)] = m
			}
			opts := Options{Class: c.Class, Align: c.Align}
			if c.From != nil || c.To != nil {
				r := Range{From: 0, To: c.Depth - 1}
				if c.From != nil {
					r.From = *c.From
				}
				if c.To != nil {
					r.To = *c.To
				}
				opts.Slices = &r
			}
			g := Grid{Width: c.Width, Height: c.Height, Depth: c.Depth, SpacingX: c.Spacing[0], SpacingY: c.Spacing[1]}
			drafts := fill(t, g, labelled, c.Classes, opts)
			if len(drafts) != len(c.Drafts) {
				t.Fatalf("drafts for slices %v, the reference has %d", keys(drafts), len(c.Drafts))
			}
			compared, ambiguous, claimed := 0, 0, 0
			for zs, want := range c.Drafts {
				z := atoi(t, zs)
				got, ok := drafts[z]
				if !ok {
					t.Fatalf("no draft for slice %d", z)
				}
				unsure := map[int]bool{}
				for _, i := range c.Ambiguous[zs] {
					unsure[i] = true
				}
				for i := range want {
					switch {
					case unsure[i]:
						ambiguous++
					case got[i] != want[i]:
						t.Errorf("slice %d voxel (%d,%d): class %d, reference %d", z, i%c.Width, i/c.Width, got[i], want[i])
					default:
						compared++
						if want[i] != 0 {
							claimed++
						}
					}
				}
			}
			// The comparison must mean something: most voxels compared, many of them claimed by a class.
			if ambiguous*20 > compared || claimed*25 < compared {
				t.Errorf("%d voxels compared (%d of a class), %d left out as ambiguous", compared, claimed, ambiguous)
			}
		})
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
