package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mriworkbench/workbench/internal/event"
	"github.com/mriworkbench/workbench/nifti"
	"github.com/mriworkbench/workbench/store"
)

// cached reports whether the volume is held decoded.
func (c *volumeCache) cached(id int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.entries[id]
	return ok
}

// uploadTiny uploads a small synthetic volume and returns it with the path of its stored original file.
func (e *testEnv) uploadTiny(projectID int64, name string) (event.VolumeSummary, string) {
	e.t.Helper()
	var v event.VolumeSummary
	e.upload(projectID, name, tinyImage(e.t, [3]int{6, 5, 4})).expect(e.t, http.StatusCreated).json(e.t, &v)
	meta, err := e.store.Volume(context.Background(), v.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	path := e.store.OriginalPath(meta)
	if _, err := os.Stat(path); err != nil {
		e.t.Fatalf("original file of %s: %v", name, err)
	}
	return v, path
}

func expectGone(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s still exists after the deletion (stat: %v)", path, err)
	}
}

func TestDeleteVolume(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	p := e.createProject("delete volume", "wm")
	doomed, doomedFile := e.uploadTiny(p.ID, "wrong.nii.gz")
	kept, keptFile := e.uploadTiny(p.ID, "right.nii.gz")
	e.putMask(doomed.ID, 1, 0, make([]byte, 6*5), nil).expect(t, http.StatusOK)
	e.get(fmt.Sprintf("/api/volumes/%d/slices/1", doomed.ID)).expect(t, http.StatusOK)
	if !e.srv.volumes.cached(doomed.ID) {
		t.Fatal("the viewed volume is not cached: the eviction below would prove nothing")
	}
	tab := e.mustDial(p.ID)

	e.do(http.MethodDelete, fmt.Sprintf("/api/volumes/%d", doomed.ID), nil, map[string]string{"Origin": e.http.URL}).
		expect(t, http.StatusNoContent)

	var ev map[string]any
	readEvent(t, tab, &ev)
	if ev["type"] != event.TypeVolumeDeleted || ev["volumeId"] != float64(doomed.ID) {
		t.Fatalf("event %v, want volumeDeleted of volume %d", ev, doomed.ID)
	}
	if _, err := e.store.Volume(ctx, doomed.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("store.Volume after the deletion: %v, want ErrNotFound", err)
	}
	if _, err := e.store.SliceStates(ctx, doomed.ID); err == nil {
		t.Fatal("the deleted volume's slice states are still readable")
	}
	expectGone(t, doomedFile)
	if e.srv.volumes.cached(doomed.ID) {
		t.Fatal("the deleted volume is still in the slice cache")
	}
	e.get(fmt.Sprintf("/api/volumes/%d", doomed.ID)).expect(t, http.StatusNotFound)
	e.get(fmt.Sprintf("/api/volumes/%d/slices/1", doomed.ID)).expect(t, http.StatusNotFound)
	e.get(fmt.Sprintf("/api/volumes/%d/slices/1/label", doomed.ID)).expect(t, http.StatusNotFound)

	var listed []event.VolumeSummary
	e.get(fmt.Sprintf("/api/projects/%d/volumes", p.ID)).expect(t, http.StatusOK).json(t, &listed)
	if len(listed) != 1 || listed[0].ID != kept.ID {
		t.Fatalf("volumes after the deletion: %+v, want only %q", listed, kept.Name)
	}
	if _, err := os.Stat(keptFile); err != nil {
		t.Fatalf("the other volume's file: %v", err)
	}
	// A second deletion finds nothing.
	e.do(http.MethodDelete, fmt.Sprintf("/api/volumes/%d", doomed.ID), nil, nil).expect(t, http.StatusNotFound)
}

func TestDeleteProject(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	p := e.createProject("test project", "wm")
	other := e.createProject("real project", "wm")
	a, aFile := e.uploadTiny(p.ID, "a.nii.gz")
	b, bFile := e.uploadTiny(p.ID, "b.nii.gz")
	kept, keptFile := e.uploadTiny(other.ID, "a.nii.gz")
	e.putMask(a.ID, 0, 0, make([]byte, 6*5), nil).expect(t, http.StatusOK)
	tab := e.mustDial(p.ID)

	e.do(http.MethodDelete, fmt.Sprintf("/api/projects/%d", p.ID), nil, map[string]string{"Origin": e.http.URL}).
		expect(t, http.StatusNoContent)

	var ev map[string]any
	readEvent(t, tab, &ev)
	if ev["type"] != event.TypeProjectDeleted || ev["projectId"] != float64(p.ID) {
		t.Fatalf("event %v, want projectDeleted of project %d", ev, p.ID)
	}
	if _, err := e.store.Project(ctx, p.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("store.Project after the deletion: %v, want ErrNotFound", err)
	}
	for _, v := range []event.VolumeSummary{a, b} {
		if _, err := e.store.Volume(ctx, v.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("volume %q after its project's deletion: %v, want ErrNotFound", v.Name, err)
		}
		if e.srv.volumes.cached(v.ID) {
			t.Fatalf("volume %q is still in the slice cache", v.Name)
		}
	}
	expectGone(t, aFile)
	expectGone(t, bFile)
	e.get(fmt.Sprintf("/api/projects/%d", p.ID)).expect(t, http.StatusNotFound)
	e.get(fmt.Sprintf("/api/volumes/%d", a.ID)).expect(t, http.StatusNotFound)
	if names := e.listProjectNames(); len(names) != 1 || names[0] != other.Name {
		t.Fatalf("projects after the deletion: %v, want only %q", names, other.Name)
	}
	// The other project keeps its volume of the same name, file and cache entry included.
	e.get(fmt.Sprintf("/api/volumes/%d/slices/0", kept.ID)).expect(t, http.StatusOK)
	if _, err := os.Stat(keptFile); err != nil {
		t.Fatalf("the other project's volume file: %v", err)
	}
	e.do(http.MethodDelete, fmt.Sprintf("/api/projects/%d", p.ID), nil, nil).expect(t, http.StatusNotFound)
}

