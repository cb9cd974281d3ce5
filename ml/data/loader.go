package data

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
)

// LoaderConfig sets up a Loader.
type LoaderConfig struct {
	BatchSize    int
	CropW, CropH int
	Placement    Placement     // where each crop sits in its slice (before augmentation)
	Augment      AugmentConfig // zero value: none (validation)
	Norm         Normalization // statistics of each whole slice (or fixed), so all crops and tiles of a slice share them
	Seed         uint64
	Shuffle      bool // a fresh seeded order every epoch; off: the samples' order
	// Balanced (with Shuffle) draws each epoch's len(samples) positions with replacement so that every Group
	// gets the same share, and within a group that has slices with and without labelled structures, those
	// without get EmptyShare of the group's draws (see BalancedWeights).
	Balanced    bool
	EmptyShare  float64
	FullBatches bool // pad an epoch's last, short batch with samples from the start of the same epoch's order
	Epochs      int  // after this many epochs Next returns io.EOF; 0: no end
	Workers     int  // goroutines preparing a batch together; 0 or 1: one
}

// Batch is one prepared batch in the engine's layout. Its buffers belong to the Loader and stay valid until the
// next call to Next or Close.
type Batch struct {
	Images []float32 // N*1*CropH*CropW
	Masks  []uint8   // N*CropH*CropW
	Keys   []string  // the samples' keys, in batch order
	N      int       // samples in this batch: BatchSize, or fewer at the end of an epoch unless FullBatches
	W, H   int       // crop size
	Epoch  int       // 0-based epoch of this batch
	Index  int       // 0-based batch number within the epoch
	Last   bool      // the epoch's last batch
}

// Loader prepares training batches in a background goroutine: while the caller trains on one batch, the next
// is augmented, cropped and normalised into the second of two reused buffers, so steady-state batches cost no
// allocation proportional to the images.
//
// Every random choice for a sample (crop placement, augmentation parameters, elastic field) comes from a
// generator seeded by (Seed, epoch, position in epoch), so a run is reproducible whatever the number of workers.
type Loader struct {
	cfg     LoaderConfig
	samples []Sample
	stats   []Stats
	cumul   []float64 // Balanced: cumulative sampling weights, the last one 1
	boxes   []Box     // labelled bounding boxes, for PlaceForeground

	ready  chan *Batch // prepared batches, in order
	free   chan *Batch // buffers the caller has handed back
	held   *Batch      // the batch the caller holds
	cancel context.CancelFunc
	done   chan struct{}
	err    error // why the producer stopped (io.EOF at the end), read after done is closed
	once   sync.Once
	closed atomic.Bool
}

