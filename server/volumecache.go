package server

import (
	"container/list"
	"context"
	"fmt"
	"runtime/debug"
	"sync"

	"github.com/mriworkbench/workbench/nifti"
)

// volumeCache keeps recently viewed canonical volumes in memory, bounded by the bytes of their voxel data, so
// that paging through slices does not decode the original NIfTI file again. Concurrent first requests for the
// same volume share one decode.
type volumeCache struct {
	budget int64
	load   func(ctx context.Context, volumeID int64) (*nifti.Volume, error)

	mu      sync.Mutex
	size    int64
	order   *list.List // front = most recently used; values are *cacheEntry
	entries map[int64]*list.Element
	loading map[int64]*pendingLoad
}

type cacheEntry struct {
	id  int64
	vol *nifti.Volume
}

type pendingLoad struct {
	done chan struct{}
	vol  *nifti.Volume
	err  error
}

func newVolumeCache(budget int64, load func(ctx context.Context, volumeID int64) (*nifti.Volume, error)) *volumeCache {
	return &volumeCache{
		budget:  budget,
		load:    load,
		order:   list.New(),
		entries: make(map[int64]*list.Element),
		loading: make(map[int64]*pendingLoad),
	}
}

func volumeBytes(v *nifti.Volume) int64 { return int64(len(v.Data)) * 4 }

// get returns the canonical volume, decoding it on a miss. The returned volume is shared: callers must not
// modify it.
func (c *volumeCache) get(ctx context.Context, id int64) (*nifti.Volume, error) {
	c.mu.Lock()
	if el, ok := c.entries[id]; ok {
		c.order.MoveToFront(el)
		c.mu.Unlock()
		return el.Value.(*cacheEntry).vol, nil
	}
	if p, ok := c.loading[id]; ok {
		c.mu.Unlock()
		select {
		case <-p.done:
			return p.vol, p.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	p := &pendingLoad{done: make(chan struct{})}
	c.loading[id] = p
	c.mu.Unlock()

	// The decode is not tied to this request's context: other requests may be waiting for it.
	p.vol, p.err = c.loadSafely(context.WithoutCancel(ctx), id)

	c.mu.Lock()
	delete(c.loading, id)
	if p.err == nil {
		c.insertLocked(id, p.vol)
	}
	c.mu.Unlock()
	close(p.done)
	return p.vol, p.err
}

// loadSafely runs the loader, turning a panic (e.g. in a decoder on a damaged file) into an error, so that the
// pending load is always finished: otherwise every later request for the volume would wait for it forever.
func (c *volumeCache) loadSafely(ctx context.Context, id int64) (vol *nifti.Volume, err error) {
	defer func() {
		if r := recover(); r != nil {
			vol, err = nil, fmt.Errorf("loading volume %d panicked: %v\n%s", id, r, debug.Stack())
		}
	}()
	return c.load(ctx, id)
}

// insertLocked adds a volume and evicts the least recently used ones until the budget holds; the newest entry
// stays even when it alone exceeds the budget, since it is the one being viewed.
func (c *volumeCache) insertLocked(id int64, v *nifti.Volume) {
	c.entries[id] = c.order.PushFront(&cacheEntry{id: id, vol: v})
	c.size += volumeBytes(v)
	for c.size > c.budget && c.order.Len() > 1 {
		oldest := c.order.Back()
		e := oldest.Value.(*cacheEntry)
		c.order.Remove(oldest)
		delete(c.entries, e.id)
		c.size -= volumeBytes(e.vol)
	}
}

// put caches a volume decoded elsewhere, e.g. by an upload.
func (c *volumeCache) put(id int64, v *nifti.Volume) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[id]; !ok {
		c.insertLocked(id, v)
	}
}

// evict drops a deleted volume from the cache. A decode of it in flight is waited for and dropped too, so it
// cannot put the volume back afterwards; later loads fail because the volume's row is gone.
func (c *volumeCache) evict(id int64) {
	c.mu.Lock()
	pending := c.loading[id]
	c.mu.Unlock()
	if pending != nil {
		<-pending.done
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[id]; ok {
		c.order.Remove(el)
		delete(c.entries, id)
		c.size -= volumeBytes(el.Value.(*cacheEntry).vol)
	}
}
