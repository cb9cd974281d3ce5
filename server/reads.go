package server

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/mriworkbench/workbench/internal/agreement"
	"github.com/mriworkbench/workbench/store"
)

// Several annotators on one slice (a project's readsMode multi or blind): an annotator's label routes act on
// the annotator's own read, so the viewer works unchanged; reviewers see every read side by side with their
// agreement and adjudicate, and what they decide goes into the labels that training reads.

// ownReads reports whether the request's label operations act on the actor's own read: an authenticated
// annotator in a project with several annotators per slice. Reviewers and admins edit the labels.
func (s *Server) ownReads(c echo.Context, v store.VolumeMeta) (bool, error) {
	a := actorOf(c)
	if !a.Authenticated || a.Role != store.RoleAnnotator {
		return false, nil
	}
	p, err := s.store.Project(c.Request().Context(), v.ProjectID)
	if err != nil {
		return false, err
	}
	return p.ReadsMode != store.ReadsSingle, nil
}

// readAsLabel shows an annotator's read as the label the viewer edits.
func readAsLabel(r store.Read) store.Label {
	return store.Label{VolumeID: r.VolumeID, Slice: r.Slice, Version: r.Version, Mask: r.Mask, Author: r.Annotator,
		Origin: store.OriginManual, Deleted: r.Deleted, CreatedAt: r.CreatedAt}
}

func (s *Server) getOwnRead(c echo.Context, v store.VolumeMeta, z int) error {
	r, err := s.store.AnnotatorRead(c.Request().Context(), v.ID, z, actorOf(c).Name)
	if err != nil {
		return err
	}
	if r.Deleted {
		c.Response().Header().Set(headerLabelVersion, strconv.Itoa(r.Version))
		return c.JSON(http.StatusNotFound, errorBody{
			Error: fmt.Sprintf("you have no label of volume %d slice %d: version %d deleted it", v.ID, z, r.Version), CurrentVersion: &r.Version})
	}
	return sendLabelMask(c, readAsLabel(r))
}

// saveOwnRead stores the annotator's read (mask nil: deletes it). Other clients are not told: in blind mode
// nobody may learn what an annotator drew, and reads do not change what the others edit.
func (s *Server) saveOwnRead(c echo.Context, v store.VolumeMeta, z, base int, mask []uint8) error {
	r, err := s.store.SaveRead(c.Request().Context(), v.ID, z, base, actorOf(c).Name, mask)
	if err != nil {
		return err
	}
	if mask == nil {
		s.audit(c, "read.delete", labelTarget(v, z), fmt.Sprintf("version %d", r.Version))
	}
	l := readAsLabel(r)
	l.Mask = nil
	return c.JSON(http.StatusOK, l)
}

func (s *Server) ownReadHistory(c echo.Context, v store.VolumeMeta, z int) error {
	history, err := s.store.ReadHistory(c.Request().Context(), v.ID, z, actorOf(c).Name)
	if err != nil {
		return err
	}
	out := make([]store.Label, len(history))
	for i, r := range history {
		r.Mask = nil
		out[i] = readAsLabel(r)
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) ownReadVersion(c echo.Context, v store.VolumeMeta, z, n int) error {
	history, err := s.store.ReadHistory(c.Request().Context(), v.ID, z, actorOf(c).Name)
	if err != nil {
		return err
	}
	for _, r := range history {
		if r.Version == n && !r.Deleted {
			return sendLabelMask(c, readAsLabel(r))
		}
	}
	return echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("you have no version %d of volume %d slice %d", n, v.ID, z))
}

// ownReadStates shows the annotator the slice states of its own reads: a slice it has read is labelled at
// the read's version (the base of its next save); the rest keep their prediction state, as unlabelled.
func (s *Server) ownReadStates(c echo.Context, v store.VolumeMeta, slices []sliceInfo) error {
	name := actorOf(c).Name
	for i := range slices {
		if slices[i].Status == store.StatusLabelled || slices[i].Status == store.StatusVerified {
			slices[i].Status = store.StatusUnlabelled
		}
		slices[i].LabelVersion, slices[i].Verified = 0, false
	}
	history, err := s.store.VolumeAnnotatorReads(c.Request().Context(), v.ID, name)
	if err != nil {
		return err
	}
	for _, r := range history {
		if r.Slice < len(slices) {
			slices[r.Slice].LabelVersion = r.Version
			if !r.Deleted {
				slices[r.Slice].Status = store.StatusLabelled
			}
		}
	}
	return nil
}

type readView struct {
	Annotator string `json:"annotator"`
	Version   int    `json:"version"`
	Mask      string `json:"mask"` // base64 of W*H class indices
	CreatedAt string `json:"createdAt"`
}

type sliceReadsResponse struct {
	Width     int              `json:"width"`
	Height    int              `json:"height"`
	Reads     []readView       `json:"reads"`
	Agreement []agreement.Pair `json:"agreement"` // every pair of reads (indices into reads), per class
	Revealed  bool             `json:"revealed"`
	Label     *store.Label     `json:"label,omitempty"` // the slice's current (adjudicated) label, without its mask
}

