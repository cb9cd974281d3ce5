// Package interp fills the axial slices between labelled ones by shape-based interpolation (Raya & Udupa
// 1990), as 3D Slicer's "fill between slices" and ITK-SNAP's interpolation do.
//
// For each class k and each pair of consecutive labelled slices z0 < z1 that both contain k, the signed
// distance map of k is computed in each (exact Euclidean distance in mm using the in-plane spacing, negative
// inside, see signedDistance) and interpolated linearly by the slice position: at z0 < z < z1, with
// t = (z-z0)/(z1-z0), d(z) = (1-t)·d(z0) + t·d(z1). A voxel is k where d < 0; where several classes are
// negative the one with the most negative interpolated distance wins (ties: the lower class index). The union
// of the gap's classes is interpolated the same way as one shape and decides the outline: a voxel inside it
// where no class is negative (a hole between nested classes, such as grey matter inside the cord, whose
// separately interpolated shapes need not meet) goes to the class with the lowest distance; see blend. A class
// present on only one side of a gap is not extended into it, and counts as background there: a structure that
// starts or ends in the gap has no second shape to interpolate towards, and where it ends is the annotator's
// call.
//
// The results are drafts, one per slice strictly between labelled ones; nothing here stores them.
package interp

import (
	"fmt"
	"maps"
	"math"
	"runtime"
	"slices"
	"sync"
)

// Grid is the slice geometry: Width*Height voxels per axial slice (x fastest), Depth slices, and the in-plane
// voxel spacing in mm.
type Grid struct {
	Width, Height, Depth int
	SpacingX, SpacingY   float64
}

// Range is an inclusive range of slice indices.
type Range struct{ From, To int }

// Options narrow what Fill computes.
type Options struct {
	// Class, when non-zero, fills only that class: the drafts hold k or 0. Zero fills every class.
	Class int
	// Slices, when set, limits the drafts to the slices From..To; labelled slices outside it still bound the
	// gaps that reach into it.
	Slices *Range
	// Align moves each gap's shapes onto their common path before blending them (see align.go): a structure
	// that shifts in-plane between the labelled slices, as the cord does along the spine, keeps its size and
	// inner layout in between instead of shrinking where its two outlines overlap little.
	Align bool
}

// Fill returns a draft class-index mask (Width*Height bytes, 0 = background) for every slice strictly between
// two consecutive slices of labelled, which maps slice indices to their masks. A slice in a gap that no class
// crosses gets an all-background draft. Fewer than two labelled slices give no drafts. Every error is one line
// naming the offending input.
func Fill(g Grid, labelled map[int][]uint8, classes int, opts Options) (map[int][]uint8, error) {
	if err := validate(g, labelled, classes, opts); err != nil {
		return nil, err
	}
	zs := slices.Sorted(maps.Keys(labelled))
	present := make(map[int][]bool, len(zs)) // slice -> class -> has a voxel
	for _, z := range zs {
		p := make([]bool, classes+1)
		for _, v := range labelled[z] {
			p[v] = true
		}
		present[z] = p
	}

	// Gap by gap, so that only two slices' distance maps are held at once.
	drafts := map[int][]uint8{}
	for i := 1; i < len(zs); i++ {
		z0, z1 := zs[i-1], zs[i]
		var targets []int
		for z := z0 + 1; z < z1; z++ {
			if opts.Slices == nil || (z >= opts.Slices.From && z <= opts.Slices.To) {
				targets = append(targets, z)
			}
		}
		var common []int // classes present on both sides
		for k := 1; k <= classes; k++ {
			if (opts.Class == 0 || opts.Class == k) && present[z0][k] && present[z1][k] {
				common = append(common, k)
			}
		}
		if len(targets) == 0 {
			continue
		}
		for j, m := range fillGap(g, labelled[z0], labelled[z1], common, z0, z1, targets, opts.Align) {
			drafts[targets[j]] = m
		}
	}
	return drafts, nil
}

