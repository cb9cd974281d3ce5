package export

import (
	"bytes"
	"encoding/csv"
	"slices"
	"strconv"
	"testing"
)

// Volume and class names that a spreadsheet would evaluate as formulas reach areas.csv as text, behind a
// single quote; other names, and every number, are written as they are.
func TestAreasCSVNeutralisesFormulas(t *testing.T) {
	a := Areas{Classes: []string{"-gm", "wm"}, Volumes: []VolumeAreas{}}
	names := map[string]string{
		`=cmd|' /C calc'!A0`: `'=cmd|' /C calc'!A0`, "+1+1": "'+1+1", "-2+3": "'-2+3", "@SUM(A1)": "'@SUM(A1)",
		"\tlead": "'\tlead", "\rlead": "'\rlead", "sub-01_T2w": "sub-01_T2w", "a=b": "a=b", "'quoted": "'quoted",
	}
	var order []string
	for n := range names {
		order = append(order, n)
	}
	slices.Sort(order)
	for i, n := range order {
		a.Volumes = append(a.Volumes, VolumeAreas{Name: n, SliceMM: 2.5, Slices: []SliceArea{
			{Slice: i, Status: "labelled", AreasMM2: []float64{1.25, 0}}}})
	}
	var buf bytes.Buffer
	if err := a.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"volume", "slice", "position_mm", "status", "'-gm_area_mm2", "wm_area_mm2"}; !slices.Equal(rows[0], want) {
		t.Errorf("header %q, want %q", rows[0], want)
	}
	for i, n := range order {
		want := []string{names[n], strconv.Itoa(i), strconv.FormatFloat(float64(i)*2.5, 'f', 3, 64), "labelled", "1.2500", "0.0000"}
		if !slices.Equal(rows[i+1], want) {
			t.Errorf("volume %q: row %q, want %q", n, rows[i+1], want)
		}
	}
}
