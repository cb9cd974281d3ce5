package server

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/mriworkbench/workbench/store"
)

// interpolateResponse is the answer of POST /volumes/{vid}/interpolate as a client reads it.
type interpolateResponse struct {
	Drafts []struct {
		Slice    int    `json:"slice"`
		Mask     []byte `json:"mask"`
		Existing *struct {
			Version  int    `json:"version"`
			Origin   string `json:"origin"`
			Verified bool   `json:"verified"`
		} `json:"existing"`
		BaseVersion int `json:"baseVersion"`
	} `json:"drafts"`
	Width  int `json:"width"`
	Height int `json:"height"`
}

func (e *testEnv) interpolate(volumeID int64, body string) response {
	e.t.Helper()
	return e.do(http.MethodPost, fmt.Sprintf("/api/volumes/%d/interpolate", volumeID), strings.NewReader(body),
		map[string]string{"Content-Type": "application/json"})
}

func countValue(mask []byte, value byte) int {
	return bytes.Count(mask, []byte{value})
}

// labelledVolume is a two-class project's t2s volume with discs labelled on slices 0 and 4: class 1 grows from
// radius 5 to 9, class 2 (a small disc beside it) stays.
func labelledVolume(t *testing.T) (*testEnv, int64, int, int) {
	e := newTestEnv(t)
	p := e.createProject("interp", "cord", "gm")
	v := e.uploadVolume(p.ID, t2sPath)
	w, h := v.Shape[0], v.Shape[1]
	for z, r := range map[int]int{0: 5, 4: 9} {
		m := disk(w, h, w/2, h/2, r, 1)
		for i, v := range disk(w, h, 6, 6, 3, 2) {
			if v != 0 {
				m[i] = v
			}
		}
		e.putMask(v.ID, z, 0, m, nil).expect(t, http.StatusOK)
	}
	return e, v.ID, w, h
}

func TestInterpolateDraftsTheGap(t *testing.T) {
	e, vid, w, h := labelledVolume(t)
	var got interpolateResponse
	e.interpolate(vid, `{}`).expect(t, http.StatusOK).json(t, &got)
	if got.Width != w || got.Height != h || len(got.Drafts) != 3 {
		t.Fatalf("%dx%d, %d drafts; want %dx%d and slices 1..3", got.Width, got.Height, len(got.Drafts), w, h)
	}
	prev := countValue(disk(w, h, w/2, h/2, 5, 1), 1)
	for i, d := range got.Drafts {
		area := countValue(d.Mask, 1)
		if d.Slice != i+1 || len(d.Mask) != w*h || d.Existing != nil || d.BaseVersion != 0 || area <= prev ||
			countValue(d.Mask, 2) != countValue(disk(w, h, 6, 6, 3, 2), 2) {
			t.Errorf("draft %d: slice %d, %d bytes, existing %v, base %d, class 1 area %d (previous %d), class 2 area %d",
				i, d.Slice, len(d.Mask), d.Existing, d.BaseVersion, area, prev, countValue(d.Mask, 2))
		}
		prev = area
	}
	if states, err := e.store.SliceStates(context.Background(), vid); err != nil || states[2].Labelled() {
		t.Fatalf("interpolation stored slice 2 (%v)", err)
	}

	// Aligned: the same slices, class 1 between its two sizes.
	var aligned interpolateResponse
	e.interpolate(vid, `{"align":true}`).expect(t, http.StatusOK).json(t, &aligned)
	small, large := countValue(disk(w, h, w/2, h/2, 5, 1), 1), countValue(disk(w, h, w/2, h/2, 9, 1), 1)
	for _, d := range aligned.Drafts {
		if area := countValue(d.Mask, 1); area <= small || area >= large {
			t.Errorf("aligned draft for slice %d: class 1 area %d, want between %d and %d", d.Slice, area, small, large)
		}
	}
	if len(aligned.Drafts) != 3 {
		t.Fatalf("aligned: %d drafts, want 3", len(aligned.Drafts))
	}

	// Only class 2, only slice 3.
	e.interpolate(vid, `{"class":2,"from":3,"to":3}`).expect(t, http.StatusOK).json(t, &got)
	if len(got.Drafts) != 1 || got.Drafts[0].Slice != 3 || countValue(got.Drafts[0].Mask, 1) != 0 || countValue(got.Drafts[0].Mask, 2) == 0 {
		t.Fatalf("class 2 draft for slice 3: %d drafts", len(got.Drafts))
	}
}

