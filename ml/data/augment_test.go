package data

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"testing"
)

// Identity parameters, and an elastic deformation of amplitude 0, reproduce CropInto bit for bit, inside the
// slice and in the padding.
func TestApplyIdentityIsExact(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	s := randomSample(r, "a", 37, 29, 3)
	st := SliceStats(s.Image)
	zeroElastic := Identity()
	zeroElastic.Elastic, zeroElastic.Sigma, zeroElastic.Alpha, zeroElastic.ElasticSeed = true, 3.5, 0, 99
	aug := NewAugmenter()
	for _, tc := range []struct {
		origin       Point
		cropW, cropH int
	}{{Point{3, 2}, 20, 16}, {CenterOrigin(37, 29, 48, 40), 48, 40}, {Point{-4, 20}, 15, 15}} {
		n := tc.cropW * tc.cropH
		wantImg, wantMask := make([]float32, n), make([]uint8, n)
		CropInto(wantImg, wantMask, s, tc.origin, tc.cropW, tc.cropH, st)
		for name, p := range map[string]Params{"identity": Identity(), "elastic alpha 0": zeroElastic} {
			img, mask := make([]float32, n), make([]uint8, n)
			aug.Apply(img, mask, s, tc.origin, tc.cropW, tc.cropH, st, p)
			for i := range n {
				if img[i] != wantImg[i] || mask[i] != wantMask[i] {
					t.Fatalf("%s, origin %v: pixel %d got %v/%d, want %v/%d", name, tc.origin, i, img[i], mask[i], wantImg[i], wantMask[i])
				}
			}
		}
	}
}

// A flip mirrors the crop exactly; a channel shift adds its constant and leaves the mask alone.
func TestApplyFlipAndShiftExact(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	s := randomSample(r, "a", 31, 23, 2)
	st := SliceStats(s.Image)
	const cw, ch = 24, 20
	origin := CenterOrigin(s.W, s.H, cw, ch)
	base, baseMask := make([]float32, cw*ch), make([]uint8, cw*ch)
	CropInto(base, baseMask, s, origin, cw, ch, st)
	img, mask := make([]float32, cw*ch), make([]uint8, cw*ch)
	p := Identity()
	p.Flip = true
	NewAugmenter().Apply(img, mask, s, origin, cw, ch, st, p)
	for v := range ch {
		for u := range cw {
			i, j := u+v*cw, cw-1-u+v*cw
			if img[i] != base[j] || mask[i] != baseMask[j] {
				t.Fatalf("flip pixel (%d,%d): %v/%d, want %v/%d", u, v, img[i], mask[i], base[j], baseMask[j])
			}
		}
	}
	p = Identity()
	p.Shift = 0.15
	NewAugmenter().Apply(img, mask, s, origin, cw, ch, st, p)
	for i := range img {
		want := float32((float64(s.Image[(origin.X+i%cw)+(origin.Y+i/cw)*s.W])-st.Mean)/st.Std + 0.15)
		if img[i] != want || mask[i] != baseMask[i] {
			t.Fatalf("shift pixel %d: %v/%d, want %v/%d", i, img[i], mask[i], want, baseMask[i])
		}
	}
}

// forward maps a slice position to the output crop, the inverse of Apply's map without elastic deformation.
func forward(p Params, origin Point, cw, ch int, x, y float64) (float64, float64) {
	hx, hy := float64(cw-1)/2, float64(ch-1)/2
	ox, oy := x-(float64(origin.X)+hx), y-(float64(origin.Y)+hy)
	sqa := math.Sqrt(p.Aspect)
	ox, oy = ox*p.Scale*sqa, oy*p.Scale/sqa
	th := p.Rotation * math.Pi / 180
	dx, dy := math.Cos(th)*ox-math.Sin(th)*oy, math.Sin(th)*ox+math.Cos(th)*oy
	if p.Flip {
		dx = -dx
	}
	return hx + dx, hy + dy
}

