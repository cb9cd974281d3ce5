package server

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/mriworkbench/workbench/store"
)

// Thumbnails are drawn on the server: a review queue entry needs a few kilobytes of PNG, where drawing it in the
// browser would first fetch the slice's float32 intensities (400 KB at 320x320) for each of up to 100 entries.
const (
	defaultThumbnailSize = 96
	minThumbnailSize     = 16
	maxThumbnailSize     = 256
)

// getThumbnail answers a size x size PNG of slice z as the viewer shows it (radiological: the patient's right
// on the left, anterior up; the volume's 1st-99th percentile window), cropped to a square around the slice's
// label, else the active model's prediction (the structure with a margin of half its size), whose outline is
// drawn in the class colours; the whole slice when it has neither.
func (s *Server) getThumbnail(c echo.Context) error {
	v, z, err := s.sliceParams(c)
	if err != nil {
		return err
	}
	size := defaultThumbnailSize
	if raw := c.QueryParam("size"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < minThumbnailSize || n > maxThumbnailSize {
			return badRequest("size %q is not a whole number of pixels from %d to %d", raw, minThumbnailSize, maxThumbnailSize)
		}
		size = n
	}
	ctx := c.Request().Context()
	p, err := s.store.Project(ctx, v.ProjectID)
	if err != nil {
		return err
	}
	mask, source, err := s.thumbnailMask(c, v, z)
	if err != nil {
		return err
	}
	etag := fmt.Sprintf(`"%s-%d-%d-%s"`, v.SHA256, z, size, source)
	if notModified(c, etag) {
		return c.NoContent(http.StatusNotModified)
	}
	vol, err := s.volumes.get(ctx, v.ID)
	if err != nil {
		return err
	}
	colors := make([]color.RGBA, len(p.Classes))
	for i, cl := range p.Classes {
		colors[i] = parseHexColor(cl.Color)
	}
	img := renderThumbnail(vol.Slice(z), v.Shape[0], v.Shape[1], mask, colors, v.Stats.P1, v.Stats.P99, size)
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return err
	}
	return c.Blob(http.StatusOK, "image/png", buf.Bytes())
}

// thumbnailMask is the mask a thumbnail outlines and a word for the ETag: the live label (not for an annotator
// of a several-reads project, whose label is its own read), else the active model's prediction, else none.
func (s *Server) thumbnailMask(c echo.Context, v store.VolumeMeta, z int) ([]uint8, string, error) {
	ctx := c.Request().Context()
	own, err := s.ownReads(c, v)
	if err != nil {
		return nil, "", err
	}
	if !own {
		l, err := s.store.Label(ctx, v.ID, z)
		switch {
		case err == nil && !l.Deleted:
			return l.Mask, "l" + strconv.Itoa(l.Version), nil
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return nil, "", err
		}
	}
	m, err := s.store.ActiveModel(ctx, v.ProjectID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "none", nil
	}
	if err != nil {
		return nil, "", err
	}
	pred, err := s.store.Prediction(ctx, m.ID, v.ID, z)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "none", nil
	}
	if err != nil {
		return nil, "", err
	}
	return pred.Mask, "m" + strconv.FormatInt(m.ID, 10), nil
}

// thumbnailCrop is the square of voxels (x0, y0, side) a thumbnail shows: the mask's bounding box grown by half
// its larger side (at least 12 voxels) on every side and centred, or the whole slice for an empty mask. It may
// reach outside the slice (drawn black) but is never larger than the slice's larger side.
func thumbnailCrop(mask []uint8, w, h int) (x0, y0, side int) {
	bx0, by0, bx1, by1 := w, h, -1, -1
	for i, c := range mask {
		if c == 0 {
			continue
		}
		x, y := i%w, i/w
		bx0, bx1 = min(bx0, x), max(bx1, x)
		by0, by1 = min(by0, y), max(by1, y)
	}
	full := max(w, h)
	if bx1 < 0 {
		return (w - full) / 2, (h - full) / 2, full
	}
	extent := max(bx1-bx0+1, by1-by0+1)
	side = min(full, extent+2*max(12, extent/2))
	return (bx0+bx1+1)/2 - side/2, (by0+by1+1)/2 - side/2, side
}

// renderThumbnail draws the crop of a w x h slice into size x size pixels: each pixel the mean intensity of the
// voxels it covers through the window [lo, hi], and the outline (at the thumbnail's resolution) of the mask's
// classes in their colours. Display row r, column c show voxel (x0+side-1-c', y0+side-1-r') (radiological).
func renderThumbnail(slice []float32, w, h int, mask []uint8, colors []color.RGBA, lo, hi float64, size int) *image.RGBA {
	x0, y0, side := thumbnailCrop(mask, w, h)
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	classes := make([]uint8, size*size)
	scale := 255 / max(hi-lo, 1e-12)
	span := func(p int) (int, int) { // voxel offsets [a, b) of the crop that pixel p covers, flipped
		a, b := p*side/size, max(p*side/size+1, (p+1)*side/size)
		return side - b, side - a
	}
	for py := range size {
		ya, yb := span(py)
		for px := range size {
			xa, xb := span(px)
			sum, n := 0.0, 0
			for y := y0 + ya; y < y0+yb; y++ {
				for x := x0 + xa; x < x0+xb; x++ {
					if x >= 0 && y >= 0 && x < w && y < h {
						sum += float64(slice[y*w+x])
						n++
					}
				}
			}
			g := uint8(0)
			if n > 0 {
				g = uint8(min(255, max(0, (sum/float64(n)-lo)*scale)))
			}
			img.SetRGBA(px, py, color.RGBA{g, g, g, 255})
			// The class at the pixel's centre voxel.
			cx, cy := x0+side-1-(2*px+1)*side/(2*size), y0+side-1-(2*py+1)*side/(2*size)
			if mask != nil && cx >= 0 && cy >= 0 && cx < w && cy < h {
				classes[py*size+px] = mask[cy*w+cx]
			}
		}
	}
	for py := range size {
		for px := range size {
			k := classes[py*size+px]
			if k == 0 || int(k) > len(colors) {
				continue
			}
			edge := px == 0 || py == 0 || px == size-1 || py == size-1 ||
				classes[py*size+px-1] != k || classes[py*size+px+1] != k || classes[(py-1)*size+px] != k || classes[(py+1)*size+px] != k
			if edge {
				img.SetRGBA(px, py, colors[k-1])
			}
		}
	}
	return img
}

// parseHexColor reads "#rrggbb"; anything else is magenta, which no one picks for a class by accident.
func parseHexColor(s string) color.RGBA {
	var r, g, b uint8
	if len(s) == 7 && s[0] == '#' {
		if _, err := fmt.Sscanf(s[1:], "%02x%02x%02x", &r, &g, &b); err == nil {
			return color.RGBA{r, g, b, 255}
		}
	}
	return color.RGBA{255, 0, 255, 255}
}
