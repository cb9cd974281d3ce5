package data

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestSliceStats(t *testing.T) {
	st := SliceStats([]float32{1, 2, 3, 4})
	if st.Mean != 2.5 || math.Abs(st.Std-math.Sqrt(1.25)) > 1e-12 || st.Min != 1 {
		t.Fatalf("stats %+v", st)
	}
	if st := SliceStats([]float32{7, 7, 7}); st.Std != 1 || st.Mean != 7 {
		t.Fatalf("constant slice: %+v, want std guarded to 1", st)
	}
	fixed := Normalization{Mode: NormFixed, Mean: 10, Std: 0}.For([]float32{3, 5})
	if fixed.Mean != 10 || fixed.Std != 1 || fixed.Min != 3 {
		t.Fatalf("fixed stats %+v", fixed)
	}
	pooled := TrainingStats([]Sample{{Image: []float32{1, 3}}, {Image: []float32{5, 7}}})
	if pooled.Mean != 4 || math.Abs(pooled.Std-math.Sqrt(5)) > 1e-12 || pooled.Min != 1 {
		t.Fatalf("training stats %+v", pooled)
	}
}

func TestCropIntoInsideAndPadded(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	s := randomSample(r, "a", 13, 9, 2)
	st := SliceStats(s.Image)
	for _, tc := range []struct {
		origin       Point
		cropW, cropH int
	}{{Point{2, 1}, 6, 5}, {CenterOrigin(13, 9, 20, 16), 20, 16}, {Point{-3, 5}, 7, 7}} {
		img := make([]float32, tc.cropW*tc.cropH)
		mask := make([]uint8, tc.cropW*tc.cropH)
		CropInto(img, mask, s, tc.origin, tc.cropW, tc.cropH, st)
		pad := float32((st.Min - st.Mean) / st.Std)
		for v := range tc.cropH {
			for u := range tc.cropW {
				x, y := tc.origin.X+u, tc.origin.Y+v
				wantImg, wantMask := pad, uint8(0)
				if x >= 0 && x < s.W && y >= 0 && y < s.H {
					wantImg = float32((float64(s.Image[x+y*s.W]) - st.Mean) / st.Std)
					wantMask = s.Mask[x+y*s.W]
				}
				if img[u+v*tc.cropW] != wantImg || mask[u+v*tc.cropW] != wantMask {
					t.Fatalf("origin %v crop %dx%d pixel (%d,%d): got %v/%d, want %v/%d", tc.origin, tc.cropW, tc.cropH,
						u, v, img[u+v*tc.cropW], mask[u+v*tc.cropW], wantImg, wantMask)
				}
			}
		}
	}
}

func TestRandomOriginRange(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	seen := map[Point]bool{}
	for range 2000 {
		p := RandomOrigin(r, 10, 4, 7, 6) // x in [0, 3], y in [-2, 0]
		if p.X < 0 || p.X > 3 || p.Y < -2 || p.Y > 0 {
			t.Fatalf("origin %v out of range", p)
		}
		seen[p] = true
	}
	if len(seen) != 4*3 {
		t.Fatalf("saw %d distinct origins, want all 12", len(seen))
	}
}

func TestTilesCoverEverySlice(t *testing.T) {
	for _, tc := range []struct{ w, h, cw, ch, overlap int }{
		{256, 192, 160, 160, 32}, {256, 192, 80, 80, 16}, {35, 51, 80, 80, 8}, {161, 160, 160, 160, 0},
		{500, 37, 64, 48, 63}, {100, 100, 10, 10, 200}, {81, 80, 80, 80, 40},
	} {
		tiles := Tiles(tc.w, tc.h, tc.cw, tc.ch, tc.overlap)
		st := NewStitcher(tc.w, tc.h, 1)
		ones := make([]float32, tc.cw*tc.ch)
		for _, p := range tiles {
			if err := st.Add(p, tc.cw, tc.ch, ones); err != nil {
				t.Fatal(err)
			}
		}
		if !st.Covered() {
			t.Fatalf("%+v: tiles %v leave pixels uncovered", tc, tiles)
		}
		// Neighbouring windows overlap by at least the requested amount (clamped to crop-1).
		want := min(max(tc.overlap, 0), tc.cw-1)
		for i := 1; i < len(tiles); i++ {
			if tiles[i].Y == tiles[i-1].Y && tc.w > tc.cw {
				if got := tiles[i-1].X + tc.cw - tiles[i].X; got < want {
					t.Fatalf("%+v: tiles %v and %v overlap by %d < %d", tc, tiles[i-1], tiles[i], got, want)
				}
			}
		}
		if tc.w > tc.cw && (tiles[0].X != 0 || tiles[len(tiles)-1].X+tc.cw != tc.w) {
			t.Fatalf("%+v: tiles do not start at 0 and end at the edge: %v", tc, tiles)
		}
	}
}