// A small bright marker, labelled in the mask, lands at the same place in image and mask, and where the
// transform's forward map says, for random flips, scales, aspect ratios and rotations.
func TestMarkerMovesTogether(t *testing.T) {
	const w, h, cw, ch = 96, 80, 64, 64
	cfg := DefaultAugment()
	cfg.ElasticProb = 0
	r := rand.New(rand.NewPCG(11, 12))
	aug := NewAugmenter()
	img, mask := make([]float32, cw*ch), make([]uint8, cw*ch)
	for trial := range 200 {
		s := Sample{Image: make([]float32, w*h), Mask: make([]uint8, w*h), W: w, H: h}
		mx, my := 30+r.IntN(36), 25+r.IntN(30) // marker centre; 5x5 block
		for y := my - 2; y <= my+2; y++ {
			for x := mx - 2; x <= mx+2; x++ {
				s.Image[x+y*w], s.Mask[x+y*w] = 1000, 1
			}
		}
		st := Stats{Mean: 0, Std: 1, Min: 0}
		p := cfg.Draw(r)
		p.Shift = 0
		origin := CenterOrigin(w, h, cw, ch)
		aug.Apply(img, mask, s, origin, cw, ch, st, p)
		wantX, wantY := forward(p, origin, cw, ch, float64(mx), float64(my))
		var iw, ix, iy, mn, mxs, mys float64
		for v := range ch {
			for u := range cw {
				i := u + v*cw
				iw += float64(img[i])
				ix += float64(img[i]) * float64(u)
				iy += float64(img[i]) * float64(v)
				if mask[i] == 1 {
					mn++
					mxs += float64(u)
					mys += float64(v)
				}
			}
		}
		if iw == 0 || mn == 0 {
			t.Fatalf("trial %d %+v: marker vanished (image weight %v, mask pixels %v)", trial, p, iw, mn)
		}
		if d := math.Hypot(ix/iw-wantX, iy/iw-wantY); d > 0.25 {
			t.Fatalf("trial %d %+v: image marker at (%.2f,%.2f), want (%.2f,%.2f)", trial, p, ix/iw, iy/iw, wantX, wantY)
		}
		if d := math.Hypot(mxs/mn-wantX, mys/mn-wantY); d > 0.6 {
			t.Fatalf("trial %d %+v: mask marker at (%.2f,%.2f), want (%.2f,%.2f)", trial, p, mxs/mn, mys/mn, wantX, wantY)
		}
	}
}

// After each transform alone and all together, every pixel whose image intensity says "class k" (the bilinear
// neighbourhood lay inside one class) carries label k in the mask, unless it sits on a class border of the
// output mask, where a nearest-neighbour label may legitimately differ from a blended intensity.
func TestImageAndMaskStayAligned(t *testing.T) {
	s := phantom("p", 256, 192)
	st := SliceStats(s.Image)
	const cw, ch = 160, 160
	all := DefaultAugment()
	all.ElasticProb, all.FlipProb = 1, 1
	only := func(set func(*AugmentConfig)) AugmentConfig {
		c := DefaultAugment()
		c.FlipProb, c.ScaleProb, c.RotateProb, c.ShiftProb, c.ElasticProb = 0, 0, 0, 0, 0
		set(&c)
		return c
	}
	configs := map[string]AugmentConfig{
		"flip":    only(func(c *AugmentConfig) { c.FlipProb = 1 }),
		"scale":   only(func(c *AugmentConfig) { c.ScaleProb = 1 }),
		"rotate":  only(func(c *AugmentConfig) { c.RotateProb = 1 }),
		"shift":   only(func(c *AugmentConfig) { c.ShiftProb = 1 }),
		"elastic": only(func(c *AugmentConfig) { c.ElasticProb = 1 }),
		"all":     all,
	}
	r := rand.New(rand.NewPCG(13, 14))
	aug := NewAugmenter()
	img, mask := make([]float32, cw*ch), make([]uint8, cw*ch)
	for name, cfg := range configs {
		for trial := range 15 {
			p := cfg.Draw(r)
			origin := RandomOrigin(r, s.W, s.H, cw, ch)
			aug.Apply(img, mask, s, origin, cw, ch, st, p)
			checked, classes := 0, map[uint8]bool{}
			for v := 1; v < ch-1; v++ {
				for u := 1; u < cw-1; u++ {
					i := u + v*cw
					raw := (float64(img[i])-p.Shift)*st.Std + st.Mean
					k := -1
					for c, l := range levels {
						if math.Abs(raw-l) < 1e-3 {
							k = c
						}
					}
					if k < 0 || onBorder(mask, cw, u, v) {
						continue
					}
					checked++
					classes[mask[i]] = true
					if int(mask[i]) != k {
						t.Fatalf("%s trial %d %+v: pixel (%d,%d) image says class %d, mask %d", name, trial, p, u, v, k, mask[i])
					}
				}
			}
			if checked < cw*ch/2 || len(classes) < 2 {
				t.Fatalf("%s trial %d: only %d pixels (classes %v) checked", name, trial, checked, classes)
			}
		}
	}
}

func onBorder(mask []uint8, w, u, v int) bool {
	c := mask[u+v*w]
	for dv := -1; dv <= 1; dv++ {
		for du := -1; du <= 1; du++ {
			if mask[u+du+(v+dv)*w] != c {
				return true
			}
		}
	}
	return false
}