// fillGap drafts the target slices between the labelled slices z0 and z1 (masks lower and upper) for the
// classes present on both.
//
// Only a crop is computed: the bounding box of the classes on either side, plus a margin. Outside the box both
// union distances are positive, so every voxel there is background, and inside it the distances on the crop
// equal those on the whole slice: a voxel's nearest voxel outside a region, if beyond the crop, is no nearer
// than one on the crop's border, which the margin keeps outside every region. With Align the maps move by up
// to the centroids' distance m per axis: outputs farther than m+1 from the box read only positive union
// distances, and those nearer read within 2(m+2) of it, the crop's margin.
func fillGap(g Grid, lower, upper []uint8, common []int, z0, z1 int, targets []int, align bool) [][]uint8 {
	n := g.Width * g.Height
	out := make([][]uint8, len(targets))
	for j := range out {
		out[j] = make([]uint8, n)
	}
	if len(common) == 0 {
		return out
	}
	union := classSet(common...)
	box := boundingBox(lower, g.Width, union).join(boundingBox(upper, g.Width, union))
	margin := 1
	var c0, c1 [2]float64 // the union's centroids, in voxels (x, y), with Align
	if align {
		c0, c1 = centroid(lower, g.Width, union), centroid(upper, g.Width, union)
		reach := math.Max(math.Abs(c1[0]-c0[0]), math.Abs(c1[1]-c0[1]))
		margin = 2 * (int(math.Ceil(reach)) + 2)
	}
	crop := box.grow(margin, g.Width, g.Height)
	cw, ch := crop.x1-crop.x0, crop.y1-crop.y0

	// The maps of the union (first) and of each class, on both sides; with one class, the union is the class.
	regions := []*[256]bool{union}
	if len(common) > 1 {
		for _, k := range common {
			regions = append(regions, classSet(k))
		}
	}
	lowerCrop, upperCrop := crop.cut(lower, g.Width), crop.cut(upper, g.Width)
	before, after := make([][]float64, len(regions)), make([][]float64, len(regions))
	parallel(2*len(regions), func(j int) {
		r := j / 2
		if j%2 == 0 {
			before[r] = signedDistance(lowerCrop, regions[r], cw, ch, g.SpacingX, g.SpacingY, newScratch(cw, ch))
		} else {
			after[r] = signedDistance(upperCrop, regions[r], cw, ch, g.SpacingX, g.SpacingY, newScratch(cw, ch))
		}
	})
	if len(common) == 1 {
		before, after = append(before, before[0]), append(after, after[0])
	}
	parallel(len(targets), func(j int) {
		t := float64(targets[j]-z0) / float64(z1-z0)
		var m []uint8
		if align {
			at := [2]float64{(1-t)*c0[0] + t*c1[0], (1-t)*c0[1] + t*c1[1]}
			m = blendAligned(cw, ch, common, before, after, t,
				[2]float64{at[0] - c0[0], at[1] - c0[1]}, [2]float64{at[0] - c1[0], at[1] - c1[1]})
		} else {
			m = blend(cw*ch, common, before, after, t)
		}
		crop.paste(out[j], g.Width, m)
	})
	return out
}

// box is a rectangle of a slice: x0 <= x < x1, y0 <= y < y1.
type box struct{ x0, y0, x1, y1 int }

// boundingBox is the smallest box holding the mask's values in set; empty (x0 >= x1) when there are none.
func boundingBox(mask []uint8, w int, set *[256]bool) box {
	b := box{x0: math.MaxInt, y0: math.MaxInt, x1: math.MinInt, y1: math.MinInt}
	for i, v := range mask {
		if set[v] {
			x, y := i%w, i/w
			b = box{min(b.x0, x), min(b.y0, y), max(b.x1, x+1), max(b.y1, y+1)}
		}
	}
	return b
}

func (b box) join(o box) box {
	return box{min(b.x0, o.x0), min(b.y0, o.y0), max(b.x1, o.x1), max(b.y1, o.y1)}
}

// grow widens the box by margin on every side, within a w*h slice.
func (b box) grow(margin, w, h int) box {
	return box{max(b.x0-margin, 0), max(b.y0-margin, 0), min(b.x1+margin, w), min(b.y1+margin, h)}
}

