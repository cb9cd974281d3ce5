package server

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mriworkbench/workbench/nifti"
)

func fakeVolume(voxels int) *nifti.Volume {
	return &nifti.Volume{Shape: [3]int{voxels, 1, 1}, Data: make([]float32, voxels)}
}

func TestVolumeCacheEvictsLeastRecentlyUsed(t *testing.T) {
	var loads [4]atomic.Int32
	c := newVolumeCache(2*400, func(_ context.Context, id int64) (*nifti.Volume, error) {
		loads[id].Add(1)
		return fakeVolume(100), nil // 400 bytes each: two fit
	})
	ctx := context.Background()
	for _, id := range []int64{1, 2, 1, 3, 1, 2} {
		if _, err := c.get(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	// 1 stays hot; 2 was evicted by 3 and decoded again; 3 was evicted by that second 2.
	if got := [3]int32{loads[1].Load(), loads[2].Load(), loads[3].Load()}; got != [3]int32{1, 2, 1} {
		t.Fatalf("decodes per volume %v, want [1 2 1]", got)
	}
	if c.size != 800 || c.order.Len() != 2 {
		t.Fatalf("cache holds %d bytes in %d entries", c.size, c.order.Len())
	}
	// A volume put by an upload counts like a decoded one and evicts the least recently used: 1, since 2 was
	// requested last.
	c.put(3, fakeVolume(100))
	if _, ok := c.entries[1]; ok || c.size != 800 {
		t.Fatalf("after put: %d bytes, volume 1 still cached: %v", c.size, ok)
	}
}

func TestVolumeCacheKeepsAnOversizedVolumeAlone(t *testing.T) {
	c := newVolumeCache(100, func(context.Context, int64) (*nifti.Volume, error) { return fakeVolume(1000), nil })
	for id := range int64(3) {
		if _, err := c.get(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
	if c.order.Len() != 1 {
		t.Fatalf("%d oversized volumes cached, want only the latest", c.order.Len())
	}
}

func TestVolumeCacheSharesOneDecodeAndDoesNotCacheErrors(t *testing.T) {
	var loads atomic.Int32
	started, release := make(chan struct{}, 8), make(chan struct{})
	fail := errors.New("unreadable")
	c := newVolumeCache(1<<20, func(_ context.Context, id int64) (*nifti.Volume, error) {
		loads.Add(1)
		started <- struct{}{}
		<-release
		if id == 2 {
			return nil, fail
		}
		return fakeVolume(10), nil
	})
	var wg sync.WaitGroup
	results := make([]*nifti.Volume, 8)
	for i := range results {
		wg.Go(func() {
			v, err := c.get(context.Background(), 1)
			if err != nil {
				t.Error(err)
			}
			results[i] = v
		})
	}
	// Requests arriving while the decode runs wait for it; later ones find it cached.
	<-started
	close(release)
	wg.Wait()
	if loads.Load() != 1 {
		t.Fatalf("%d decodes for concurrent requests, want 1", loads.Load())
	}
	for _, v := range results {
		if v != results[0] {
			t.Fatal("concurrent requests got different volumes")
		}
	}
	for range 2 {
		if _, err := c.get(context.Background(), 2); !errors.Is(err, fail) {
			t.Fatalf("error %v, want %v", err, fail)
		}
	}
	if loads.Load() != 3 {
		t.Fatalf("failed decode was cached: %d loads", loads.Load())
	}
}

// A loader that panics fails its request and the requests waiting for it, and the next request loads again
// instead of waiting forever for a load that never finishes.
func TestVolumeCacheSurvivesAPanickingLoad(t *testing.T) {
	var calls atomic.Int32
	started, release := make(chan struct{}), make(chan struct{})
	c := newVolumeCache(1<<20, func(context.Context, int64) (*nifti.Volume, error) {
		if calls.Add(1) == 1 {
			close(started)
			<-release
			panic("decoder bug")
		}
		return fakeVolume(10), nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	first, waiter := make(chan error, 1), make(chan error, 1)
	go func() { _, err := c.get(ctx, 7); first <- err }()
	<-started
	// A second request finds the pending load (the sleep makes that all but certain) and must be woken.
	go func() { _, err := c.get(ctx, 7); waiter <- err }()
	time.Sleep(50 * time.Millisecond)
	close(release)
	if err := <-first; err == nil || !strings.Contains(err.Error(), "decoder bug") {
		t.Fatalf("panicking load: error %v, want one naming the panic", err)
	}
	// The waiter shares the failure; ctx's deadline stands for "hung forever".
	if err := <-waiter; err != nil && !strings.Contains(err.Error(), "decoder bug") {
		t.Fatalf("request waiting on a panicking load: %v", err)
	}
	if vol, err := c.get(ctx, 7); err != nil || vol == nil {
		t.Fatalf("load after the panic: %v", err)
	}
	if n := calls.Load(); n != 2 {
		t.Fatalf("%d loads, want the panicking one and one more", n)
	}
}