// NewLoader validates the samples (all labelled, sizes matching) and the configuration, and starts the
// producer goroutine; it stops when ctx is cancelled or Close is called.
func NewLoader(ctx context.Context, samples []Sample, cfg LoaderConfig) (*Loader, error) {
	if len(samples) == 0 {
		return nil, errors.New("loader: no samples")
	}
	if cfg.BatchSize <= 0 || cfg.CropW <= 0 || cfg.CropH <= 0 {
		return nil, fmt.Errorf("loader: batch size %d and crop %dx%d must be positive", cfg.BatchSize, cfg.CropW, cfg.CropH)
	}
	if cfg.Placement != PlaceCenter && cfg.Placement != PlaceRandom && cfg.Placement != PlaceForeground {
		return nil, fmt.Errorf("loader: placement %d unknown", cfg.Placement)
	}
	if err := cfg.Augment.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.Norm.Validate(); err != nil {
		return nil, err
	}
	if cfg.Balanced && !(cfg.EmptyShare >= 0 && cfg.EmptyShare < 1) {
		return nil, fmt.Errorf("loader: empty-slice share %v outside [0, 1)", cfg.EmptyShare)
	}
	stats, boxes := make([]Stats, len(samples)), make([]Box, len(samples))
	for i, s := range samples {
		if err := s.Validate(true); err != nil {
			return nil, fmt.Errorf("loader: %w", err)
		}
		stats[i], boxes[i] = cfg.Norm.For(s.Image), ForegroundBox(s)
	}
	cfg.Workers = max(cfg.Workers, 1)
	var cumul []float64
	if cfg.Balanced && cfg.Shuffle {
		// Equal weights (one volume, no empty slices) keep the plain shuffle: every slice once per epoch.
		weights := BalancedWeights(samples, cfg.EmptyShare)
		if slices.ContainsFunc(weights, func(w float64) bool { return math.Abs(w-weights[0]) > 1e-12 }) {
			cumul = make([]float64, len(samples))
			sum := 0.0
			for i, w := range weights {
				sum += w
				cumul[i] = sum
			}
			cumul[len(cumul)-1] = 1
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	l := &Loader{
		cfg: cfg, samples: samples, stats: stats, boxes: boxes, cumul: cumul,
		ready: make(chan *Batch, 1), free: make(chan *Batch, 2),
		cancel: cancel, done: make(chan struct{}),
	}
	plane := cfg.CropW * cfg.CropH
	for range 2 {
		l.free <- &Batch{
			Images: make([]float32, cfg.BatchSize*plane),
			Masks:  make([]uint8, cfg.BatchSize*plane),
			Keys:   make([]string, cfg.BatchSize),
			W:      cfg.CropW, H: cfg.CropH,
		}
	}
	go l.produce(ctx)
	return l, nil
}

// Next returns the next batch, waiting for it if it is not ready yet. It hands the previous batch's buffers back
// to the producer, so that batch must no longer be used. It returns io.EOF after the configured epochs, ctx's
// error when ctx ends first, an error once the Loader is closed, and the error of the context given to
// NewLoader once that has ended (after any batch already prepared).
func (l *Loader) Next(ctx context.Context) (Batch, error) {
	if l.closed.Load() {
		return Batch{}, errClosed
	}
	if l.held != nil {
		l.free <- l.held // never blocks: two buffers, and the producer holds at most the other one
		l.held = nil
	}
	select {
	case b := <-l.ready:
		l.held = b
		return *b, nil
	case <-ctx.Done():
		return Batch{}, ctx.Err()
	case <-l.done:
		// A batch finished just before the producer stopped is still delivered.
		select {
		case b := <-l.ready:
			l.held = b
			return *b, nil
		default:
		}
		return Batch{}, l.err
	}
}

// Close stops the producer and waits for it to exit. It is safe to call more than once.
func (l *Loader) Close() error {
	l.once.Do(func() {
		l.closed.Store(true)
		l.cancel()
		<-l.done
	})
	return nil
}

var errClosed = errors.New("loader: closed")

// stopReason says why the producer stopped early: Close, or the end of the context given to NewLoader.
func (l *Loader) stopReason(ctx context.Context) error {
	if l.closed.Load() {
		return errClosed
	}
	return ctx.Err()
}

func (l *Loader) produce(ctx context.Context) {
	defer close(l.done)
	workers := make([]*sampleWorker, l.cfg.Workers)
	for i := range workers {
		workers[i] = newSampleWorker()
	}
	n := len(l.samples)
	order := make([]int, n)
	for epoch := 0; l.cfg.Epochs == 0 || epoch < l.cfg.Epochs; epoch++ {
		for i := range order {
			order[i] = i
		}
		if l.cfg.Shuffle {
			r := rand.New(rand.NewPCG(l.cfg.Seed, uint64(epoch)))
			if l.cumul != nil {
				for i := range order {
					order[i] = min(sort.SearchFloat64s(l.cumul, r.Float64()), n-1)
				}
			} else {
				r.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
			}
		}
		batches := (n + l.cfg.BatchSize - 1) / l.cfg.BatchSize
		for bi := range batches {
			var b *Batch
			select {
			case b = <-l.free:
			case <-ctx.Done():
				l.err = l.stopReason(ctx)
				return
			}
			first := bi * l.cfg.BatchSize
			count := min(l.cfg.BatchSize, n-first)
			if l.cfg.FullBatches {
				count = l.cfg.BatchSize
			}
			l.fill(b, workers, order, epoch, first, count)
			b.Epoch, b.Index, b.Last = epoch, bi, bi == batches-1
			select {
			case l.ready <- b:
			case <-ctx.Done():
				l.err = l.stopReason(ctx)
				return
			}
		}
	}
	l.err = io.EOF
}

// fill prepares positions first..first+count-1 of the epoch's order (wrapping around for FullBatches) into b.
func (l *Loader) fill(b *Batch, workers []*sampleWorker, order []int, epoch, first, count int) {
	plane := l.cfg.CropW * l.cfg.CropH
	b.N = count
	b.Images, b.Masks, b.Keys = b.Images[:count*plane], b.Masks[:count*plane], b.Keys[:count]
	one := func(w *sampleWorker, k int) {
		pos := first + k
		idx := order[pos%len(order)]
		s := l.samples[idx]
		b.Keys[k] = s.Key
		w.prepare(b.Images[k*plane:(k+1)*plane], b.Masks[k*plane:(k+1)*plane], s, l.stats[idx], l.boxes[idx], &l.cfg, epoch, pos)
	}
	if len(workers) == 1 {
		for k := range count {
			one(workers[0], k)
		}
		return
	}
	var wg sync.WaitGroup
	for wi, w := range workers {
		wg.Go(func() {
			for k := wi; k < count; k += len(workers) {
				one(w, k)
			}
		})
	}
	wg.Wait()
}

// sampleWorker owns the random generator and scratch buffers of one goroutine preparing samples.
type sampleWorker struct {
	pcg rand.PCG
	rng *rand.Rand
	aug *Augmenter
}

func newSampleWorker() *sampleWorker {
	w := &sampleWorker{aug: NewAugmenter()}
	w.rng = rand.New(&w.pcg)
	return w
}

// prepare writes one crop: placed, augmented and normalised, with randomness seeded by (seed, epoch, position).
func (w *sampleWorker) prepare(img []float32, mask []uint8, s Sample, st Stats, box Box, cfg *LoaderConfig, epoch, pos int) {
	w.pcg.Seed(cfg.Seed^0x6a09e667f3bcc909, mix64(uint64(epoch)<<32|uint64(uint32(pos))))
	var origin Point
	switch cfg.Placement {
	case PlaceRandom:
		origin = RandomOrigin(w.rng, s.W, s.H, cfg.CropW, cfg.CropH)
	case PlaceForeground:
		origin = ForegroundOrigin(w.rng, box, s.W, s.H, cfg.CropW, cfg.CropH)
	default:
		origin = CenterOrigin(s.W, s.H, cfg.CropW, cfg.CropH)
	}
	if cfg.Augment == (AugmentConfig{}) {
		CropInto(img, mask, s, origin, cfg.CropW, cfg.CropH, st)
		return
	}
	w.aug.Apply(img, mask, s, origin, cfg.CropW, cfg.CropH, st, cfg.Augment.Draw(w.rng))
}

// BalancedWeights returns each sample's probability of being drawn (summing to 1) so that every Group has the
// same share, and within a group holding both slices with labelled structures and slices without, those
// without share emptyShare of the group's weight and those with the rest; within a kind, slices are equal.
// A group of one kind gives its whole share to it. So a volume of 100 slices with the structure in 5 is not
// trained mostly on background, and a volume with many labelled slices does not crowd out one with few.
func BalancedWeights(samples []Sample, emptyShare float64) []float64 {
	type count struct{ empty, full int }
	counts := map[string]*count{}
	empty := make([]bool, len(samples))
	for i, s := range samples {
		c := counts[s.Group]
		if c == nil {
			c = &count{}
			counts[s.Group] = c
		}
		empty[i] = !slices.ContainsFunc(s.Mask, func(v uint8) bool { return v != 0 })
		if empty[i] {
			c.empty++
		} else {
			c.full++
		}
	}
	group := 1 / float64(len(counts))
	out := make([]float64, len(samples))
	for i, s := range samples {
		c := counts[s.Group]
		switch {
		case c.empty == 0 || c.full == 0:
			out[i] = group / float64(c.empty+c.full)
		case empty[i]:
			out[i] = group * emptyShare / float64(c.empty)
		default:
			out[i] = group * (1 - emptyShare) / float64(c.full)
		}
	}
	return out
}
