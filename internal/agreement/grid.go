package agreement

import (
	"errors"
	"fmt"
	"math"
)

// Grid is the in-plane size of a slice in pixels and its pixel spacing in mm.
type Grid struct {
	W, H   int
	DX, DY float64
}

// maxPixels bounds a slice so that W*H cannot overflow and the per-class buffers stay reasonable; the
// largest clinical matrices are 1024x1024.
const maxPixels = 1 << 24

// maxClasses is the most classes a uint8 class map can hold besides background.
const maxClasses = 255

// pixels is W*H.
func (g Grid) pixels() int { return g.W * g.H }

// pixelArea is the area of one pixel in mm2.
func (g Grid) pixelArea() float64 { return g.DX * g.DY }

func (g Grid) validate() error {
	if g.W <= 0 || g.H <= 0 || g.W > maxPixels || g.H > maxPixels || g.W*g.H > maxPixels {
		return fmt.Errorf("agreement: grid %dx%d: want a positive size of at most %d pixels", g.W, g.H, maxPixels)
	}
	if !(g.DX > 0) || !(g.DY > 0) || math.IsInf(g.DX, 0) || math.IsInf(g.DY, 0) {
		return fmt.Errorf("agreement: pixel spacing %gx%g mm: want positive finite values", g.DX, g.DY)
	}
	return nil
}

func validateClasses(classes int) error {
	if classes < 1 || classes > maxClasses {
		return fmt.Errorf("agreement: %d classes: want 1 to %d", classes, maxClasses)
	}
	return nil
}

// checkRead reports the first reason a read does not fit the grid and the class count; name says which read.
func checkRead(g Grid, read []uint8, classes int, name string) error {
	if len(read) != g.pixels() {
		return fmt.Errorf("agreement: %s has %d pixels, want %d (%dx%d)", name, len(read), g.pixels(), g.W, g.H)
	}
	for i, v := range read {
		if int(v) > classes {
			return fmt.Errorf("agreement: %s pixel (%d, %d) has class %d, above the %d classes",
				name, i%g.W, i/g.W, v, classes)
		}
	}
	return nil
}

// checkReads validates the grid, the class count and every read, needing at least min reads.
func checkReads(g Grid, reads [][]uint8, classes, min int) error {
	if err := g.validate(); err != nil {
		return err
	}
	if err := validateClasses(classes); err != nil {
		return err
	}
	if len(reads) < min {
		if min == 1 {
			return errors.New("agreement: no reads")
		}
		noun := "reads"
		if len(reads) == 1 {
			noun = "read"
		}
		return fmt.Errorf("agreement: %d %s, want at least %d", len(reads), noun, min)
	}
	for j, r := range reads {
		if err := checkRead(g, r, classes, fmt.Sprintf("read %d", j)); err != nil {
			return err
		}
	}
	return nil
}