// A slice between the named ones that has a manual label gets a draft with existing set; accepting a draft
// through the label PUT records origin interpolated.
func TestInterpolateExistingAndAccept(t *testing.T) {
	e, vid, w, h := labelledVolume(t)
	e.putMask(vid, 2, 0, disk(w, h, w/2, h/2, 2, 1), nil).expect(t, http.StatusOK)
	var got interpolateResponse
	e.interpolate(vid, `{"slices":[0,4]}`).expect(t, http.StatusOK).json(t, &got)
	if len(got.Drafts) != 3 {
		t.Fatalf("%d drafts, want slices 1..3", len(got.Drafts))
	}
	d := got.Drafts[1]
	if d.Slice != 2 || d.Existing == nil || d.Existing.Version != 1 || d.Existing.Origin != store.OriginManual ||
		d.Existing.Verified || d.BaseVersion != 1 {
		t.Fatalf("draft for the labelled slice 2: %+v", d)
	}
	// Without slices the label on 2 splits the gap: drafts for 1 and 3 only.
	e.interpolate(vid, `{}`).expect(t, http.StatusOK).json(t, &got)
	if len(got.Drafts) != 2 || got.Drafts[0].Slice != 1 || got.Drafts[1].Slice != 3 {
		t.Fatalf("drafts %+v, want slices 1 and 3", got.Drafts)
	}

	accepted := got.Drafts[0]
	var l store.Label
	e.putMask(vid, accepted.Slice, accepted.BaseVersion, accepted.Mask, map[string]string{"X-Origin": "interpolated"}).
		expect(t, http.StatusOK).json(t, &l)
	if l.Origin != store.OriginInterpolated || l.Version != 1 {
		t.Fatalf("accepted draft saved as %+v", l)
	}
	r := e.get(fmt.Sprintf("/api/volumes/%d/slices/%d/label", vid, accepted.Slice)).expect(t, http.StatusOK)
	if r.Header.Get("X-Label-Origin") != "interpolated" || !bytes.Equal(r.body, accepted.Mask) {
		t.Fatalf("stored label origin %q, mask equal %v", r.Header.Get("X-Label-Origin"), bytes.Equal(r.body, accepted.Mask))
	}
}

func TestInterpolateCopyNeighbour(t *testing.T) {
	e, vid, _, _ := labelledVolume(t)
	source := e.get(fmt.Sprintf("/api/volumes/%d/slices/4/label", vid)).expect(t, http.StatusOK).body
	var got interpolateResponse
	e.interpolate(vid, `{"copyFrom":4,"into":5}`).expect(t, http.StatusOK).json(t, &got)
	if len(got.Drafts) != 1 || got.Drafts[0].Slice != 5 || !bytes.Equal(got.Drafts[0].Mask, source) || got.Drafts[0].Existing != nil {
		t.Fatalf("copy of slice 4 into 5: %+v", got.Drafts)
	}
	e.interpolate(vid, `{"copyFrom":4,"into":0,"class":2}`).expect(t, http.StatusOK).json(t, &got)
	d := got.Drafts[0]
	if countValue(d.Mask, 1) != 0 || countValue(d.Mask, 2) != countValue(source, 2) || d.Existing == nil || d.BaseVersion != 1 {
		t.Fatalf("class 2 of slice 4 into labelled slice 0: class 1 %d, class 2 %d, existing %v", countValue(d.Mask, 1), countValue(d.Mask, 2), d.Existing)
	}
}

