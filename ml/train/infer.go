package train

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/mriworkbench/workbench/ml/data"
)

// Uncertainty regions.
const (
	// RegionForeground averages the entropy over the pixels where the model gives the classes together at least
	// 10% probability (background below 90%): the structure and its uncertain rim. Averaging over the whole slice
	// would let the confidently empty background, whose extent depends on the field of view, drown the score.
	// A slice with no such pixel scores 0.
	RegionForeground = "foreground"
	// RegionSlice averages the entropy over every pixel of the slice.
	RegionSlice = "slice"
)

// PredictOptions tune whole-slice inference. The zero value gives the defaults.
type PredictOptions struct {
	// Tiled covers each slice with training-crop-sized tiles (overlapping by Overlap pixels, crop/4 when 0) and
	// averages their probabilities, instead of one pass over the slice padded to a multiple of 8. The single
	// pass is the default: it computes no overlap twice (a 20-slice 256x192 volume took 2.1 s against 3.8 s with
	// 48x48 tiles on 2 cores) and sees the whole context; on the gm-challenge volume the two agreed within noise
	// (grey-matter Dice 0.867 vs 0.876 with 48x48 tiles, 0.569 vs 0.495 with 64x64 ones). Slices larger than
	// MaxFullPixels are always tiled, with tiles of at least 256x256, to bound memory.
	Tiled   bool
	Overlap int
	// BatchSize is the number of slices (or tiles) per forward pass; 0 means 4.
	BatchSize int
	// MCPasses > 0 runs that many Monte-Carlo dropout passes (dropout on, batch norm on its running statistics)
	// and returns their mean probabilities; the uncertainty is then the entropy of that mean (predictive
	// entropy), which grows where the passes disagree. MCSeed seeds the dropout masks.
	MCPasses int
	MCSeed   uint64
	// Region is RegionForeground (the default when empty) or RegionSlice.
	Region string
}

// MaxFullPixels is the largest padded slice inferred in one pass; larger slices are tiled.
const MaxFullPixels = 384 * 384

// Prediction is a model's output for one slice.
type Prediction struct {
	ClassMap []uint8   // W*H class indices, x fastest
	Probs    []float32 // OutChannels*H*W probabilities, channel-major (background first; one channel for K = 1)
	// Uncertainty is the mean normalised softmax entropy (0 = certain, 1 = uniform) over the region chosen in
	// PredictOptions.
	Uncertainty float64
}

// PredictSlice segments one whole slice of any size (w*h raw intensities, x fastest) with the default options.
func (m *Model) PredictSlice(img []float32, w, h int) (classMap []uint8, probs []float32, uncertainty float64, err error) {
	ps, err := m.PredictSlices([]data.Sample{{Image: img, W: w, H: h}}, PredictOptions{})
	if err != nil {
		return nil, nil, 0, err
	}
	return ps[0].ClassMap, ps[0].Probs, ps[0].Uncertainty, nil
}

