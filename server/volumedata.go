package server

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/mriworkbench/workbench/store"
)

// The whole-volume payloads the viewer's three planes are drawn from. Both are one little-endian uint32 n, n
// bytes of JSON metadata (space-padded so that the voxels start at a multiple of 8 bytes, where the browser
// views them as typed arrays in place), then the voxels; the API's gzip middleware compresses them on the wire.

// volumeDataMeta describes GET /volumes/{vid}/data: Depth*Height*Width uint16 values, x fastest, each
// standing for Offset + Scale*value. Exact says the canonical float32 voxels are reproduced exactly (integer
// voxels spanning fewer than 65536 values); otherwise each is within Scale/2 of the original.
type volumeDataMeta struct {
	Width  int     `json:"width"`
	Height int     `json:"height"`
	Depth  int     `json:"depth"`
	DType  string  `json:"dtype"`
	Scale  float64 `json:"scale"`
	Offset float64 `json:"offset"`
	Exact  bool    `json:"exact"`
}

// quantization is how float32 voxels map onto uint16: raw = round((v - offset) / scale).
func quantization(data []float32) (offset, scale float64, exact bool) {
	if len(data) == 0 {
		return 0, 1, true
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	integral := true
	for _, f := range data {
		v := float64(f)
		lo, hi = math.Min(lo, v), math.Max(hi, v)
		if integral && v != math.Trunc(v) {
			integral = false
		}
	}
	if integral && hi-lo <= math.MaxUint16 {
		return lo, 1, true
	}
	if hi == lo {
		return lo, 1, true
	}
	return lo, (hi - lo) / math.MaxUint16, false
}

// writeFramed writes the length-prefixed JSON metadata that opens both payloads.
func writeFramed(c echo.Context, meta any) error {
	head, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	for (4+len(head))%8 != 0 {
		head = append(head, ' ')
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, echo.MIMEOctetStream)
	c.Response().WriteHeader(http.StatusOK)
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], uint32(len(head)))
	if _, err := c.Response().Write(n[:]); err != nil {
		return err
	}
	_, err = c.Response().Write(head)
	return err
}

// getVolumeData sends the whole canonical volume as uint16 with a scale, a slice at a time so that the
// response never holds more than one slice's bytes beyond the cached volume. Like a slice, the voxels never
// change: the ETag (the original file's hash) lets a reopened viewer revalidate cheaply.
func (s *Server) getVolumeData(c echo.Context) error {
	vid, err := pathID(c, "vid")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	v, err := s.store.Volume(ctx, vid)
	if err != nil {
		return err
	}
	etag := fmt.Sprintf(`"%s-data"`, v.SHA256)
	if notModified(c, etag) {
		return c.NoContent(http.StatusNotModified)
	}
	vol, err := s.volumes.get(ctx, v.ID)
	if err != nil {
		return err
	}
	if vol.Shape != v.Shape {
		return fmt.Errorf("volume %d: decoded shape %v differs from the stored %v", v.ID, vol.Shape, v.Shape)
	}
	offset, scale, exact := quantization(vol.Data)
	meta := volumeDataMeta{Width: v.Shape[0], Height: v.Shape[1], Depth: v.Shape[2], DType: "uint16", Scale: scale, Offset: offset, Exact: exact}
	if err := writeFramed(c, meta); err != nil {
		return err
	}
	buf := make([]byte, 2*vol.SliceLen())
	for z := range vol.NumSlices() {
		for i, f := range vol.Slice(z) {
			q := math.Round((float64(f) - offset) / scale)
			binary.LittleEndian.PutUint16(buf[2*i:], uint16(min(math.MaxUint16, max(0, q))))
		}
		if _, err := c.Response().Write(buf); err != nil {
			return err
		}
	}
	return nil
}

// maskSlice names one slice whose mask is in a masks payload; Uncertainty only for predictions.
type maskSlice struct {
	Slice       int      `json:"slice"`
	Version     int      `json:"version,omitempty"`
	Verified    bool     `json:"verified,omitempty"`
	Uncertainty *float64 `json:"uncertainty,omitempty"`
}

// volumeMasksMeta describes GET /volumes/{vid}/masks: after it come len(Labels) label masks, then
// len(Predictions) prediction masks, each Width*Height uint8 bytes, in the order listed. Labels lists the
// slices with a current (not deleted) label as the requester edits it (an annotator's own read where the
// project has several annotators per slice); Predictions those the active model predicted.
type volumeMasksMeta struct {
	Width       int         `json:"width"`
	Height      int         `json:"height"`
	Depth       int         `json:"depth"`
	ModelID     *int64      `json:"modelId,omitempty"`
	Labels      []maskSlice `json:"labels"`
	Predictions []maskSlice `json:"predictions"`
}

// getVolumeMasks sends every slice's current label and the active model's predictions in one payload, so the
// sagittal and coronal planes can show them without a request per slice.
func (s *Server) getVolumeMasks(c echo.Context) error {
	vid, err := pathID(c, "vid")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	v, err := s.store.Volume(ctx, vid)
	if err != nil {
		return err
	}
	labels, err := s.currentMasks(c, v)
	if err != nil {
		return err
	}
	meta := volumeMasksMeta{Width: v.Shape[0], Height: v.Shape[1], Depth: v.Shape[2], Labels: []maskSlice{}, Predictions: []maskSlice{}}
	var preds []store.Prediction
	model, err := s.store.ActiveModel(ctx, v.ProjectID)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return err
	default:
		meta.ModelID = &model.ID
		if preds, err = s.store.Predictions(ctx, model.ID, v.ID); err != nil {
			return err
		}
	}
	n := v.SliceLen()
	for _, l := range labels {
		if len(l.Mask) != n {
			return fmt.Errorf("volume %d slice %d: label has %d voxels, want %d", v.ID, l.Slice, len(l.Mask), n)
		}
		meta.Labels = append(meta.Labels, maskSlice{Slice: l.Slice, Version: l.Version, Verified: l.Verified})
	}
	for _, p := range preds {
		if len(p.Mask) != n {
			return fmt.Errorf("volume %d slice %d: prediction has %d voxels, want %d", v.ID, p.Slice, len(p.Mask), n)
		}
		u := p.Uncertainty
		meta.Predictions = append(meta.Predictions, maskSlice{Slice: p.Slice, Uncertainty: &u})
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	if err := writeFramed(c, meta); err != nil {
		return err
	}
	for _, l := range labels {
		if _, err := c.Response().Write(l.Mask); err != nil {
			return err
		}
	}
	for _, p := range preds {
		if _, err := c.Response().Write(p.Mask); err != nil {
			return err
		}
	}
	return nil
}

// currentMasks are the volume's current labels as the requester edits them: the labels, or an annotator's
// own reads where the project has several annotators per slice.
func (s *Server) currentMasks(c echo.Context, v store.VolumeMeta) ([]store.Label, error) {
	ctx := c.Request().Context()
	own, err := s.ownReads(c, v)
	if err != nil {
		return nil, err
	}
	if !own {
		return s.store.Labels(ctx, v.ID)
	}
	var out []store.Label
	name := actorOf(c).Name
	for z := range v.Shape[2] {
		r, err := s.store.AnnotatorRead(ctx, v.ID, z, name)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if !r.Deleted {
			out = append(out, readAsLabel(r))
		}
	}
	return out, nil
}