// getSliceReads sends every annotator's read of a slice with their agreement. A reviewer opening them
// reveals them (blind mode); an annotator sees them only once revealed, or in multi mode.
func (s *Server) getSliceReads(c echo.Context) error {
	v, z, err := s.sliceParams(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	p, err := s.store.Project(ctx, v.ProjectID)
	if err != nil {
		return err
	}
	a := actorOf(c)
	revealed, err := s.store.ReadsRevealed(ctx, v.ID, z)
	if err != nil {
		return err
	}
	reviewer := a.Role.Includes(store.RoleReviewer)
	if p.ReadsMode == store.ReadsBlind && !revealed && !reviewer {
		return echo.NewHTTPError(http.StatusForbidden, fmt.Sprintf(
			"blind reads: the other annotators' labels of slice %d stay hidden until a reviewer opens them", z))
	}
	reads, err := s.store.SliceReads(ctx, v.ID, z)
	if err != nil {
		return err
	}
	if reviewer && !revealed && len(reads) > 0 {
		if err := s.store.RevealReads(ctx, v.ID, z, a.Name); err != nil {
			return err
		}
		revealed = true
		s.audit(c, "reads.reveal", labelTarget(v, z), fmt.Sprintf("%d reads", len(reads)))
	}
	resp := sliceReadsResponse{Width: v.Shape[0], Height: v.Shape[1], Reads: []readView{}, Agreement: []agreement.Pair{}, Revealed: revealed}
	masks := make([][]uint8, len(reads))
	for i, r := range reads {
		masks[i] = r.Mask
		resp.Reads = append(resp.Reads, readView{Annotator: r.Annotator, Version: r.Version,
			Mask: base64.StdEncoding.EncodeToString(r.Mask), CreatedAt: r.CreatedAt.Format("2006-01-02T15:04:05Z07:00")})
	}
	if len(reads) > 1 {
		if resp.Agreement, err = agreement.Pairwise(gridOf(v), masks, len(p.Classes)); err != nil {
			return err
		}
	}
	switch l, err := s.store.Label(ctx, v.ID, z); {
	case err == nil:
		l.Mask = nil
		resp.Label = &l
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	return c.JSON(http.StatusOK, resp)
}

func gridOf(v store.VolumeMeta) agreement.Grid {
	return agreement.Grid{W: v.Shape[0], H: v.Shape[1], DX: v.Spacing[0], DY: v.Spacing[1]}
}

type adjudicateRequest struct {
	Method      string `json:"method"`    // "read" (one annotator's), "majority" or "staple"
	Annotator   string `json:"annotator"` // for "read"
	BaseVersion *int   `json:"baseVersion"`
}

// adjudicate writes the reviewer's decision between the reads of a slice into its label, which training
// uses: one annotator's read (origin adjudicated), or their majority vote or STAPLE consensus (origin
// consensus).
func (s *Server) adjudicate(c echo.Context) error {
	v, z, err := s.sliceParams(c)
	if err != nil {
		return err
	}
	var req adjudicateRequest
	if err := s.decodeJSON(c, &req); err != nil {
		return err
	}
	if req.BaseVersion == nil {
		return badRequest("body needs baseVersion (the slice label's current version, 0 when it has none)")
	}
	ctx := c.Request().Context()
	p, err := s.store.Project(ctx, v.ProjectID)
	if err != nil {
		return err
	}
	reads, err := s.store.SliceReads(ctx, v.ID, z)
	if err != nil {
		return err
	}
	masks := make([][]uint8, len(reads))
	for i, r := range reads {
		masks[i] = r.Mask
	}
	var mask []uint8
	origin, detail := store.OriginConsensus, req.Method
	switch req.Method {
	case "read":
		for _, r := range reads {
			if r.Annotator == req.Annotator {
				mask = r.Mask
			}
		}
		if mask == nil {
			return echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("slice %d has no read by %q", z, req.Annotator))
		}
		origin, detail = store.OriginAdjudicated, "read of "+req.Annotator
	case "majority", "staple":
		if len(reads) < 2 {
			return echo.NewHTTPError(http.StatusConflict, fmt.Sprintf("a %s needs at least two reads; slice %d has %d", req.Method, z, len(reads)))
		}
		if req.Method == "majority" {
			mask, err = agreement.MajorityVote(gridOf(v), masks, len(p.Classes))
		} else {
			var res *agreement.StapleResult
			if res, err = agreement.Staple(gridOf(v), masks, len(p.Classes), agreement.StapleOptions{}); err == nil {
				mask = res.Consensus
				detail = fmt.Sprintf("staple (%d iterations)", res.Iterations)
			}
		}
		if err != nil {
			return err
		}
	default:
		return badRequest("method %q: want read, majority or staple", req.Method)
	}
	l, err := s.store.SaveLabel(ctx, store.LabelWrite{VolumeID: v.ID, Slice: z, BaseVersion: *req.BaseVersion, Mask: mask,
		Author: actorOf(c).Name, Origin: origin})
	if err != nil {
		return err
	}
	s.audit(c, "label.adjudicate", labelTarget(v, z), fmt.Sprintf("%s of %d reads, version %d", detail, len(reads), l.Version))
	return s.labelChanged(c, v, l)
}

// listVolumeReads says which slices of a volume have reads, by whom, and whether they were opened.
func (s *Server) listVolumeReads(c echo.Context) error {
	vid, err := pathID(c, "vid")
	if err != nil {
		return err
	}
	if _, err := s.store.Volume(c.Request().Context(), vid); err != nil {
		return err
	}
	sums, err := s.store.VolumeReads(c.Request().Context(), vid)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, sums)
}