func TestDrawRangesAndRates(t *testing.T) {
	cfg := DefaultAugment()
	r := rand.New(rand.NewPCG(15, 16))
	const n = 20000
	var flips, elastics int
	var scaleSum, rotSum, shiftSum float64
	lo, hi := map[string]float64{}, map[string]float64{}
	track := func(name string, v float64) {
		if _, ok := lo[name]; !ok || v < lo[name] {
			lo[name] = v
		}
		if _, ok := hi[name]; !ok || v > hi[name] {
			hi[name] = v
		}
	}
	for range n {
		p := cfg.Draw(r)
		if p.Flip {
			flips++
		}
		track("scale", p.Scale)
		track("aspect", p.Aspect)
		track("rotation", p.Rotation)
		track("shift", p.Shift)
		scaleSum += p.Scale
		rotSum += p.Rotation
		shiftSum += p.Shift
		if p.Elastic {
			elastics++
			track("sigma", p.Sigma)
			track("alpha", p.Alpha)
		}
	}
	want := map[string][2]float64{"scale": {0.5, 1}, "aspect": {0.75, 1.25}, "rotation": {-20, 20}, "shift": {-0.2, 0.2},
		"sigma": {3, 4.5}, "alpha": {8, 17}}
	for name, rg := range want {
		span := rg[1] - rg[0]
		if lo[name] < rg[0] || hi[name] > rg[1] || lo[name] > rg[0]+0.01*span || hi[name] < rg[1]-0.01*span {
			t.Errorf("%s drawn in [%v, %v], want to fill [%v, %v]", name, lo[name], hi[name], rg[0], rg[1])
		}
	}
	if f := float64(flips) / n; math.Abs(f-0.5) > 0.02 {
		t.Errorf("flip rate %v, want 0.5", f)
	}
	if f := float64(elastics) / n; math.Abs(f-0.3) > 0.02 {
		t.Errorf("elastic rate %v, want 0.3", f)
	}
	if m := scaleSum / n; math.Abs(m-0.75) > 0.01 {
		t.Errorf("mean scale %v, want 0.75", m)
	}
	if m := rotSum / n; math.Abs(m) > 0.3 {
		t.Errorf("mean rotation %v, want 0", m)
	}
	if m := shiftSum / n; math.Abs(m) > 0.005 {
		t.Errorf("mean shift %v, want 0", m)
	}
	for range 100 {
		if p := (AugmentConfig{}).Draw(r); p != Identity() {
			t.Fatalf("zero config drew %+v", p)
		}
	}
	off := DefaultAugment()
	off.FlipProb, off.ElasticProb = 0, 0
	for range 1000 {
		if p := off.Draw(r); p.Flip || p.Elastic {
			t.Fatalf("disabled transform applied: %+v", p)
		}
	}
}

func TestAugmentValidate(t *testing.T) {
	if err := DefaultAugment().Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (AugmentConfig{}).Validate(); err != nil {
		t.Fatal(err)
	}
	for name, set := range map[string]func(*AugmentConfig){
		"prob":   func(c *AugmentConfig) { c.FlipProb = 1.5 },
		"scale":  func(c *AugmentConfig) { c.ScaleMin = 0 },
		"aspect": func(c *AugmentConfig) { c.AspectMax = 0.5 },
		"rotate": func(c *AugmentConfig) { c.RotateMaxDeg = -1 },
		"shift":  func(c *AugmentConfig) { c.ShiftMax = math.NaN() },
		"sigma":  func(c *AugmentConfig) { c.SigmaMin = 0 },
		"alpha":  func(c *AugmentConfig) { c.AlphaMin = -1 },
	} {
		c := DefaultAugment()
		set(&c)
		if c.Validate() == nil {
			t.Errorf("%s: invalid config accepted", name)
		}
	}
}

// The elastic field's smoothing matches scipy.ndimage.gaussian_filter (testdata/gen_gaussian.py).
func TestSmoothMatchesScipy(t *testing.T) {
	raw, err := os.ReadFile("testdata/gaussian.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		W, H          int
		Sigma         float64
		Input, Output []float64
	}
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	a := NewAugmenter()
	for _, c := range cases {
		field := append([]float64(nil), c.Input...)
		a.smooth(field, c.W, c.H, c.Sigma)
		for i, want := range c.Output {
			if math.Abs(field[i]-want) > 1e-9 {
				t.Fatalf("%dx%d sigma %v: value %d = %v, scipy %v", c.W, c.H, c.Sigma, i, field[i], want)
			}
		}
	}
}

// The elastic field is reproducible from its seed, centred, and its size follows alpha.
func TestElasticField(t *testing.T) {
	const w, h = 160, 160
	p := Params{Scale: 1, Aspect: 1, Elastic: true, Sigma: 3, Alpha: 17, ElasticSeed: 5}
	a, b := NewAugmenter(), NewAugmenter()
	a.elasticField(w, h, p)
	b.elasticField(w, h, p)
	var sum, ss float64
	for i, v := range a.field {
		if v != b.field[i] {
			t.Fatal("same seed, different field")
		}
		sum += v
		ss += v * v
	}
	n := float64(len(a.field))
	mean, rms := sum/n, math.Sqrt(ss/n)
	// Uniform(-1,1) has variance 1/3; a normalised 2-D Gaussian keeps 1/(4 pi sigma^2) of white-noise variance.
	// The field is correlated over about sigma, so its mean over 160x160 pixels wanders by a few percent of that.
	want := 17 * math.Sqrt(1.0/3/(4*math.Pi*9))
	if math.Abs(mean) > 0.15*want || math.Abs(rms-want) > 0.15*want {
		t.Fatalf("field mean %v rms %v, want 0 and about %v", mean, rms, want)
	}
	p.ElasticSeed = 6
	b.elasticField(w, h, p)
	if b.field[0] == a.field[0] && b.field[1000] == a.field[1000] {
		t.Fatal("another seed gave the same field")
	}
}
