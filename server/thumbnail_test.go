package server

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mriworkbench/workbench/store"
)

var thumbColors = []color.RGBA{{255, 204, 0, 255}, {0, 128, 255, 255}}

// A 1:1 thumbnail shows the crop pixel for voxel, rotated by 180 degrees (radiological), windowed, with the
// rectangle's boundary voxels in the class colour and black outside the slice.
func TestRenderThumbnailCropsFlipsAndOutlines(t *testing.T) {
	const w, h = 40, 30
	slice := make([]float32, w*h)
	mask := make([]uint8, w*h)
	for y := range h {
		for x := range w {
			slice[y*w+x] = float32(x) * 5
			if x >= 10 && x <= 19 && y >= 5 && y <= 14 {
				mask[y*w+x] = 1
			}
		}
	}
	x0, y0, side := thumbnailCrop(mask, w, h)
	// A 10-voxel box, 12 voxels of margin: a 34-voxel square centred on (15, 10).
	if x0 != -2 || y0 != -7 || side != 34 {
		t.Fatalf("crop (%d, %d) side %d, want (-2, -7) side 34", x0, y0, side)
	}
	img := renderThumbnail(slice, w, h, mask, thumbColors, 0, 200, side)
	for py := range side {
		for px := range side {
			x, y := x0+side-1-px, y0+side-1-py
			got := img.RGBAAt(px, py)
			var want color.RGBA
			switch {
			case x < 0 || y < 0 || x >= w || y >= h:
				want = color.RGBA{0, 0, 0, 255}
			case mask[y*w+x] == 1 && (x == 10 || x == 19 || y == 5 || y == 14):
				want = thumbColors[0]
			default:
				g := uint8(min(255, float64(x)*5*255/200))
				want = color.RGBA{g, g, g, 255}
			}
			if got != want {
				t.Fatalf("pixel (%d, %d) = voxel (%d, %d): %v, want %v", px, py, x, y, got, want)
			}
		}
	}
	// Without a mask the whole slice is shown, centred in a square of its larger side.
	if x0, y0, side := thumbnailCrop(make([]uint8, w*h), w, h); x0 != 0 || y0 != -5 || side != 40 {
		t.Fatalf("empty mask: crop (%d, %d) side %d, want (0, -5) side 40", x0, y0, side)
	}
}

func TestThumbnailEndpoint(t *testing.T) {
	e, vid, _, _ := labelledVolume(t)
	r := e.get(fmt.Sprintf("/api/volumes/%d/slices/0/thumbnail?size=64", vid)).expect(t, http.StatusOK)
	if ct := r.Header.Get("Content-Type"); ct != "image/png" {
		t.Fatalf("Content-Type %q", ct)
	}
	img, err := png.Decode(bytes.NewReader(r.body))
	if err != nil || img.Bounds() != image.Rect(0, 0, 64, 64) {
		t.Fatalf("PNG %v: %v", img.Bounds(), err)
	}
	coloured := 0
	for y := range 64 {
		for x := range 64 {
			if c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA); c.R != c.G || c.G != c.B {
				coloured++
			}
		}
	}
	if coloured == 0 {
		t.Fatal("the labelled slice's thumbnail has no outline")
	}
	t.Logf("64 px thumbnail of a labelled slice: %d bytes, %d outline pixels", len(r.body), coloured)
	// The ETag names the label version: unchanged, a revalidation is a 304.
	etag := r.Header.Get("ETag")
	again := e.do(http.MethodGet, fmt.Sprintf("/api/volumes/%d/slices/0/thumbnail?size=64", vid), nil, map[string]string{"If-None-Match": etag})
	if again.StatusCode != http.StatusNotModified {
		t.Fatalf("revalidation answered %d, want 304", again.StatusCode)
	}
	// A slice with neither label nor prediction: the whole slice in grey, default size.
	r = e.get(fmt.Sprintf("/api/volumes/%d/slices/2/thumbnail", vid)).expect(t, http.StatusOK)
	if img, err := png.Decode(bytes.NewReader(r.body)); err != nil || img.Bounds().Dx() != defaultThumbnailSize {
		t.Fatalf("default size: %v (%v)", img.Bounds(), err)
	}
	for _, bad := range []string{"size=8", "size=1000", "size=big"} {
		msg := e.get(fmt.Sprintf("/api/volumes/%d/slices/0/thumbnail?%s", vid, bad)).expect(t, http.StatusBadRequest).errorMessage(t)
		if !strings.Contains(msg, "whole number of pixels from 16 to 256") {
			t.Errorf("%s: %q", bad, msg)
		}
	}
	e.get(fmt.Sprintf("/api/volumes/%d/slices/99/thumbnail", vid)).expect(t, http.StatusNotFound)
	e.get(fmt.Sprintf("/api/volumes/%d/slices/0/thumbnail", vid+100)).expect(t, http.StatusNotFound)
}