// cut copies the box's voxels out of a w-wide slice.
func (b box) cut(mask []uint8, w int) []uint8 {
	cw := b.x1 - b.x0
	out := make([]uint8, cw*(b.y1-b.y0))
	for y := b.y0; y < b.y1; y++ {
		copy(out[(y-b.y0)*cw:(y-b.y0+1)*cw], mask[y*w+b.x0:y*w+b.x1])
	}
	return out
}

// paste writes a crop of the box's size into a w-wide slice.
func (b box) paste(dst []uint8, w int, crop []uint8) {
	cw := b.x1 - b.x0
	for y := b.y0; y < b.y1; y++ {
		copy(dst[y*w+b.x0:y*w+b.x1], crop[(y-b.y0)*cw:(y-b.y0+1)*cw])
	}
}

// classSet is the set of mask values of the given classes.
func classSet(classes ...int) *[256]bool {
	var in [256]bool
	for _, k := range classes {
		in[k] = true
	}
	return &in
}

// blend is one draft at position t of its gap. before[0] and after[0] are the distance maps of the union
// of the gap's classes, then come those of each class. A voxel is background where the union's interpolated
// distance is not negative; inside the union it takes the class with the lowest interpolated distance (ties:
// the lower class).
//
// Where some class's distance is negative the voxel is that class, the most negative one, as if each class
// were interpolated alone: the union contains the class, so its distance map is at most the class's, and
// interpolation keeps the inequality. Deciding the outline by the union too fills the holes that nested
// classes (grey matter inside the cord) leave where their separately interpolated shapes do not meet: those
// voxels go to the nearest class. With one class the union is that class.
func blend(n int, classes []int, before, after [][]float64, t float64) []uint8 {
	mask := make([]uint8, n)
	union0, union1 := before[0], after[0]
	for i := range mask {
		if (1-t)*union0[i]+t*union1[i] >= 0 {
			continue
		}
		best := math.Inf(1)
		for c, k := range classes {
			if d := (1-t)*before[c+1][i] + t*after[c+1][i]; d < best {
				best = d
				mask[i] = uint8(k)
			}
		}
	}
	return mask
}

// validate checks Fill's input, naming the first problem found (slices in ascending order).
func validate(g Grid, labelled map[int][]uint8, classes int, opts Options) error {
	if g.Width <= 0 || g.Height <= 0 || g.Depth <= 0 {
		return fmt.Errorf("grid %dx%dx%d has an empty dimension", g.Width, g.Height, g.Depth)
	}
	if !(g.SpacingX > 0) || !(g.SpacingY > 0) || math.IsInf(g.SpacingX, 0) || math.IsInf(g.SpacingY, 0) {
		return fmt.Errorf("in-plane spacing %gx%g mm is not two positive finite numbers", g.SpacingX, g.SpacingY)
	}
	if classes < 1 || classes > 255 {
		return fmt.Errorf("%d classes: a mask holds 1 to 255 classes", classes)
	}
	if opts.Class < 0 || opts.Class > classes {
		return fmt.Errorf("class %d is not one of the %d classes (1 to %d)", opts.Class, classes, classes)
	}
	if r := opts.Slices; r != nil && r.From > r.To {
		return fmt.Errorf("slice range %d..%d is empty: from is after to", r.From, r.To)
	}
	n := g.Width * g.Height
	for _, z := range slices.Sorted(maps.Keys(labelled)) {
		if z < 0 || z >= g.Depth {
			return fmt.Errorf("labelled slice %d is outside the volume's %d slices", z, g.Depth)
		}
		mask := labelled[z]
		if len(mask) != n {
			return fmt.Errorf("slice %d: mask has %d values, a %dx%d slice needs %d", z, len(mask), g.Width, g.Height, n)
		}
		for i, v := range mask {
			if int(v) > classes {
				return fmt.Errorf("slice %d: value %d at voxel %d is not a class (there are %d)", z, v, i, classes)
			}
		}
	}
	return nil
}

// parallel runs do(0..n-1) on up to GOMAXPROCS goroutines.
func parallel(n int, do func(i int)) {
	workers := min(n, runtime.GOMAXPROCS(0))
	if workers <= 1 {
		for i := range n {
			do(i)
		}
		return
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Go(func() {
			for i := range next {
				do(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}
