package data

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// AugmentConfig sets the rate and range of each training augmentation. The zero value augments nothing; a
// transform with probability 0 is off. DefaultAugment gives the published pipeline's values.
type AugmentConfig struct {
	FlipProb float64 // left-right flip

	ScaleProb            float64
	ScaleMin, ScaleMax   float64 // overall zoom; below 1 the content shrinks
	AspectMin, AspectMax float64 // x:y stretch of the zoom

	RotateProb   float64
	RotateMaxDeg float64 // angle drawn in [-RotateMaxDeg, +RotateMaxDeg]

	ShiftProb float64
	ShiftMax  float64 // constant drawn in [-ShiftMax, +ShiftMax], added after normalisation

	ElasticProb        float64
	SigmaMin, SigmaMax float64 // Gaussian smoothing of the displacement field, in pixels
	AlphaMin, AlphaMax float64 // amplitude of the smoothed field
}

// DefaultAugment returns PIPELINE.md's augmentation: flip at rate 0.5; scale in [0.5, 1] with aspect ratio in
// [0.75, 1.25]; rotation in [-20, 20] degrees; channel shift in [-0.2, 0.2] (20% of the maximum intensity, taken
// as 1 after normalisation); elastic deformation at rate 0.3 with sigma in [3, 4.5] and alpha in [8, 17].
// Scale, rotation and shift apply to every sample, as in the reference.
func DefaultAugment() AugmentConfig {
	return AugmentConfig{
		FlipProb:  0.5,
		ScaleProb: 1, ScaleMin: 0.5, ScaleMax: 1, AspectMin: 0.75, AspectMax: 1.25,
		RotateProb: 1, RotateMaxDeg: 20,
		ShiftProb: 1, ShiftMax: 0.2,
		ElasticProb: 0.3, SigmaMin: 3, SigmaMax: 4.5, AlphaMin: 8, AlphaMax: 17,
	}
}

// Validate reports probabilities outside [0, 1] and empty or non-physical ranges of enabled transforms.
func (c AugmentConfig) Validate() error {
	for _, p := range []struct {
		name string
		p    float64
	}{{"flip", c.FlipProb}, {"scale", c.ScaleProb}, {"rotate", c.RotateProb}, {"shift", c.ShiftProb}, {"elastic", c.ElasticProb}} {
		if !(p.p >= 0 && p.p <= 1) {
			return fmt.Errorf("augment: %s probability %v outside [0, 1]", p.name, p.p)
		}
	}
	bad := func(lo, hi float64) bool { return !(lo > 0 && hi >= lo) || math.IsInf(hi, 0) }
	if c.ScaleProb > 0 && (bad(c.ScaleMin, c.ScaleMax) || bad(c.AspectMin, c.AspectMax)) {
		return fmt.Errorf("augment: scale [%v, %v] and aspect [%v, %v] need 0 < min <= max", c.ScaleMin, c.ScaleMax, c.AspectMin, c.AspectMax)
	}
	if c.RotateProb > 0 && !(c.RotateMaxDeg >= 0 && c.RotateMaxDeg <= 180) {
		return fmt.Errorf("augment: rotation %v degrees outside [0, 180]", c.RotateMaxDeg)
	}
	if c.ShiftProb > 0 && (!(c.ShiftMax >= 0) || math.IsInf(c.ShiftMax, 0)) {
		return fmt.Errorf("augment: shift %v must be finite and non-negative", c.ShiftMax)
	}
	if c.ElasticProb > 0 && (bad(c.SigmaMin, c.SigmaMax) || !(c.AlphaMin >= 0 && c.AlphaMax >= c.AlphaMin) || math.IsInf(c.AlphaMax, 0)) {
		return fmt.Errorf("augment: elastic sigma [%v, %v] needs 0 < min <= max, alpha [%v, %v] 0 <= min <= max",
			c.SigmaMin, c.SigmaMax, c.AlphaMin, c.AlphaMax)
	}
	return nil
}

// Params are the drawn parameters of one sample's augmentation; Identity changes nothing.
type Params struct {
	Flip     bool    // mirror left-right about the crop centre
	Scale    float64 // zoom: x is scaled by Scale*sqrt(Aspect), y by Scale/sqrt(Aspect)
	Aspect   float64
	Rotation float64 // degrees; positive turns +x toward +y (clockwise on screen, y pointing down)
	Shift    float64 // added to the normalised image

	Elastic     bool
	Sigma       float64 // pixels
	Alpha       float64
	ElasticSeed uint64 // seeds the random displacement field
}

