package server

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/mriworkbench/workbench/internal/event"
	"github.com/mriworkbench/workbench/store"
)

// Label metadata travels in headers next to binary masks.
const (
	headerBaseVersion   = "X-Base-Version"
	headerAuthor        = "X-Author"
	headerRestoredFrom  = "X-Restored-From" // a save that restores an earlier version names it, for the audit trail
	headerOrigin        = "X-Origin"
	headerLabelVersion  = "X-Label-Version"
	headerLabelOrigin   = "X-Label-Origin"
	headerLabelVerified = "X-Label-Verified"
	headerLabelAuthor   = "X-Label-Author"
)

type verifiedRequest struct {
	Verified    *bool  `json:"verified"`
	BaseVersion *int   `json:"baseVersion"`
	Author      string `json:"author"`
}

// getLabel sends the slice's current mask. A slice never labelled, or whose label was deleted, is a 404; for
// a deleted one the body and X-Label-Version carry the current version, the base of the next save.
func (s *Server) getLabel(c echo.Context) error {
	v, z, err := s.sliceParams(c)
	if err != nil {
		return err
	}
	if own, err := s.ownReads(c, v); err != nil {
		return err
	} else if own {
		return s.getOwnRead(c, v, z)
	}
	l, err := s.store.Label(c.Request().Context(), v.ID, z)
	if err != nil {
		return err
	}
	if l.Deleted {
		c.Response().Header().Set(headerLabelVersion, strconv.Itoa(l.Version))
		return c.JSON(http.StatusNotFound, errorBody{
			Error:          fmt.Sprintf("volume %d slice %d has no label: version %d deleted it", v.ID, z, l.Version),
			CurrentVersion: &l.Version,
		})
	}
	return sendLabelMask(c, l)
}

func sendLabelMask(c echo.Context, l store.Label) error {
	h := c.Response().Header()
	h.Set(headerLabelVersion, strconv.Itoa(l.Version))
	h.Set(headerLabelOrigin, l.Origin)
	h.Set(headerLabelVerified, strconv.FormatBool(l.Verified))
	h.Set(headerLabelAuthor, url.PathEscape(l.Author))
	h.Set("Cache-Control", "no-store")
	return c.Blob(http.StatusOK, echo.MIMEOctetStream, l.Mask)
}

// putLabel saves a new label version from a raw mask of exactly W*H bytes.
func (s *Server) putLabel(c echo.Context) error {
	v, z, err := s.sliceParams(c)
	if err != nil {
		return err
	}
	base, err := baseVersionHeader(c)
	if err != nil {
		return err
	}
	author, err := s.authorFor(c, "")
	if err != nil {
		return err
	}
	mask, err := readMask(c, v.SliceLen())
	if err != nil {
		return err
	}
	if own, err := s.ownReads(c, v); err != nil {
		return err
	} else if own {
		return s.saveOwnRead(c, v, z, base, mask)
	}
	l, err := s.store.SaveLabel(c.Request().Context(), store.LabelWrite{
		VolumeID: v.ID, Slice: z, BaseVersion: base, Mask: mask, Author: author,
		Origin: c.Request().Header.Get(headerOrigin),
	})
	if err != nil {
		return err
	}
	if l.Origin == store.OriginPrediction {
		s.audit(c, "label.accept", labelTarget(v, z), fmt.Sprintf("version %d", l.Version))
	}
	if from, err := parseVersion(headerRestoredFrom, c.Request().Header.Get(headerRestoredFrom)); err == nil && from > 0 {
		s.audit(c, "label.restore", labelTarget(v, z), fmt.Sprintf("version %d saved again as version %d", from, l.Version))
	}
	return s.labelChanged(c, v, l)
}

// baseVersionParam is the version a change builds on, from ?baseVersion= (where a request has no body to carry
// headers conveniently, e.g. a link) or the X-Base-Version header.
func baseVersionParam(c echo.Context) (int, error) {
	raw := c.QueryParam("baseVersion")
	if raw == "" {
		raw = c.Request().Header.Get(headerBaseVersion)
	}
	return parseVersion("baseVersion", raw)
}

// deleteLabel stores a deletion; the history keeps every earlier version.
func (s *Server) deleteLabel(c echo.Context) error {
	v, z, err := s.sliceParams(c)
	if err != nil {
		return err
	}
	base, err := baseVersionParam(c)
	if err != nil {
		return err
	}
	author, err := s.authorFor(c, "")
	if err != nil {
		return err
	}
	if own, err := s.ownReads(c, v); err != nil {
		return err
	} else if own {
		return s.saveOwnRead(c, v, z, base, nil)
	}
	l, err := s.store.DeleteLabel(c.Request().Context(), v.ID, z, base, author)
	if err != nil {
		return err
	}
	s.audit(c, "label.delete", labelTarget(v, z), fmt.Sprintf("version %d", l.Version))
	return s.labelChanged(c, v, l)
}

func (s *Server) putVerified(c echo.Context) error {
	v, z, err := s.sliceParams(c)
	if err != nil {
		return err
	}
	var req verifiedRequest
	if err := s.decodeJSON(c, &req); err != nil {
		return err
	}
	if req.Verified == nil || req.BaseVersion == nil {
		return badRequest("body needs verified (true or false) and baseVersion")
	}
	author, err := s.authorFor(c, req.Author)
	if err != nil {
		return err
	}
	l, err := s.store.SetVerified(c.Request().Context(), v.ID, z, *req.BaseVersion, *req.Verified, author)
	if err != nil {
		return err
	}
	action := "label.verify"
	if !l.Verified {
		action = "label.unverify"
	}
	s.audit(c, action, labelTarget(v, z), fmt.Sprintf("version %d", l.Version))
	return s.labelChanged(c, v, l)
}