// PredictSlices segments whole slices (their Image, W and H are used; masks are ignored), batching slices of
// equal size into one forward pass.
func (m *Model) PredictSlices(slices []data.Sample, o PredictOptions) ([]Prediction, error) {
	if o.Region == "" {
		o.Region = RegionForeground
	}
	if o.Region != RegionForeground && o.Region != RegionSlice {
		return nil, fmt.Errorf("predict: unknown uncertainty region %q", o.Region)
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 4
	}
	if o.MCPasses < 0 {
		return nil, fmt.Errorf("predict: %d Monte-Carlo passes", o.MCPasses)
	}
	norm, err := m.Info.Norm.data()
	if err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	for i, s := range slices {
		if err := s.Validate(false); err != nil {
			return nil, fmt.Errorf("predict: slice %d: %w", i, err)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()

	passes := max(o.MCPasses, 1)
	var mc *mcDropout
	if o.MCPasses > 0 {
		if mc, err = m.newMCDropout(o.MCSeed); err != nil {
			return nil, err
		}
	}
	out := make([]Prediction, len(slices))
	chans := m.net.OutChannels()
	stitchers := map[[2]int]*data.Stitcher{}
	// Group consecutive slices of equal size so one forward pass serves several.
	for start := 0; start < len(slices); {
		end := start + 1
		for end < len(slices) && end-start < o.BatchSize && slices[end].W == slices[start].W && slices[end].H == slices[start].H {
			end++
		}
		group := slices[start:end]
		w, h := group[0].W, group[0].H
		key := [2]int{w, h}
		if stitchers[key] == nil {
			stitchers[key] = data.NewStitcher(w, h, chans)
		}
		sums := make([][]float32, len(group))
		for pass := range passes {
			if mc != nil {
				mc.perturb(pass)
			}
			probs, err := m.predictGroup(group, norm, o, stitchers[key])
			if mc != nil {
				mc.undo()
			}
			if err != nil {
				return nil, err
			}
			for k := range group {
				if sums[k] == nil {
					sums[k] = probs[k]
					continue
				}
				for i, v := range probs[k] {
					sums[k][i] += v
				}
			}
		}
		for k := range group {
			p := sums[k]
			if passes > 1 {
				inv := 1 / float32(passes)
				for i := range p {
					p[i] *= inv
				}
			}
			out[start+k] = Prediction{
				ClassMap:    classMap(p, chans, w*h),
				Probs:       p,
				Uncertainty: uncertainty(p, chans, w*h, o.Region),
			}
		}
		start = end
	}
	return out, nil
}

// predictGroup returns the whole-slice probabilities of slices of one size (one pass, no averaging).
func (m *Model) predictGroup(group []data.Sample, norm data.Normalization, o PredictOptions, st *data.Stitcher) ([][]float32, error) {
	w, h := group[0].W, group[0].H
	chans := m.net.OutChannels()
	k := m.net.Net.SizeMultiple()
	pw, ph := roundUp(w, k), roundUp(h, k)
	tiled := o.Tiled || pw*ph > MaxFullPixels
	tw, th := pw, ph
	overlap := 0
	if tiled {
		tw, th = m.Info.CropW, m.Info.CropH
		if !o.Tiled {
			tw, th = max(tw, 256), max(th, 256)
		}
		overlap = o.Overlap
		if overlap <= 0 {
			overlap = min(tw, th) / 4
		}
	}
	tiles := []data.Point{data.CenterOrigin(w, h, pw, ph)}
	if tiled {
		tiles = data.Tiles(w, h, tw, th, overlap)
	}
	// Work items: (slice, tile) pairs, run BatchSize at a time.
	type item struct{ slice, tile int }
	var items []item
	for s := range group {
		for t := range tiles {
			items = append(items, item{s, t})
		}
	}
	stats := make([]data.Stats, len(group))
	for i, s := range group {
		stats[i] = norm.For(s.Image)
	}
	plane := tw * th
	out := make([][]float32, len(group))
	doneTiles := make([]int, len(group))
	st.Reset()
	current := -1
	for first := 0; first < len(items); first += o.BatchSize {
		batch := items[first:min(first+o.BatchSize, len(items))]
		img := make([]float32, len(batch)*plane)
		for k, it := range batch {
			data.CropInto(img[k*plane:(k+1)*plane], nil, group[it.slice], tiles[it.tile], tw, th, stats[it.slice])
		}
		probs, err := m.net.Predict(img, len(batch), th, tw)
		if err != nil {
			return nil, fmt.Errorf("predict: %w", err)
		}
		for k, it := range batch {
			if it.slice != current {
				st.Reset()
				current = it.slice
			}
			if err := st.Add(tiles[it.tile], tw, th, probs[k*chans*plane:(k+1)*chans*plane]); err != nil {
				return nil, err
			}
			doneTiles[it.slice]++
			if doneTiles[it.slice] == len(tiles) {
				if !st.Covered() {
					return nil, errors.New("predict: tiles left pixels uncovered")
				}
				out[it.slice] = st.Probabilities(nil)
			}
		}
	}
	return out, nil
}

func roundUp(n, k int) int { return (n + k - 1) / k * k }

// classMap picks each pixel's most probable class (ties to the lower class), or for a one-channel sigmoid
// output class 1 where the probability is at least 0.5.
func classMap(p []float32, chans, plane int) []uint8 {
	out := make([]uint8, plane)
	if chans == 1 {
		for i, v := range p[:plane] {
			if v >= 0.5 {
				out[i] = 1
			}
		}
		return out
	}
	for i := range out {
		best, bestP := 0, p[i]
		for c := 1; c < chans; c++ {
			if v := p[c*plane+i]; v > bestP {
				best, bestP = c, v
			}
		}
		out[i] = uint8(best)
	}
	return out
}

// uncertainty is the mean normalised entropy of the pixels in region (see RegionForeground).
func uncertainty(p []float32, chans, plane int, region string) float64 {
	var sum float64
	var n int
	for i := range plane {
		var ent, fg float64
		if chans == 1 {
			q := float64(p[i])
			fg = q
			ent = (xlogx(q) + xlogx(1-q)) / -math.Ln2
		} else {
			for c := range chans {
				ent -= xlogx(float64(p[c*plane+i]))
			}
			ent /= math.Log(float64(chans))
			fg = 1 - float64(p[i])
		}
		if region == RegionForeground && fg < 0.1 {
			continue
		}
		sum += ent
		n++
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

func xlogx(x float64) float64 {
	if x <= 0 {
		return 0
	}
	return x * math.Log(x)
}

// mcDropout runs Monte-Carlo dropout through the engine's evaluation mode. The engine has no switch for
// "dropout on, batch norm on running statistics", but in its blocks every batch norm is followed by channel
// dropout, and dropping or keeping (scaling by 1/(1-p)) a channel after an affine batch norm equals scaling
// that channel's gamma and beta. So each pass scales the batch-norm parameters by a drawn mask and undoes it
// afterwards. All slices of one forward pass share the pass's mask, which leaves each slice's Monte-Carlo
// distribution unchanged.
type mcDropout struct {
	p      float64
	seed   uint64
	pairs  [][2][]float32 // gamma, beta of each dropout-carrying batch norm
	backup [][2][]float32
}

func (m *Model) newMCDropout(seed uint64) (*mcDropout, error) {
	p := float64(m.net.Net.Config().DropRate)
	if p <= 0 {
		return nil, errors.New("predict: Monte-Carlo dropout needs a model trained with dropout")
	}
	params := m.net.Params()
	byName := map[string][]float32{}
	for _, t := range params {
		byName[t.Name] = t.Data
	}
	mc := &mcDropout{p: p, seed: seed}
	for _, t := range params {
		base, ok := strings.CutSuffix(t.Name, "_bn.weight")
		if !ok {
			continue
		}
		beta, ok := byName[base+"_bn.bias"]
		if !ok {
			continue
		}
		mc.pairs = append(mc.pairs, [2][]float32{t.Data, beta})
		mc.backup = append(mc.backup, [2][]float32{append([]float32(nil), t.Data...), append([]float32(nil), beta...)})
	}
	if len(mc.pairs) == 0 {
		return nil, fmt.Errorf("predict: architecture %s has no batch norm followed by dropout for Monte-Carlo passes", m.Info.Arch)
	}
	return mc, nil
}

func (mc *mcDropout) perturb(pass int) {
	r := rand.New(rand.NewPCG(mc.seed, uint64(pass)))
	keep := float32(1 / (1 - mc.p))
	for _, pr := range mc.pairs {
		for c := range pr[0] {
			s := keep
			if r.Float64() < mc.p {
				s = 0
			}
			pr[0][c] *= s
			pr[1][c] *= s
		}
	}
}

func (mc *mcDropout) undo() {
	for i, pr := range mc.pairs {
		copy(pr[0], mc.backup[i][0])
		copy(pr[1], mc.backup[i][1])
	}
}
