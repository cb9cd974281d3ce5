package server

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/mriworkbench/workbench/internal/event"
	"github.com/mriworkbench/workbench/internal/ingest"
	"github.com/mriworkbench/workbench/nifti"
	"github.com/mriworkbench/workbench/store"
)

// axisLetters name the patient directions at the edges of an axial slice of the canonical grid drawn in
// radiological convention (patient's right on the screen's left, anterior up).
type axisLetters struct {
	Left   string `json:"left"`
	Right  string `json:"right"`
	Top    string `json:"top"`
	Bottom string `json:"bottom"`
}

var radiological = axisLetters{Left: "R", Right: "L", Top: "A", Bottom: "P"}

// sliceInfo is one axial slice's state in the volume detail. LabelVersion is the slice's current label
// version, a deletion included: the base version of the next save (0 when it never had a label).
type sliceInfo struct {
	Index        int      `json:"index"`
	Status       string   `json:"status"`
	LabelVersion int      `json:"labelVersion"`
	Verified     bool     `json:"verified"`
	Uncertainty  *float64 `json:"uncertainty,omitempty"`
}

type volumeDetail struct {
	ID           int64         `json:"id"`
	ProjectID    int64         `json:"projectId"`
	Name         string        `json:"name"`
	OriginalName string        `json:"originalName"`
	Shape        [3]int        `json:"shape"`
	Spacing      [3]float64    `json:"spacing"`
	Affine       [4][4]float64 `json:"affine"`
	AxisLetters  axisLetters   `json:"axisLetters"`
	// Orientation maps canonical axis a to source-file axis Perm[a], reversed where Flip[a]: the viewer shows
	// the source file's voxel indices (what FSLeyes or ITK-SNAP show) next to the canonical ones.
	Orientation nifti.Orientation    `json:"orientation"`
	SourceShape [3]int               `json:"sourceShape"`
	Stats       store.IntensityStats `json:"stats"`
	ModelID     *int64               `json:"modelId,omitempty"` // the active model whose predictions are shown
	Slices      []sliceInfo          `json:"slices"`
	CreatedAt   time.Time            `json:"createdAt"`
}

func (s *Server) listVolumes(c echo.Context) error {
	pid, err := pathID(c, "pid")
	if err != nil {
		return err
	}
	volumes, err := s.store.Volumes(c.Request().Context(), pid)
	if err != nil {
		return err
	}
	out := make([]event.VolumeSummary, len(volumes))
	for i, v := range volumes {
		out[i] = event.SummaryOf(v.VolumeMeta, v.Counts)
	}
	return c.JSON(http.StatusOK, out)
}

// uploadResult answers an upload: the new volume's summary, and what the import replaced (NaN and infinite
// voxels), with a notice for the user.
type uploadResult struct {
	event.VolumeSummary
	NonFinite *ingest.NonFinite `json:"nonFinite,omitempty"`
	Notice    string            `json:"notice,omitempty"`
}

// uploadVolume imports the NIfTI file in the multipart field "file". The part is received into memory (no
// temporary files) under the upload size limit and the upload budget, without a decode slot: a client that
// stalls holds only what it sent, until the body idle timeout fails it. Only a received file waits for one of
// the few decode slots.
func (s *Server) uploadVolume(c echo.Context) error {
	req := c.Request()
	if req.ContentLength > s.cfg.MaxUploadBytes {
		// Refused from the headers, before reading any of it; closing the connection stops the client sending.
		c.Response().Header().Set(echo.HeaderConnection, "close")
		return uploadTooLarge(req.ContentLength, s.cfg.MaxUploadBytes)
	}
	pid, err := pathID(c, "pid")
	if err != nil {
		return err
	}
	ctx := req.Context()
	if _, err := s.store.Project(ctx, pid); err != nil {
		return err
	}
	// The original writer, so that a body over the limit makes net/http close the connection after the 413.
	req.Body = http.MaxBytesReader(rawWriter(c), req.Body, s.cfg.MaxUploadBytes)
	mr, err := req.MultipartReader()
	if err != nil {
		return badRequest("upload must be multipart/form-data with a field named file: %v", err)
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return badRequest("upload has no field named file")
		}
		if err != nil {
			return uploadReadError(c, err, s.budget.limit)
		}
		if part.FormName() != "file" {
			continue
		}
		if part.FileName() == "" {
			return badRequest("the file field carries no file name")
		}
		author, err := s.authorFor(c, "")
		if err != nil {
			return err
		}
		counted := &budgetReader{r: part, budget: s.budget}
		defer counted.release()
		var data ingest.Buffer
		if _, err := data.ReadFrom(counted); err != nil {
			return uploadReadError(c, err, s.budget.limit)
		}
		// Decoding holds the volume as float32: only a few at a time.
		select {
		case s.uploads <- struct{}{}:
			defer func() { <-s.uploads }()
		case <-ctx.Done():
			return ctx.Err()
		}
		dec, err := ingest.DecodeBuffer(part.FileName(), &data, nifti.ReadOptions{MaxVoxels: s.cfg.MaxVoxels})
		if err != nil {
			return err
		}
		v, vol, err := ingest.ImportBuffer(ctx, s.store, pid, part.FileName(), &data, dec, nil, author)
		if err != nil {
			return err
		}
		// Whoever uploads a volume usually opens it next.
		s.volumes.put(v.ID, vol)
		s.audit(c, "volume.create", volumeTarget(v), fmt.Sprintf("%dx%dx%d from %s", v.Shape[0], v.Shape[1], v.Shape[2], part.FileName()))
		summary := event.SummaryOf(v, store.SliceCounts{Unlabelled: v.Shape[2]})
		s.hub.Publish(pid, event.Volume{Volume: summary})
		c.Response().Header().Set(echo.HeaderLocation, "/api/volumes/"+strconv.FormatInt(v.ID, 10))
		result := uploadResult{VolumeSummary: summary}
		if dec.NonFinite.Count > 0 {
			result.NonFinite, result.Notice = &dec.NonFinite, dec.NonFinite.String()
		}
		return c.JSON(http.StatusCreated, result)
	}
}