func TestInterpolateBadRequests(t *testing.T) {
	e, vid, _, _ := labelledVolume(t)
	before, err := e.store.Labels(context.Background(), vid)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ body, want string }{
		{`not json`, "invalid JSON body"},
		{``, "request body is empty"},
		{`{"class":"cord"}`, "field class must be an integer"},
		{`{"class":3}`, "class 3 is not one of the project's classes 1..2"},
		{`{"class":0}`, "classes are numbered from 1"},
		{`{"from":3,"to":1}`, "from 3 is after to 1"},
		{`{"to":99}`, "to 99 is outside the volume's slices"},
		{`{"slices":[0,1]}`, "slice 1 has no label to interpolate from"},
		{`{"slices":[0,0,4]}`, "slice 0 is listed twice"},
		{`{"slices":[0]}`, "at least two labelled slices; the request names 1"},
		{`{"slices":[0,-1]}`, "slice -1 is outside"},
		{`{"copyFrom":0}`, "copyFrom and into go together"},
		{`{"copyFrom":2,"into":1}`, "slice 2 has no label to copy"},
		{`{"copyFrom":0,"into":0}`, "copyFrom and into are both slice 0"},
		{`{"copyFrom":0,"into":1,"slices":[0,4]}`, "slices, from, to and align are for interpolation"},
		{`{"copyFrom":0,"into":1,"align":true}`, "slices, from, to and align are for interpolation"},
		{`{"align":"yes"}`, "field align must be true or false"},
	}
	for _, c := range cases {
		r := e.interpolate(vid, c.body).expect(t, http.StatusBadRequest)
		if msg := r.errorMessage(t); !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") {
			t.Errorf("body %s: error %q, want one line containing %q", c.body, msg, c.want)
		}
	}
	e.do(http.MethodPost, fmt.Sprintf("/api/volumes/%d/interpolate", vid), strings.NewReader(`{}`), nil).
		expect(t, http.StatusUnsupportedMediaType)
	after, err := e.store.Labels(context.Background(), vid)
	if err != nil || len(after) != len(before) {
		t.Fatalf("bad requests changed the labels: %d before, %d after (%v)", len(before), len(after), err)
	}

	// A volume with one label has nothing to interpolate between.
	e.store.DeleteLabel(context.Background(), vid, 4, 1, "")
	msg := e.interpolate(vid, `{}`).expect(t, http.StatusBadRequest).errorMessage(t)
	if !strings.Contains(msg, "the volume has 1") {
		t.Errorf("one labelled slice: %q", msg)
	}
	e.interpolate(vid+100, `{}`).expect(t, http.StatusNotFound).errorMessage(t)
	e.interpolate(vid+100, `not json`).expect(t, http.StatusNotFound)
}

// A slice whose label was deleted has no existing label, but its draft is based on the deletion's version,
// which the accepting PUT must send.
func TestInterpolateAfterDeletion(t *testing.T) {
	e, vid, w, h := labelledVolume(t)
	e.putMask(vid, 2, 0, disk(w, h, w/2, h/2, 2, 1), nil).expect(t, http.StatusOK)
	e.do(http.MethodDelete, fmt.Sprintf("/api/volumes/%d/slices/2/label?baseVersion=1", vid), nil, nil).expect(t, http.StatusOK)
	var got interpolateResponse
	e.interpolate(vid, `{"from":2,"to":2}`).expect(t, http.StatusOK).json(t, &got)
	if len(got.Drafts) != 1 || got.Drafts[0].Existing != nil || got.Drafts[0].BaseVersion != 2 {
		t.Fatalf("draft for a deleted slice: %+v", got.Drafts)
	}
	d := got.Drafts[0]
	var l store.Label
	e.putMask(vid, 2, d.BaseVersion, d.Mask, map[string]string{"X-Origin": "interpolated"}).expect(t, http.StatusOK).json(t, &l)
	if l.Version != 3 || l.Origin != store.OriginInterpolated {
		t.Fatalf("accepted over a deletion: %+v", l)
	}
}