// Identity returns parameters that leave image and mask unchanged.
func Identity() Params { return Params{Scale: 1, Aspect: 1} }

// Draw samples one set of parameters. It always consumes the same number of random values, so switching one
// transform off does not change the values drawn for the others.
func (c AugmentConfig) Draw(r *rand.Rand) Params {
	uniform := func(lo, hi float64) float64 { return lo + (hi-lo)*r.Float64() }
	p := Identity()

	flip, scale, rotate, shift, elastic := r.Float64(), r.Float64(), r.Float64(), r.Float64(), r.Float64()
	s, a := uniform(c.ScaleMin, c.ScaleMax), uniform(c.AspectMin, c.AspectMax)
	deg := uniform(-c.RotateMaxDeg, c.RotateMaxDeg)
	sh := uniform(-c.ShiftMax, c.ShiftMax)
	sigma, alpha := uniform(c.SigmaMin, c.SigmaMax), uniform(c.AlphaMin, c.AlphaMax)
	seed := r.Uint64()

	p.Flip = flip < c.FlipProb
	if scale < c.ScaleProb {
		p.Scale, p.Aspect = s, a
	}
	if rotate < c.RotateProb {
		p.Rotation = deg
	}
	if shift < c.ShiftProb {
		p.Shift = sh
	}
	if elastic < c.ElasticProb {
		p.Elastic, p.Sigma, p.Alpha, p.ElasticSeed = true, sigma, alpha, seed
	}
	return p
}

// Augmenter applies Params to samples. It keeps scratch buffers between calls, so one goroutine owns one.
type Augmenter struct {
	field   []float64 // elastic displacement: dx then dy, crop-sized each
	tmp     []float64 // smoothing scratch
	kernel  []float64
	noise   rand.PCG
	noiseRF *rand.Rand
}

// NewAugmenter returns an Augmenter with empty scratch buffers.
func NewAugmenter() *Augmenter {
	a := &Augmenter{}
	a.noiseRF = rand.New(&a.noise)
	return a
}

// Apply writes one augmented, normalised cropW x cropH crop of s into img (and mask, when non-nil): the crop
// window's top-left corner in the slice is origin. All geometric transforms are folded into one inverse map
// from output pixel to slice position (elastic displacement, then flip, rotation and scale about the crop
// centre), sampled once: the image bilinearly, the mask by nearest neighbour, so both see exactly the same
// geometry. Positions outside the slice read as padding (the slice minimum, class 0). The channel shift is
// added after normalisation. Identity parameters reproduce CropInto exactly.
func (a *Augmenter) Apply(img []float32, mask []uint8, s Sample, origin Point, cropW, cropH int, st Stats, p Params) {
	n := cropW * cropH
	img, elastic := img[:n], p.Elastic
	var dx, dy []float64
	if elastic {
		a.elasticField(cropW, cropH, p)
		dx, dy = a.field[:n], a.field[n:2*n]
	}

	// Inverse map: slice = centre + A*(d + e), d the offset of the output pixel from the crop centre,
	// e the elastic displacement, A = S^-1 R(-theta) F.
	theta := p.Rotation * math.Pi / 180
	cos, sin := math.Cos(theta), math.Sin(theta)
	if p.Rotation == 0 {
		cos, sin = 1, 0
	}
	sqa := math.Sqrt(p.Aspect)
	sx, sy := p.Scale*sqa, p.Scale/sqa
	f := 1.0
	if p.Flip {
		f = -1
	}
	a11, a12 := f*cos/sx, sin/sx
	a21, a22 := -f*sin/sy, cos/sy
	hx, hy := float64(cropW-1)/2, float64(cropH-1)/2
	cx, cy := float64(origin.X)+hx, float64(origin.Y)+hy

	pad := st.Min
	w, h := s.W, s.H
	at := func(x, y int) float64 {
		if x < 0 || x >= w || y < 0 || y >= h {
			return pad
		}
		return float64(s.Image[x+y*w])
	}
	for v := range cropH {
		ov := float64(v) - hy
		for u := range cropW {
			i := u + v*cropW
			ou, ovv := float64(u)-hx, ov
			if elastic {
				ou += dx[i]
				ovv += dy[i]
			}
			px := cx + a11*ou + a12*ovv
			py := cy + a21*ou + a22*ovv

			x0f, y0f := math.Floor(px), math.Floor(py)
			fx, fy := px-x0f, py-y0f
			x0, y0 := int(x0f), int(y0f)
			var v00, v10, v01, v11 float64
			if x0 >= 0 && y0 >= 0 && x0+1 < w && y0+1 < h {
				j := x0 + y0*w
				v00, v10 = float64(s.Image[j]), float64(s.Image[j+1])
				v01, v11 = float64(s.Image[j+w]), float64(s.Image[j+w+1])
			} else {
				v00, v10, v01, v11 = at(x0, y0), at(x0+1, y0), at(x0, y0+1), at(x0+1, y0+1)
			}
			raw := v00*(1-fx)*(1-fy) + v10*fx*(1-fy) + v01*(1-fx)*fy + v11*fx*fy
			img[i] = float32(st.normalize(raw) + p.Shift)

			if mask != nil {
				mx, my := math.Floor(px+0.5), math.Floor(py+0.5)
				var c uint8
				if s.Mask != nil && mx >= 0 && my >= 0 && mx < float64(w) && my < float64(h) {
					c = s.Mask[int(mx)+int(my)*w]
				}
				mask[i] = c
			}
		}
	}
}