// notModified sets etag on the response, with revalidation on every use, and tells whether the client's
// If-None-Match already names it (the answer is then 304 with no body).
func notModified(c echo.Context, etag string) bool {
	h := c.Response().Header()
	h.Set("ETag", etag)
	h.Set("Cache-Control", "private, no-cache")
	return c.Request().Header.Get("If-None-Match") == etag
}

// getVolume answers every viewer open and websocket reconnect, so it reads slice states in one metadata-only
// query: no mask is decompressed.
func (s *Server) getVolume(c echo.Context) error {
	vid, err := pathID(c, "vid")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	v, err := s.store.Volume(ctx, vid)
	if err != nil {
		return err
	}
	states, err := s.store.SliceStates(ctx, vid)
	if err != nil {
		return err
	}
	slices := make([]sliceInfo, len(states))
	for i, st := range states {
		slices[i] = sliceInfo{Index: i, Status: st.Status, LabelVersion: st.LabelVersion,
			Verified: st.Status == store.StatusVerified, Uncertainty: st.Uncertainty}
	}
	if own, err := s.ownReads(c, v); err != nil {
		return err
	} else if own {
		if err := s.ownReadStates(c, v, slices); err != nil {
			return err
		}
	}
	detail := volumeDetail{ID: v.ID, ProjectID: v.ProjectID, Name: v.Name, OriginalName: v.OriginalName,
		Shape: v.Shape, Spacing: v.Spacing, Affine: v.Affine, AxisLetters: radiological, Stats: v.Stats,
		Orientation: v.Orientation, SourceShape: v.Orientation.SourceShape(v.Shape), Slices: slices, CreatedAt: v.CreatedAt}
	model, err := s.store.ActiveModel(ctx, v.ProjectID)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return err
	default:
		detail.ModelID = &model.ID
	}
	return c.JSON(http.StatusOK, detail)
}

// sliceParams resolves the volume and slice of a /volumes/{vid}/slices/{z}/... route; a slice outside the
// volume is a 404 like an unknown volume.
func (s *Server) sliceParams(c echo.Context) (store.VolumeMeta, int, error) {
	vid, err := pathID(c, "vid")
	if err != nil {
		return store.VolumeMeta{}, 0, err
	}
	z, err := pathInt(c, "z")
	if err != nil {
		return store.VolumeMeta{}, 0, err
	}
	v, err := s.store.Volume(c.Request().Context(), vid)
	if err != nil {
		return store.VolumeMeta{}, 0, err
	}
	if z >= v.Shape[2] {
		return store.VolumeMeta{}, 0, echo.NewHTTPError(http.StatusNotFound,
			fmt.Sprintf("volume %d has %d slices; slice %d does not exist", vid, v.Shape[2], z))
	}
	return v, z, nil
}

// getSlice sends one axial slice of the canonical volume as little-endian float32, x fastest. A volume's
// voxels never change, so the ETag (the original file's hash and the slice) lets a browser revalidate cheaply;
// it is not cached blindly because a wiped data directory reuses volume ids.
func (s *Server) getSlice(c echo.Context) error {
	v, z, err := s.sliceParams(c)
	if err != nil {
		return err
	}
	etag := fmt.Sprintf(`"%s-%d"`, v.SHA256, z)
	h := c.Response().Header()
	h.Set("X-Width", strconv.Itoa(v.Shape[0]))
	h.Set("X-Height", strconv.Itoa(v.Shape[1]))
	if notModified(c, etag) {
		return c.NoContent(http.StatusNotModified)
	}
	vol, err := s.volumes.get(c.Request().Context(), v.ID)
	if err != nil {
		return err
	}
	if vol.Shape != v.Shape {
		return fmt.Errorf("volume %d: decoded shape %v differs from the stored %v", v.ID, vol.Shape, v.Shape)
	}
	data := vol.Slice(z)
	buf := make([]byte, 4*len(data))
	for i, f := range data {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(f))
	}
	return c.Blob(http.StatusOK, echo.MIMEOctetStream, buf)
}

// deleteVolume removes a volume with its labels, predictions and original file. It is refused while a
// training run of its project is queued or running: the run reads the project's volumes as it goes.
func (s *Server) deleteVolume(c echo.Context) error {
	vid, err := pathID(c, "vid")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	v, err := s.store.Volume(ctx, vid)
	if err != nil {
		return err
	}
	if err := s.refuseDuringRun(ctx, v.ProjectID, fmt.Sprintf("volume %q", v.Name)); err != nil {
		return err
	}
	if err := s.store.DeleteVolume(ctx, vid); err != nil {
		return err
	}
	s.volumes.evict(vid)
	s.audit(c, "volume.delete", volumeTarget(v), "")
	s.hub.Publish(v.ProjectID, event.VolumeDeleted{VolumeID: vid})
	return c.NoContent(http.StatusNoContent)
}

// refuseDuringRun is the 409 of a deletion asked for while a run of the project is queued or running: the
// run would lose the data it trains on or writes predictions into.
func (s *Server) refuseDuringRun(ctx context.Context, projectID int64, what string) error {
	run, err := s.store.ActiveRun(ctx, projectID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return err
	}
	return echo.NewHTTPError(http.StatusConflict, fmt.Sprintf(
		"cannot delete %s while training run %d is %s; cancel the run or wait until it ends", what, run.ID, run.Status))
}