// BenchmarkThumbnail renders and encodes a 96 px thumbnail of a 320x320 slice around a cord-sized structure.
func BenchmarkThumbnail(b *testing.B) {
	const w, h = 320, 320
	slice := make([]float32, w*h)
	mask := make([]uint8, w*h)
	for i := range slice {
		slice[i] = float32(i % 997)
		x, y := i%w, i/w
		if (x-160)*(x-160)+(y-170)*(y-170) < 27*27 {
			mask[i] = 1
		}
	}
	size := 0
	for b.Loop() {
		var buf bytes.Buffer
		if err := png.Encode(&buf, renderThumbnail(slice, w, h, mask, thumbColors, 0, 997, 96)); err != nil {
			b.Fatal(err)
		}
		size = buf.Len()
	}
	b.ReportMetric(float64(size), "bytes")
}

// In a several-reads project an annotator's label is its own read: the thumbnail does not show the shared
// label to it (a reviewer's thumbnail does), and the copy endpoint, which writes the shared label, refuses it.
func TestThumbnailAndCopyInSeveralReads(t *testing.T) {
	e := newTestEnv(t)
	p := e.createProject("reads", "cord")
	v := e.uploadVolume(p.ID, t2sPath)
	addUser(t, e.store, "rev", store.RoleReviewer, "reviewer password")
	addUser(t, e.store, "ann", store.RoleAnnotator, "annotator password")
	time.Sleep(accountsTTL + 100*time.Millisecond)
	sign := func(name, pw string) *browser {
		b := newBrowser(t, e.http.URL)
		b.login(name, pw).expect(t, http.StatusOK)
		return b
	}
	rev, ann := sign("rev", "reviewer password"), sign("ann", "annotator password")
	rev.json(http.MethodPatch, fmt.Sprintf("/api/projects/%d", p.ID), map[string]any{"readsMode": "multi"}).expect(t, http.StatusOK)
	w, h := v.Shape[0], v.Shape[1]
	rev.do(http.MethodPut, fmt.Sprintf("/api/volumes/%d/slices/0/label", v.ID), disk(w, h, w/2, h/2, 6, 1),
		map[string]string{"Content-Type": "application/octet-stream", "X-Base-Version": "0"}).expect(t, http.StatusOK)
	outlined := func(b *browser) int {
		r := b.do(http.MethodGet, fmt.Sprintf("/api/volumes/%d/slices/0/thumbnail?size=48", v.ID), nil, nil).expect(t, http.StatusOK)
		img, err := png.Decode(bytes.NewReader(r.body))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for y := range 48 {
			for x := range 48 {
				if c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA); c.R != c.G || c.G != c.B {
					n++
				}
			}
		}
		return n
	}
	if n := outlined(rev); n == 0 {
		t.Fatal("the reviewer's thumbnail does not outline the label")
	}
	if n := outlined(ann); n != 0 {
		t.Fatalf("the annotator's thumbnail outlines the shared label (%d pixels)", n)
	}
	msg := ann.do(http.MethodPost, fmt.Sprintf("/api/volumes/%d/slices/1/label/copy?from=0", v.ID), nil,
		map[string]string{"X-Base-Version": "0"}).expect(t, http.StatusBadRequest).errorMessage(t)
	if !strings.Contains(msg, "several-reads project") {
		t.Fatalf("annotator's copy refused with %q", msg)
	}
}
