package server

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/mriworkbench/workbench/internal/drafts"
)

// interpolateRequest is the body of POST /volumes/{vid}/interpolate; every field is optional.
type interpolateRequest struct {
	Slices   []int `json:"slices"`
	Class    *int  `json:"class"`
	From     *int  `json:"from"`
	To       *int  `json:"to"`
	Align    bool  `json:"align"`
	CopyFrom *int  `json:"copyFrom"`
	Into     *int  `json:"into"`
}

type draftJSON struct {
	Slice       int              `json:"slice"`
	Mask        []byte           `json:"mask"` // encoding/json writes []byte as base64
	Existing    *drafts.Existing `json:"existing"`
	BaseVersion int              `json:"baseVersion"`
}

type draftsResponse struct {
	Drafts []draftJSON `json:"drafts"`
	Width  int         `json:"width"`
	Height int         `json:"height"`
}

// interpolate answers label drafts, interpolated between labelled slices or copied from one; nothing is
// stored (the client accepts a draft with the label PUT and X-Origin: interpolated).
func (s *Server) interpolate(c echo.Context) error {
	vid, err := pathID(c, "vid")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if _, err := s.store.Volume(ctx, vid); err != nil {
		return err // an unknown volume is a 404 before the body is judged
	}
	var body interpolateRequest
	if err := s.decodeJSON(c, &body); err != nil {
		return err
	}
	req := drafts.Request{Slices: body.Slices, From: body.From, To: body.To, Align: body.Align, CopyFrom: body.CopyFrom, Into: body.Into}
	if body.Class != nil {
		if *body.Class < 1 {
			return badRequest("class %d is not a class: classes are numbered from 1 (0 is background)", *body.Class)
		}
		req.Class = *body.Class
	}
	res, err := drafts.Make(ctx, s.store, vid, req)
	if err != nil {
		return err
	}
	out := draftsResponse{Drafts: make([]draftJSON, len(res.Drafts)), Width: res.Width, Height: res.Height}
	for i, d := range res.Drafts {
		out.Drafts[i] = draftJSON{Slice: d.Slice, Mask: d.Mask, Existing: d.Existing, BaseVersion: d.BaseVersion}
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, out)
}
