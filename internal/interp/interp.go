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

	// The gaps with at least one slice to draft, and the distance maps they need, each computed once: a
	// labelled slice between two gaps serves both with its class maps.
	type gap struct {
		z0, z1  int
		classes []int // present on both sides
		targets []int // slices to draft
	}
	var gaps []gap
	needed := map[shape]bool{}
	for i := 1; i < len(zs); i++ {
		gp := gap{z0: zs[i-1], z1: zs[i]}
		for z := gp.z0 + 1; z < gp.z1; z++ {
			if opts.Slices == nil || (z >= opts.Slices.From && z <= opts.Slices.To) {
				gp.targets = append(gp.targets, z)
			}
		}
		if len(gp.targets) == 0 {
			continue
		}
		for k := 1; k <= classes; k++ {
			if (opts.Class == 0 || opts.Class == k) && present[gp.z0][k] && present[gp.z1][k] {
				gp.classes = append(gp.classes, k)
				needed[shape{z: gp.z0, k: k}] = true
				needed[shape{z: gp.z1, k: k}] = true
			}
		}
		if len(gp.classes) > 1 {
			needed[unionOf(gp.z0, gp.classes)] = true
			needed[unionOf(gp.z1, gp.classes)] = true
		}
		gaps = append(gaps, gp)
	}

	shapes := slices.Collect(maps.Keys(needed))
	distance := make([][]float64, len(shapes))
	parallel(len(shapes), func(i int) {
		distance[i] = signedDistance(labelled[shapes[i].z], shapes[i].members(), g.Width, g.Height, g.SpacingX, g.SpacingY,
			newScratch(g.Width, g.Height))
	})
	distanceOf := make(map[shape][]float64, len(shapes))
	for i, sh := range shapes {
		distanceOf[sh] = distance[i]
	}

	type job struct {
		z   int
		gap *gap
	}
	var jobs []job
	for i := range gaps {
		for _, z := range gaps[i].targets {
			jobs = append(jobs, job{z, &gaps[i]})
		}
	}
	out := make([][]uint8, len(jobs))
	parallel(len(jobs), func(i int) {
		j := jobs[i]
		n := g.Width * g.Height
		if len(j.gap.classes) == 0 {
			out[i] = make([]uint8, n)
			return
		}
		t := float64(j.z-j.gap.z0) / float64(j.gap.z1-j.gap.z0)
		// The union first; with one class it is that class.
		k0 := j.gap.classes[0]
		before := [][]float64{distanceOf[shape{z: j.gap.z0, k: k0}]}
		after := [][]float64{distanceOf[shape{z: j.gap.z1, k: k0}]}
		if len(j.gap.classes) > 1 {
			before[0], after[0] = distanceOf[unionOf(j.gap.z0, j.gap.classes)], distanceOf[unionOf(j.gap.z1, j.gap.classes)]
		}
		for _, k := range j.gap.classes {
			before = append(before, distanceOf[shape{z: j.gap.z0, k: k}])
			after = append(after, distanceOf[shape{z: j.gap.z1, k: k}])
		}
		out[i] = blend(n, j.gap.classes, before, after, t)
	})
	drafts := make(map[int][]uint8, len(jobs))
	for i, j := range jobs {
		drafts[j.z] = out[i]
	}
	return drafts, nil
}

// shape is a region of a labelled slice whose distance map a gap needs: class k, or for k = 0 the union
// of the gap's classes, listed in union (one byte per class).
type shape struct {
	z, k  int
	union string
}

func unionOf(z int, classes []int) shape {
	b := make([]byte, len(classes))
	for i, k := range classes {
		b[i] = byte(k)
	}
	return shape{z: z, union: string(b)}
}

// members is the set of mask values inside the shape.
func (sh shape) members() *[256]bool {
	var in [256]bool
	in[sh.k] = sh.k != 0
	for _, k := range []byte(sh.union) {
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