// labelChanged tells the project's other clients about a new version and answers with its metadata.
func (s *Server) labelChanged(c echo.Context, v store.VolumeMeta, l store.Label) error {
	s.hub.Publish(v.ProjectID, event.Label{VolumeID: v.ID, Slice: l.Slice, Version: l.Version,
		Author: l.Author, Origin: l.Origin, Verified: l.Verified, Deleted: l.Deleted})
	l.Mask = nil
	return c.JSON(http.StatusOK, l)
}

func (s *Server) labelHistory(c echo.Context) error {
	v, z, err := s.sliceParams(c)
	if err != nil {
		return err
	}
	if own, err := s.ownReads(c, v); err != nil {
		return err
	} else if own {
		return s.ownReadHistory(c, v, z)
	}
	history, err := s.store.LabelHistory(c.Request().Context(), v.ID, z)
	if err != nil {
		return err
	}
	out := make([]store.Label, len(history))
	for i, l := range history {
		l.Mask = nil
		out[i] = l
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) labelVersion(c echo.Context) error {
	v, z, err := s.sliceParams(c)
	if err != nil {
		return err
	}
	n, err := pathInt(c, "n")
	if err != nil {
		return err
	}
	if own, err := s.ownReads(c, v); err != nil {
		return err
	} else if own {
		return s.ownReadVersion(c, v, z, n)
	}
	l, err := s.store.LabelVersion(c.Request().Context(), v.ID, z, n)
	if err != nil {
		return err
	}
	if l.Deleted {
		return echo.NewHTTPError(http.StatusNotFound,
			fmt.Sprintf("version %d of volume %d slice %d is a deletion and has no mask", n, v.ID, z))
	}
	return sendLabelMask(c, l)
}

// getPrediction sends the active model's prediction for the slice, or with ?model=ID that model's (a
// candidate's, to view beside the active one).
func (s *Server) getPrediction(c echo.Context) error {
	v, z, err := s.sliceParams(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	m, err := s.predictionModel(c, v.ProjectID)
	if err != nil {
		return err
	}
	p, err := s.store.Prediction(ctx, m.ID, v.ID, z)
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("X-Model-Id", strconv.FormatInt(m.ID, 10))
	h.Set("X-Model-Status", m.Status)
	h.Set("X-Uncertainty", strconv.FormatFloat(p.Uncertainty, 'g', -1, 64))
	h.Set("Cache-Control", "no-store")
	return c.Blob(http.StatusOK, echo.MIMEOctetStream, p.Mask)
}

// predictionModel is the model whose predictions a request reads: ?model=ID (of the project), else the active one.
func (s *Server) predictionModel(c echo.Context, projectID int64) (store.ModelVersion, error) {
	ctx := c.Request().Context()
	if raw := c.QueryParam("model"); raw != "" {
		id, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || id <= 0 {
			return store.ModelVersion{}, badRequest("model %q is not a model id", raw)
		}
		m, err := s.store.Model(ctx, id)
		if err == nil && m.ProjectID != projectID {
			err = fmt.Errorf("model %d of this project: %w", id, store.ErrNotFound)
		}
		return m, err
	}
	m, err := s.store.ActiveModel(ctx, projectID)
	if errors.Is(err, store.ErrNotFound) {
		return m, echo.NewHTTPError(http.StatusNotFound, "the project has no trained model yet")
	}
	return m, err
}

func baseVersionHeader(c echo.Context) (int, error) {
	return parseVersion(headerBaseVersion, c.Request().Header.Get(headerBaseVersion))
}

// parseVersion requires a base version: without one a save could silently overwrite another's work.
func parseVersion(name, raw string) (int, error) {
	if raw == "" {
		return 0, badRequest("%s is required (0 when the slice has no label yet)", name)
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 0 {
		return 0, badRequest("%s %q is not a non-negative integer", name, raw)
	}
	return n, nil
}

// authorOf takes the author from the body when given, else from X-Author, which may be percent-encoded
// UTF-8 (HTTP headers carry only ASCII reliably).
func authorOf(c echo.Context, fromBody string) (string, error) {
	if fromBody != "" {
		return fromBody, nil
	}
	raw := c.Request().Header.Get(headerAuthor)
	if !strings.Contains(raw, "%") {
		return raw, nil
	}
	author, err := url.PathUnescape(raw)
	if err != nil {
		return "", badRequest("%s %q is not valid percent-encoding", headerAuthor, raw)
	}
	return author, nil
}

// readMask reads a body of exactly n bytes: a longer one is refused as too large (413) before it is read in
// full, a shorter one as the wrong size (400).
func readMask(c echo.Context, n int) ([]uint8, error) {
	req := c.Request()
	if req.ContentLength > int64(n) {
		return nil, &http.MaxBytesError{Limit: int64(n)}
	}
	body := http.MaxBytesReader(c.Response(), req.Body, int64(n))
	mask, err := io.ReadAll(body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, err
		}
		return nil, badRequest("cannot read the mask: %v", err)
	}
	if len(mask) != n {
		return nil, badRequest("mask has %d bytes; this volume's slices need exactly %d (W*H, one uint8 class index per voxel)", len(mask), n)
	}
	return mask, nil
}
