package server

import (
	"encoding/csv"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/mriworkbench/workbench/internal/agreement"
	"github.com/mriworkbench/workbench/store"
)

// agreementRow is one class of one pair of reads of one slice.
type agreementRow struct {
	VolumeID   int64  `json:"volumeId"`
	Volume     string `json:"volume"`
	Slice      int    `json:"slice"`
	AnnotatorA string `json:"annotatorA"`
	AnnotatorB string `json:"annotatorB"`
	ClassName  string `json:"className"`
	agreement.ClassAgreement
}

// classSummary is a class's agreement over the project: the mean and lowest Dice over every pair of reads.
type classSummary struct {
	Class     int     `json:"class"`
	ClassName string  `json:"className"`
	Pairs     int     `json:"pairs"`
	MeanDice  float64 `json:"meanDice"`
	MinDice   float64 `json:"minDice"`
}

type agreementTable struct {
	Rows    []agreementRow `json:"rows"`
	Classes []classSummary `json:"classes"`
	Slices  int            `json:"slices"` // slices with two reads or more
}

// projectAgreement compares every pair of reads of every slice of the project that has two or more.
func (s *Server) projectAgreement(c echo.Context) (agreementTable, error) {
	pid, err := pathID(c, "pid")
	if err != nil {
		return agreementTable{}, err
	}
	ctx := c.Request().Context()
	p, err := s.store.Project(ctx, pid)
	if err != nil {
		return agreementTable{}, err
	}
	reads, err := s.store.ProjectReads(ctx, pid)
	if err != nil {
		return agreementTable{}, err
	}
	table := agreementTable{Rows: []agreementRow{}, Classes: []classSummary{}}
	volumes := map[int64]store.VolumeMeta{}
	for i := 0; i < len(reads); {
		j := i
		for j < len(reads) && reads[j].VolumeID == reads[i].VolumeID && reads[j].Slice == reads[i].Slice {
			j++
		}
		group := reads[i:j]
		i = j
		if len(group) < 2 {
			continue
		}
		v, ok := volumes[group[0].VolumeID]
		if !ok {
			if v, err = s.store.Volume(ctx, group[0].VolumeID); err != nil {
				return agreementTable{}, err
			}
			volumes[v.ID] = v
		}
		masks := make([][]uint8, len(group))
		for k, r := range group {
			masks[k] = r.Mask
		}
		pairs, err := agreement.Pairwise(gridOf(v), masks, len(p.Classes))
		if err != nil {
			return agreementTable{}, err
		}
		table.Slices++
		for _, pair := range pairs {
			for _, ca := range pair.Classes {
				table.Rows = append(table.Rows, agreementRow{VolumeID: v.ID, Volume: v.Name, Slice: group[0].Slice,
					AnnotatorA: group[pair.A].Annotator, AnnotatorB: group[pair.B].Annotator,
					ClassName: p.Classes[ca.Class-1].Name, ClassAgreement: ca})
			}
		}
	}
	for k, class := range p.Classes {
		sum := classSummary{Class: k + 1, ClassName: class.Name, MinDice: 1}
		for _, r := range table.Rows {
			if r.Class == k+1 {
				sum.Pairs++
				sum.MeanDice += r.Dice
				sum.MinDice = min(sum.MinDice, r.Dice)
			}
		}
		if sum.Pairs > 0 {
			sum.MeanDice /= float64(sum.Pairs)
			table.Classes = append(table.Classes, sum)
		}
	}
	return table, nil
}

func (s *Server) getAgreement(c echo.Context) error {
	table, err := s.projectAgreement(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, table)
}

func (s *Server) getAgreementCSV(c echo.Context) error {
	table, err := s.projectAgreement(c)
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set(echo.HeaderContentDisposition, `attachment; filename="agreement.csv"`)
	c.Response().WriteHeader(http.StatusOK)
	w := csv.NewWriter(c.Response())
	_ = w.Write([]string{"volume", "slice", "annotator_a", "annotator_b", "class", "dice", "hausdorff_mm", "hd95_mm",
		"area_a_mm2", "area_b_mm2", "area_diff_mm2"})
	num := func(f float64) string { return strconv.FormatFloat(f, 'f', 4, 64) }
	opt := func(f *float64) string {
		if f == nil {
			return "" // one read has the class, the other not: no distance
		}
		return num(*f)
	}
	for _, r := range table.Rows {
		_ = w.Write([]string{cell(r.Volume), strconv.Itoa(r.Slice), cell(r.AnnotatorA), cell(r.AnnotatorB), cell(r.ClassName),
			num(r.Dice), opt(r.HausdorffMM), opt(r.HD95MM), num(r.AreaAMM2), num(r.AreaBMM2), num(r.AreaDiffMM2)})
	}
	w.Flush()
	return w.Error()
}
