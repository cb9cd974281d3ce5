package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/mriworkbench/workbench/internal/event"
	"github.com/mriworkbench/workbench/internal/ingest"
	"github.com/mriworkbench/workbench/nifti"
	"github.com/mriworkbench/workbench/store"
)

// labelMapResult answers a label map upload: the slices labelled and their new versions.
type labelMapResult struct {
	VolumeID int64         `json:"volumeId"`
	Labels   []store.Label `json:"labels"`
}

// maxFieldBytes bounds the upload's small form fields (slices, replace).
const maxFieldBytes = 64 << 10

// uploadLabelMap labels slices of an existing volume from one integer label map on the volume's own grid
// (multipart field "file"; value k is the project's k-th class), checked as the CLI's import checks it.
// Optional fields: "slices" ("0,3,7"; default every slice) and "replace" ("true" writes new versions over
// slices that have a label, else they are refused with a 409 naming them). All slices are stored or none.
func (s *Server) uploadLabelMap(c echo.Context) error {
	req := c.Request()
	if req.ContentLength > s.cfg.MaxUploadBytes {
		c.Response().Header().Set(echo.HeaderConnection, "close")
		return uploadTooLarge(req.ContentLength, s.cfg.MaxUploadBytes)
	}
	vid, err := pathID(c, "vid")
	if err != nil {
		return err
	}
	ctx := req.Context()
	v, err := s.store.Volume(ctx, vid)
	if err != nil {
		return err
	}
	p, err := s.store.Project(ctx, v.ProjectID)
	if err != nil {
		return err
	}
	author, err := s.authorFor(c, "")
	if err != nil {
		return err
	}
	req.Body = http.MaxBytesReader(rawWriter(c), req.Body, s.cfg.MaxUploadBytes)
	form, err := s.readLabelMapForm(c)
	if err != nil {
		return err
	}
	defer form.counted.release()
	replace, err := parseReplace(form.replace)
	if err != nil {
		return err
	}
	chosen, err := ingest.ParseSlices(form.slices, v.Shape[2])
	if err != nil {
		return err
	}
	select { // decoding holds the map as float32: only a few uploads at a time
	case s.uploads <- struct{}{}:
		defer func() { <-s.uploads }()
	case <-ctx.Done():
		return ctx.Err()
	}
	header, err := nifti.ReadHeader(s.store.OriginalPath(v))
	if err != nil {
		return fmt.Errorf("volume %q: stored file: %w", v.Name, err)
	}
	labels, err := ingest.ReadLabelMap(form.fileName, form.data, nifti.ReadOptions{MaxVoxels: s.cfg.MaxVoxels})
	if err != nil {
		return err
	}
	classMap, err := ingest.LabelMap(&nifti.Image{Header: *header}, form.fileName, labels, p)
	if err != nil {
		return err
	}
	saved, err := s.store.SaveSliceLabels(ctx, v.ID, ingest.SliceLabels(classMap, v.Shape, chosen), author, replace)
	var already *store.AlreadyLabelledError
	if errors.As(err, &already) {
		return echo.NewHTTPError(http.StatusConflict, fmt.Sprintf(
			"%s; upload with replace=true to write new versions over them (their history keeps the old ones), or choose other slices",
			strings.TrimPrefix(already.Error(), fmt.Sprintf("volume %d: ", v.ID))))
	}
	if err != nil {
		return err
	}
	replaced := 0
	for _, l := range saved {
		if l.Version > 1 {
			replaced++
		}
	}
	s.audit(c, "labelmap.upload", volumeTarget(v), fmt.Sprintf("%d slices from %s (%d over earlier versions)", len(saved), form.fileName, replaced))
	for _, l := range saved {
		s.hub.Publish(v.ProjectID, event.Label{VolumeID: v.ID, Slice: l.Slice, Version: l.Version,
			Author: l.Author, Origin: l.Origin})
	}
	return c.JSON(http.StatusOK, labelMapResult{VolumeID: v.ID, Labels: saved})
}

// labelMapForm is a label map upload's fields.
type labelMapForm struct {
	fileName, slices, replace string
	data                      []byte
	counted                   *budgetReader // holds the file's bytes against the upload budget until released
}

// readLabelMapForm reads every part of the multipart body, in any order: the file under the upload budget,
// the small fields under maxFieldBytes.
func (s *Server) readLabelMapForm(c echo.Context) (*labelMapForm, error) {
	mr, err := c.Request().MultipartReader()
	if err != nil {
		return nil, badRequest("upload must be multipart/form-data with a field named file: %v", err)
	}
	form := &labelMapForm{counted: &budgetReader{budget: s.budget}}
	fail := func(err error) (*labelMapForm, error) {
		form.counted.release()
		return nil, err
	}
	haveFile := false
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fail(uploadReadError(c, err, s.budget.limit))
		}
		switch part.FormName() {
		case "file":
			if haveFile {
				return fail(badRequest("upload has more than one file; send one label map"))
			}
			if part.FileName() == "" {
				return fail(badRequest("the file field carries no file name"))
			}
			haveFile, form.fileName = true, part.FileName()
			form.counted.r = part
			var data bytes.Buffer
			if _, err := data.ReadFrom(form.counted); err != nil {
				return fail(uploadReadError(c, err, s.budget.limit))
			}
			form.data = data.Bytes()
		case "slices", "replace":
			value, err := io.ReadAll(io.LimitReader(part, maxFieldBytes+1))
			if err != nil {
				return fail(uploadReadError(c, err, s.budget.limit))
			}
			if len(value) > maxFieldBytes {
				return fail(badRequest("field %s is longer than %d bytes", part.FormName(), maxFieldBytes))
			}
			if part.FormName() == "slices" {
				form.slices = string(value)
			} else {
				form.replace = string(value)
			}
		}
	}
	if !haveFile {
		return fail(badRequest("upload has no field named file"))
	}
	return form, nil
}

func parseReplace(raw string) (bool, error) {
	switch strings.TrimSpace(raw) {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, badRequest("replace %q is neither true nor false", raw)
}
