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

func (e *testEnv) copyLabel(volumeID int64, z int, query string, base int) response {
	e.t.Helper()
	h := map[string]string{}
	if base >= 0 {
		h["X-Base-Version"] = fmt.Sprint(base)
	}
	return e.do(http.MethodPost, fmt.Sprintf("/api/volumes/%d/slices/%d/label/copy?%s", volumeID, z, query), nil, h)
}

func TestCopyLabelStoresTheNeighboursLabel(t *testing.T) {
	e, vid, w, h := labelledVolume(t)
	ctx := context.Background()
	var l store.Label
	e.copyLabel(vid, 1, "from=0", 0).expect(t, http.StatusOK).json(t, &l)
	if l.Slice != 1 || l.Version != 1 || l.Origin != store.OriginInterpolated {
		t.Fatalf("copy answered %+v", l)
	}
	src, err := e.store.Label(ctx, vid, 0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.store.Label(ctx, vid, 1)
	if err != nil || !bytes.Equal(got.Mask, src.Mask) || got.Origin != store.OriginInterpolated || len(got.Mask) != w*h {
		t.Fatalf("slice 1 stored %d bytes, origin %q, equal to slice 0: %v (%v)", len(got.Mask), got.Origin, bytes.Equal(got.Mask, src.Mask), err)
	}

	// Into a labelled slice, a stale base is a 409 and stores nothing.
	r := e.copyLabel(vid, 1, "from=4", 0).expect(t, http.StatusConflict)
	if msg := r.errorMessage(t); msg == "" {
		t.Fatal("409 without a reason")
	}
	if after, _ := e.store.Label(ctx, vid, 1); after.Version != 1 {
		t.Fatalf("a stale copy stored version %d", after.Version)
	}
	// With the current base it replaces the label; the history keeps the first copy.
	e.copyLabel(vid, 1, "from=4&baseVersion=1", -1).expect(t, http.StatusOK).json(t, &l)
	four, _ := e.store.Label(ctx, vid, 4)
	if now, _ := e.store.Label(ctx, vid, 1); l.Version != 2 || !bytes.Equal(now.Mask, four.Mask) {
		t.Fatalf("second copy: version %d, equal to slice 4: %v", l.Version, bytes.Equal(now.Mask, four.Mask))
	}
}

func TestCopyLabelOneClassKeepsTheOthers(t *testing.T) {
	e, vid, w, h := labelledVolume(t)
	ctx := context.Background()
	// Slice 2: class 2 only, a disc at the centre where slice 0 has class 1.
	target := disk(w, h, w/2, h/2, 3, 2)
	e.putMask(vid, 2, 0, target, nil).expect(t, http.StatusOK)
	e.copyLabel(vid, 2, "from=0&class=1", 1).expect(t, http.StatusOK)
	got, err := e.store.Label(ctx, vid, 2)
	if err != nil {
		t.Fatal(err)
	}
	src, _ := e.store.Label(ctx, vid, 0)
	for i := range got.Mask {
		want := target[i]
		if src.Mask[i] == 1 {
			want = 1 // the copied class is drawn over the target's
		}
		if got.Mask[i] != want {
			t.Fatalf("voxel %d: %d, want %d (source %d, target %d)", i, got.Mask[i], want, src.Mask[i], target[i])
		}
	}
	// Copying class 2 clears the target's class 2 first: slice 0's small disc replaces the centre disc.
	e.copyLabel(vid, 2, "from=0&class=2", 2).expect(t, http.StatusOK)
	got, _ = e.store.Label(ctx, vid, 2)
	if n, want := countValue(got.Mask, 2), countValue(src.Mask, 2); n != want {
		t.Fatalf("class 2 has %d voxels after the copy, want slice 0's %d", n, want)
	}
}

func TestCopyLabelRefusesBadInput(t *testing.T) {
	e, vid, _, _ := labelledVolume(t)
	for _, c := range []struct {
		name, query string
		base        int
		status      int
		reason      string
	}{
		{"no from", "", 0, http.StatusBadRequest, "from is required"},
		{"from not a number", "from=up", 0, http.StatusBadRequest, `from "up" is not an integer`},
		{"no base version", "from=0", -1, http.StatusBadRequest, "baseVersion is required"},
		{"from outside the volume", "from=99", 0, http.StatusBadRequest, "99"},
		{"from without a label", "from=2", 0, http.StatusBadRequest, "2"},
		{"from itself", "from=1", 0, http.StatusBadRequest, ""},
		{"class 0", "from=0&class=0", 0, http.StatusBadRequest, "class 0 is not a class"},
		{"class out of range", "from=0&class=3", 0, http.StatusBadRequest, "3"},
	} {
		t.Run(c.name, func(t *testing.T) {
			z := 1
			r := e.copyLabel(vid, z, c.query, c.base).expect(t, c.status)
			msg := r.errorMessage(t)
			if !strings.Contains(msg, c.reason) || strings.Contains(msg, "\n") || msg == "" {
				t.Errorf("reason %q, want one line containing %q", msg, c.reason)
			}
		})
	}
	e.copyLabel(vid, 99, "from=0", 0).expect(t, http.StatusNotFound)
	e.copyLabel(vid+100, 1, "from=0", 0).expect(t, http.StatusNotFound)
	if states, err := e.store.SliceStates(context.Background(), vid); err != nil || states[1].Labelled() {
		t.Fatalf("a refused copy stored slice 1 (%v)", err)
	}
	// The server still answers.
	e.copyLabel(vid, 1, "from=0", 0).expect(t, http.StatusOK)
}