func TestStitchConstantTilesIsExact(t *testing.T) {
	const w, h, cw, ch, classes = 150, 97, 64, 48, 3
	tiles := Tiles(w, h, cw, ch, 20)
	tile := make([]float32, classes*cw*ch)
	probs := [classes]float32{0.125, 0.625, 0.25}
	for c := range classes {
		for i := range cw * ch {
			tile[c*cw*ch+i] = probs[c]
		}
	}
	st := NewStitcher(w, h, classes)
	for _, p := range tiles {
		if err := st.Add(p, cw, ch, tile); err != nil {
			t.Fatal(err)
		}
	}
	out := st.Probabilities(nil)
	for c := range classes {
		for i := range w * h {
			if out[c*w*h+i] != probs[c] {
				t.Fatalf("class %d pixel %d: %v, want exactly %v", c, i, out[c*w*h+i], probs[c])
			}
		}
	}
	for i, c := range st.ClassMap(nil) {
		if c != 1 {
			t.Fatalf("pixel %d: class %d, want 1", i, c)
		}
	}
	if err := st.Add(Point{}, cw, ch, tile[:10]); err == nil {
		t.Fatal("short tile accepted")
	}
}

// Cropping tiles out of a slice and stitching them back must give the normalised slice: nothing is lost at a
// tile's border, and every pixel averages only tiles that contain it.
func TestTilesCropStitchRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	s := randomSample(r, "x", 203, 119, 1)
	st := SliceStats(s.Image)
	const cw, ch = 64, 64
	stitch := NewStitcher(s.W, s.H, 1)
	crop := make([]float32, cw*ch)
	for _, p := range Tiles(s.W, s.H, cw, ch, 16) {
		CropInto(crop, nil, s, p, cw, ch, st)
		if err := stitch.Add(p, cw, ch, crop); err != nil {
			t.Fatal(err)
		}
	}
	out := stitch.Probabilities(nil)
	for i, v := range s.Image {
		want := (float64(v) - st.Mean) / st.Std
		if math.Abs(float64(out[i])-want) > 1e-5 {
			t.Fatalf("pixel %d: stitched %v, want %v", i, out[i], want)
		}
	}
}

func TestStitchOneChannelThreshold(t *testing.T) {
	st := NewStitcher(2, 1, 1)
	if err := st.Add(Point{}, 2, 1, []float32{0.49, 0.5}); err != nil {
		t.Fatal(err)
	}
	if got := st.ClassMap(nil); got[0] != 0 || got[1] != 1 {
		t.Fatalf("sigmoid classes %v, want [0 1]", got)
	}
	st.Reset()
	if st.Covered() {
		t.Fatal("reset stitcher still covered")
	}
}

// A structure smaller than half the crop is always wholly inside a foreground-placed crop, wherever it lies,
// and the crops still vary where the slice leaves room.
func TestForegroundOriginKeepsStructure(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 9))
	const w, h, cw, ch = 120, 90, 48, 40
	moved := 0
	for trial := range 300 {
		bw, bh := 1+r.IntN(cw/2), 1+r.IntN(ch/2)
		x0, y0 := r.IntN(w-bw+1), r.IntN(h-bh+1)
		s := Sample{Mask: make([]uint8, w*h), W: w, H: h}
		for y := y0; y < y0+bh; y++ {
			for x := x0; x < x0+bw; x++ {
				s.Mask[x+y*w] = 2
			}
		}
		box := ForegroundBox(s)
		if box.Empty || box.Min != (Point{x0, y0}) || box.Max != (Point{x0 + bw - 1, y0 + bh - 1}) {
			t.Fatalf("trial %d: box %+v, want (%d,%d)-(%d,%d)", trial, box, x0, y0, x0+bw-1, y0+bh-1)
		}
		seen := map[Point]bool{}
		for range 20 {
			o := ForegroundOrigin(r, box, w, h, cw, ch)
			if o.X < 0 || o.Y < 0 || o.X+cw > w || o.Y+ch > h {
				t.Fatalf("trial %d: window at %v leaves the slice", trial, o)
			}
			if box.Min.X < o.X || box.Min.Y < o.Y || box.Max.X >= o.X+cw || box.Max.Y >= o.Y+ch {
				t.Fatalf("trial %d: window at %v cuts box %+v", trial, o, box)
			}
			seen[o] = true
		}
		if len(seen) > 1 {
			moved++
		}
	}
	if moved < 200 { // a box in a corner pins the window; most boxes leave it room
		t.Fatalf("crops moved in only %d of 300 trials", moved)
	}
	if ForegroundBox(Sample{Mask: make([]uint8, 4), W: 2, H: 2}).Empty != true {
		t.Fatal("empty mask has a box")
	}
}
