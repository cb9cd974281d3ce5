package data

import (
	"fmt"
	"math/rand/v2"
)

// randomSample is a w x h slice of random intensities in [0, 1000) with random classes 0..classes.
func randomSample(r *rand.Rand, key string, w, h, classes int) Sample {
	s := Sample{Image: make([]float32, w*h), Mask: make([]uint8, w*h), W: w, H: h, Spacing: [2]float64{0.5, 0.7}, Key: key}
	for i := range s.Image {
		s.Image[i] = float32(r.Float64() * 1000)
		s.Mask[i] = uint8(r.IntN(classes + 1))
	}
	return s
}

// levels are the intensities that encode classes 0, 1, 2 in the synthetic phantom.
var levels = [3]float64{100, 400, 900}

// phantom is a w x h slice of nested ellipses, classes 0 outside, 1 in a thick ring, 2 inside; its intensity
// is levels[class], so the image alone says which class each pixel holds. Classes 0 and 2 never touch.
func phantom(key string, w, h int) Sample {
	s := Sample{Image: make([]float32, w*h), Mask: make([]uint8, w*h), W: w, H: h, Spacing: [2]float64{0.8, 0.8}, Key: key}
	cx, cy := float64(w)/2+3.3, float64(h)/2-2.1
	for y := range h {
		for x := range w {
			dx, dy := (float64(x)-cx)/(0.33*float64(w)), (float64(y)-cy)/(0.3*float64(h))
			r2 := dx*dx + dy*dy
			c := 0
			switch {
			case r2 < 0.2:
				c = 2
			case r2 < 1:
				c = 1
			}
			s.Mask[x+y*w] = uint8(c)
			s.Image[x+y*w] = float32(levels[c])
		}
	}
	return s
}

func keyedSamples(n int) []Sample {
	out := make([]Sample, n)
	for i := range out {
		out[i] = Sample{Key: fmt.Sprintf("vol%d/slice%d", i%3, i)}
	}
	return out
}
