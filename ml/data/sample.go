// Package data turns labelled MRI slices into training batches for the segmentation engine: samples, the seeded
// train/validation/evaluation split, crops and tiles, intensity normalisation, the augmentations of the published
// pipeline (flip, scale with aspect ratio, rotation, channel shift, elastic deformation) applied to image and mask
// together, and a Loader that prepares the next batch in a goroutine while the current one trains.
//
// Layouts follow the engine: a batch image is N*1*H*W float32 (NCHW, one channel), a batch mask is N*H*W uint8
// class indices (0 = background). Within a slice x runs fastest: pixel (x, y) is at index x + y*W.
package data

import "fmt"

// Sample is one axial slice with its optional class-index mask.
type Sample struct {
	Image   []float32  // W*H intensities, x fastest
	Mask    []uint8    // W*H class indices 0..K; nil for an unlabelled slice
	W, H    int        // width (x) and height (y) in pixels
	Spacing [2]float64 // in-plane pixel size in mm, x then y
	Key     string     // stable identity, e.g. "vol3/slice7"; the split depends on it
	// Group is the volume (or subject) the slice comes from: balanced sampling gives every group the same share
	// of the batches, and cross-validation over several groups holds out whole groups. "" is one group.
	Group string
}

// Validate reports whether the sample's buffers match its size; labelled says whether a mask is required.
func (s Sample) Validate(labelled bool) error {
	if s.W <= 0 || s.H <= 0 {
		return fmt.Errorf("sample %q: size %dx%d is not positive", s.Key, s.W, s.H)
	}
	if len(s.Image) != s.W*s.H {
		return fmt.Errorf("sample %q: image has %d values, want %d*%d", s.Key, len(s.Image), s.W, s.H)
	}
	if s.Mask == nil {
		if labelled {
			return fmt.Errorf("sample %q: no mask", s.Key)
		}
		return nil
	}
	if len(s.Mask) != s.W*s.H {
		return fmt.Errorf("sample %q: mask has %d values, want %d*%d", s.Key, len(s.Mask), s.W, s.H)
	}
	return nil
}

// Point is a pixel position (x, y); as a crop or tile origin it may be negative or reach past the slice,
// the part outside the slice being padding.
type Point struct{ X, Y int }