// elasticField fills a.field with the reference's elastic displacement: independent uniform(-1, 1) values per
// pixel and axis, smoothed by a Gaussian of standard deviation Sigma, times Alpha.
func (a *Augmenter) elasticField(w, h int, p Params) {
	n := w * h
	if cap(a.field) < 2*n {
		a.field = make([]float64, 2*n)
	}
	a.field = a.field[:2*n]
	a.noise.Seed(p.ElasticSeed, 0x9e3779b97f4a7c15)
	for i := range a.field {
		a.field[i] = 2*a.noiseRF.Float64() - 1
	}
	for _, comp := range [][]float64{a.field[:n], a.field[n:]} {
		a.smooth(comp, w, h, p.Sigma)
		for i := range comp {
			comp[i] *= p.Alpha
		}
	}
}

// smooth convolves the w x h field in place with a normalised Gaussian of standard deviation sigma, separably,
// truncated at 4 sigma and reflecting at the borders: scipy.ndimage.gaussian_filter's defaults.
func (a *Augmenter) smooth(field []float64, w, h int, sigma float64) {
	radius := int(4*sigma + 0.5)
	if cap(a.kernel) < 2*radius+1 {
		a.kernel = make([]float64, 2*radius+1)
	}
	k := a.kernel[:2*radius+1]
	var sum float64
	for i := range k {
		d := float64(i - radius)
		k[i] = math.Exp(-d * d / (2 * sigma * sigma))
		sum += k[i]
	}
	for i := range k {
		k[i] /= sum
	}
	if cap(a.tmp) < w*h {
		a.tmp = make([]float64, w*h)
	}
	tmp := a.tmp[:w*h]
	// Along x into tmp.
	for y := range h {
		row, out := field[y*w:(y+1)*w], tmp[y*w:(y+1)*w]
		for x := range w {
			var acc float64
			if x >= radius && x+radius < w {
				for t, kv := range k {
					acc += kv * row[x+t-radius]
				}
			} else {
				for t, kv := range k {
					acc += kv * row[reflect(x+t-radius, w)]
				}
			}
			out[x] = acc
		}
	}
	// Along y back into field, whole rows at a time for memory locality.
	clear(field)
	for y := range h {
		out := field[y*w : (y+1)*w]
		for t, kv := range k {
			src := tmp[reflect(y+t-radius, h)*w:][:w]
			for x, v := range src {
				out[x] += kv * v
			}
		}
	}
}

// reflect maps an index outside [0, n) back inside by mirroring about the edge (scipy's "reflect":
// d c b a | a b c d | d c b a).
func reflect(i, n int) int {
	for i < 0 || i >= n {
		if i < 0 {
			i = -i - 1
		}
		if i >= n {
			i = 2*n - i - 1
		}
	}
	return i
}
