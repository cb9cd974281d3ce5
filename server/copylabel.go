package server

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/mriworkbench/workbench/internal/drafts"
	"github.com/mriworkbench/workbench/store"
)

// copyLabel stores slice from's live label as slice z's next version ("copy the label from the slice
// above/below", for scripts; the viewer uses the copy draft of POST /interpolate and saves it itself). With
// class=K only class K is copied: z keeps its other classes and its class K becomes from's. The save is based
// on X-Base-Version (or ?baseVersion) like any label PUT, so a stale base is a 409 and nothing is overwritten
// unknowingly; the new version's origin is interpolated, as an accepted draft's.
func (s *Server) copyLabel(c echo.Context) error {
	v, z, err := s.sliceParams(c)
	if err != nil {
		return err
	}
	from, err := queryInt(c, "from", true)
	if err != nil {
		return err
	}
	class, err := queryInt(c, "class", false)
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
		return badRequest("copy stores the slice's shared label; in a several-reads project an annotator saves its own read with PUT")
	}
	if class != nil && *class < 1 {
		return badRequest("class %d is not a class: classes are numbered from 1 (0 is background)", *class)
	}
	ctx := c.Request().Context()
	req := drafts.Request{CopyFrom: from, Into: &z}
	if class != nil {
		req.Class = *class
	}
	res, err := drafts.Make(ctx, s.store, v.ID, req)
	if err != nil {
		return err
	}
	if len(res.Drafts) != 1 {
		return fmt.Errorf("copy of slice %d into %d made %d drafts", *from, z, len(res.Drafts))
	}
	mask := res.Drafts[0].Mask
	if class != nil {
		if mask, err = s.mergeClass(c, v.ID, z, *class, mask); err != nil {
			return err
		}
	}
	l, err := s.store.SaveLabel(ctx, store.LabelWrite{VolumeID: v.ID, Slice: z, BaseVersion: base, Mask: mask,
		Author: author, Origin: store.OriginInterpolated})
	if err != nil {
		return err
	}
	s.audit(c, "label.copy", labelTarget(v, z), fmt.Sprintf("slice %d copied as version %d", *from, l.Version))
	return s.labelChanged(c, v, l)
}

// mergeClass puts a one-class draft into slice z's live label: z's voxels of that class are cleared, then the
// draft's are set; z's other classes stay. A slice without a live label takes the draft as it is.
func (s *Server) mergeClass(c echo.Context, volumeID int64, z, class int, draft []byte) ([]byte, error) {
	l, err := s.store.Label(c.Request().Context(), volumeID, z)
	if errors.Is(err, store.ErrNotFound) || err == nil && l.Deleted {
		return draft, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(draft))
	for i, d := range draft {
		switch {
		case d != 0:
			out[i] = d
		case int(l.Mask[i]) != class:
			out[i] = l.Mask[i]
		}
	}
	return out, nil
}

// queryInt reads an integer query parameter; absent is nil, or a 400 when required.
func queryInt(c echo.Context, name string, required bool) (*int, error) {
	raw := c.QueryParam(name)
	if raw == "" {
		if required {
			return nil, badRequest("%s is required: the slice to copy the label from", name)
		}
		return nil, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil {
		return nil, badRequest("%s %q is not an integer", name, raw)
	}
	return &n, nil
}
