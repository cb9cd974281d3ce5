package server

import (
	"fmt"
	"mime"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/mriworkbench/workbench/internal/export"
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

// exportVolume sends NAME_seg.nii.gz, the class-index map in the source grid, encoded straight into the
// response after everything it needs has been read.
func (s *Server) exportVolume(c echo.Context) error {
	vid, err := pathID(c, "vid")
	if err != nil {
		return err
	}
	manual, err := manualOnly(c)
	if err != nil {
		return err
	}
	seg, err := export.SegmentationFile(c.Request().Context(), s.store, vid, manual)
	if err != nil {
		return err
	}
	attachment(c, seg.Name)
	c.Response().Header().Set(echo.HeaderContentType, "application/gzip")
	c.Response().WriteHeader(http.StatusOK)
	if err := seg.Write(c.Response()); err != nil {
		s.log.Error("volume export interrupted", "volume", vid, "err", err)
	}
	return nil
}

// exportProjectZip streams every volume's export files as one zip, NAME/ per volume. Every volume's original
// file is checked before the response starts, so a project that cannot be exported gets an error status; a
// failure after that can only be reported inside the archive (ERRORS.txt) and in the log.
func (s *Server) exportProjectZip(c echo.Context) error {
	pid, err := pathID(c, "pid")
	if err != nil {
		return err
	}
	manual, err := manualOnly(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	p, err := s.store.Project(ctx, pid)
	if err != nil {
		return err
	}
	zip, err := export.PrepareZip(ctx, s.store, pid)
	if err != nil {
		return err
	}
	attachment(c, fmt.Sprintf("%s_segmentations.zip", p.Name))
	c.Response().Header().Set(echo.HeaderContentType, "application/zip")
	c.Response().WriteHeader(http.StatusOK)
	if err := zip.Write(ctx, c.Response(), manual); err != nil {
		s.log.Error("project export incomplete", "project", pid, "err", err)
	}
	return nil
}
