package server

import (
	"fmt"
	"mime"
	"net/http"
	"os"
	"strconv"

	"github.com/labstack/echo/v4"
)

// manualOnly reads the manualOnly query flag: 1/true exports only manual labels, no predictions.
func manualOnly(c echo.Context) (bool, error) {
	raw := c.QueryParam("manualOnly")
	if raw == "" {
		return false, nil
	}
	v, err := strconv.ParseBool(raw)
	if err != nil {
		return false, badRequest("manualOnly %q is not a boolean (use 1 or 0)", raw)
	}
	return v, nil
}

func attachment(c echo.Context, name string) {
	c.Response().Header().Set(echo.HeaderContentDisposition, mime.FormatMediaType("attachment", map[string]string{"filename": name}))
}

// exportVolume sends NAME_seg.nii.gz, the class-index map in the source grid.
func (s *Server) exportVolume(c echo.Context) error {
	vid, err := pathID(c, "vid")
	if err != nil {
		return err
	}
	manual, err := manualOnly(c)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "workbench-export-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	paths, err := ExportVolume(c.Request().Context(), s.store, vid, dir, manual)
	if err != nil {
		return err
	}
	v, err := s.store.Volume(c.Request().Context(), vid)
	if err != nil {
		return err
	}
	f, err := os.Open(paths[0])
	if err != nil {
		return err
	}
	defer f.Close()
	attachment(c, v.Name+"_seg.nii.gz")
	return c.Stream(http.StatusOK, "application/gzip", f)
}

// exportProjectZip streams every volume's export files as one zip; an error after the first bytes can only
// cut the stream short, so it is logged.
func (s *Server) exportProjectZip(c echo.Context) error {
	pid, err := pathID(c, "pid")
	if err != nil {
		return err
	}
	manual, err := manualOnly(c)
	if err != nil {
		return err
	}
	p, err := s.store.Project(c.Request().Context(), pid)
	if err != nil {
		return err
	}
	attachment(c, fmt.Sprintf("%s_segmentations.zip", p.Name))
	c.Response().Header().Set(echo.HeaderContentType, "application/zip")
	c.Response().WriteHeader(http.StatusOK)
	if err := WriteProjectZip(c.Request().Context(), s.store, pid, c.Response(), manual); err != nil {
		s.log.Error("project export interrupted", "project", pid, "err", err)
	}
	return nil
}