func TestDeleteUnknownIDs(t *testing.T) {
	e := newTestEnv(t)
	for _, path := range []string{"/api/volumes/999", "/api/projects/999", "/api/volumes/abc", "/api/projects/0"} {
		r := e.do(http.MethodDelete, path, nil, nil).expect(t, http.StatusNotFound)
		if msg := r.errorMessage(t); strings.Contains(msg, "\n") {
			t.Fatalf("DELETE %s: reason %q spans lines", path, msg)
		}
	}
}

// A queued or running run reads the project's volumes and writes predictions into them: neither a volume
// nor the project may go while it does, and nothing is touched by the refusal.
func TestDeleteRefusedDuringRun(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	p := e.createProject("training", "wm")
	v, file := e.uploadTiny(p.ID, "busy.nii.gz")
	run, err := e.store.CreateRun(ctx, p.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	tab := e.mustDial(p.ID)

	for _, path := range []string{fmt.Sprintf("/api/volumes/%d", v.ID), fmt.Sprintf("/api/projects/%d", p.ID)} {
		r := e.do(http.MethodDelete, path, nil, nil).expect(t, http.StatusConflict)
		msg := r.errorMessage(t)
		if !strings.Contains(msg, fmt.Sprintf("run %d", run.ID)) || !strings.Contains(msg, "cancel") || strings.Contains(msg, "\n") {
			t.Fatalf("DELETE %s refused with %q, want one line naming run %d and how to go on", path, msg, run.ID)
		}
	}
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("volume file after the refusals: %v", err)
	}
	e.get(fmt.Sprintf("/api/volumes/%d", v.ID)).expect(t, http.StatusOK)

	// Once the run has ended, the deletion goes through; the first event the tab sees is that one, so the
	// refusals announced nothing.
	if _, err := e.store.FinishRun(ctx, run.ID, store.RunCancelled, "", nil); err != nil {
		t.Fatal(err)
	}
	e.do(http.MethodDelete, fmt.Sprintf("/api/volumes/%d", v.ID), nil, nil).expect(t, http.StatusNoContent)
	var ev map[string]any
	readEvent(t, tab, &ev)
	if ev["type"] != event.TypeVolumeDeleted {
		t.Fatalf("first event %v, want the volume's deletion", ev)
	}
	expectGone(t, file)
}

// Deletions are state-changing requests: refused from other sites' pages and on unknown host names.
func TestDeleteCrossSiteRefused(t *testing.T) {
	e := newTestEnv(t)
	p := e.createProject("guarded", "wm")
	v, file := e.uploadTiny(p.ID, "kept.nii.gz")
	volumePath := fmt.Sprintf("/api/volumes/%d", v.ID)
	projectPath := fmt.Sprintf("/api/projects/%d", p.ID)
	for _, path := range []string{volumePath, projectPath} {
		for _, origin := range []string{"http://evil.example", "null"} {
			e.do(http.MethodDelete, path, nil, map[string]string{"Origin": origin}).expect(t, http.StatusForbidden)
		}
		e.request(e.newRequest(http.MethodDelete, path, "evil.example", nil, nil)).expect(t, http.StatusForbidden)
	}
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("volume file after refused deletions: %v", err)
	}
	e.get(volumePath).expect(t, http.StatusOK)
	// A loopback development server's page may delete, like any other change.
	e.do(http.MethodDelete, volumePath, nil, map[string]string{"Origin": "http://localhost:5173"}).expect(t, http.StatusNoContent)
	e.do(http.MethodDelete, projectPath, nil, map[string]string{"Origin": "http://localhost:5173"}).expect(t, http.StatusNoContent)
}

// A decode that began before a volume's deletion must not put the deleted volume back into the cache: evict
// waits for it and drops what it decoded; the size accounting follows.
func TestEvictWaitsForADecodeInFlight(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	c := newVolumeCache(1<<20, func(_ context.Context, id int64) (*nifti.Volume, error) {
		if id == 1 {
			close(started)
			<-release
		}
		return fakeVolume(100), nil
	})
	ctx := context.Background()
	if _, err := c.get(ctx, 2); err != nil {
		t.Fatal(err)
	}
	loaded := make(chan error, 1)
	go func() {
		_, err := c.get(ctx, 1)
		loaded <- err
	}()
	<-started
	evicted := make(chan struct{})
	go func() {
		c.evict(1)
		close(evicted)
	}()
	select {
	case <-evicted:
		t.Fatal("evict returned while the volume was still being decoded")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-loaded; err != nil {
		t.Fatal(err)
	}
	<-evicted
	if c.cached(1) || !c.cached(2) {
		t.Fatalf("after evicting 1: cached(1) = %v, cached(2) = %v; want false, true", c.cached(1), c.cached(2))
	}
	if c.size != 400 || c.order.Len() != 1 {
		t.Fatalf("cache holds %d bytes in %d entries, want 400 in 1", c.size, c.order.Len())
	}
	c.evict(3) // never cached
	if c.size != 400 || !c.cached(2) {
		t.Fatalf("evicting an uncached volume changed the cache: %d bytes, cached(2) = %v", c.size, c.cached(2))
	}
}
