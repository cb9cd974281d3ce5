package export

import (
	"context"
	"encoding/csv"
	"io"
	"strconv"
	"strings"

	"github.com/mriworkbench/workbench/internal/atomicfile"
	"github.com/mriworkbench/workbench/store"
)

// Areas are the cross-sectional areas of every class on every axial slice of a project's volumes, measured
// on the combined segmentation that exports write: each slice's current label, else the active model's
// prediction, else nothing.
type Areas struct {
	Classes []string      `json:"classes"` // class i+1's name
	Volumes []VolumeAreas `json:"volumes"`
}

// VolumeAreas are one volume's areas, slice by slice from the most inferior (canonical slice index).
type VolumeAreas struct {
	VolumeID     int64       `json:"volumeId"`
	Name         string      `json:"name"`
	PixelAreaMM2 float64     `json:"pixelAreaMm2"`
	SliceMM      float64     `json:"sliceMm"` // slice spacing, for a position along the cord
	Slices       []SliceArea `json:"slices"`
}

// SliceArea is one slice's area per class, in mm^2, and where its mask comes from (a store slice status:
// labelled or verified = manual label, predicted = the active model, unlabelled = no mask, areas 0).
type SliceArea struct {
	Slice    int       `json:"slice"`
	Status   string    `json:"status"`
	AreasMM2 []float64 `json:"areasMm2"` // by class, class 1 first
}

// ProjectAreas measures every volume of the project (see Areas).
func ProjectAreas(ctx context.Context, st *store.Store, projectID int64) (Areas, error) {
	p, err := st.Project(ctx, projectID)
	if err != nil {
		return Areas{}, err
	}
	a := Areas{Classes: p.ClassNames(), Volumes: []VolumeAreas{}}
	volumes, err := st.Volumes(ctx, projectID)
	if err != nil {
		return Areas{}, err
	}
	for _, v := range volumes {
		// One snapshot: the statuses describe the very masks measured, even if the active model changes.
		seg, err := st.Segmentation(ctx, v.ID, false)
		if err != nil {
			return Areas{}, err
		}
		a.Volumes = append(a.Volumes, MeasureAreas(v.ID, v.Name, seg.Classes, v.Shape, v.Spacing, len(p.Classes), seg.Statuses))
	}
	return a, nil
}

// MeasureAreas counts each class's pixels per axial slice of a canonical class map (axis 0 fastest) and
// scales them by the in-plane pixel area. statuses may be nil (every slice then reads "predicted").
func MeasureAreas(volumeID int64, name string, seg []uint8, shape [3]int, spacing [3]float64, classes int, statuses []string) VolumeAreas {
	pixel := spacing[0] * spacing[1]
	n := shape[0] * shape[1]
	va := VolumeAreas{VolumeID: volumeID, Name: name, PixelAreaMM2: pixel, SliceMM: spacing[2], Slices: make([]SliceArea, shape[2])}
	counts := make([]int, classes+1)
	for z := range shape[2] {
		clear(counts)
		for _, c := range seg[z*n : (z+1)*n] {
			if int(c) <= classes {
				counts[c]++
			}
		}
		areas := make([]float64, classes)
		for k := range areas {
			areas[k] = float64(counts[k+1]) * pixel
		}
		status := store.StatusPredicted
		if z < len(statuses) {
			status = statuses[z]
		}
		va.Slices[z] = SliceArea{Slice: z, Status: status, AreasMM2: areas}
	}
	return va
}

// WriteCSV writes the table: volume, slice, position along the volume in mm, status, then one
// CLASS_area_mm2 column per class. Volume and class names are user text: see textCell. The other cells are
// the fixed status words and numbers that are never negative (slice indices, positions from a non-negative
// slice spacing, areas), so no cell but a name can start with a formula character.
func (a Areas) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	header := []string{"volume", "slice", "position_mm", "status"}
	for _, c := range a.Classes {
		header = append(header, textCell(c+"_area_mm2"))
	}
	if err := cw.Write(header); err != nil {
		return err
	}
	for _, v := range a.Volumes {
		for _, s := range v.Slices {
			row := []string{textCell(v.Name), strconv.Itoa(s.Slice), strconv.FormatFloat(float64(s.Slice)*v.SliceMM, 'f', 3, 64), s.Status}
			for _, area := range s.AreasMM2 {
				row = append(row, strconv.FormatFloat(area, 'f', 4, 64))
			}
			if err := cw.Write(row); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// textCell neutralises a text cell that a spreadsheet would run as a formula (CSV injection: a volume named
// "=HYPERLINK(...)" or "@SUM(...)"): a cell starting with = + - @, a tab or a carriage return gets a leading
// single quote, which spreadsheets show as text and do not evaluate (OWASP's advice).
func textCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// WriteCSVFile writes the table to path atomically.
func (a Areas) WriteCSVFile(path string) error {
	return atomicfile.Write(path, 0o644, a.WriteCSV)
}
