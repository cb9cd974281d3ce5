package ingest

import (
	"fmt"
	"math"
)

// NonFinite reports the voxels of a volume that are NaN or infinite and the value that replaces them
// wherever the volume is read (viewer, statistics, training, prediction); the original file keeps them.
//
// They are replaced rather than refused: NaN outside the field of view is what registration and resampling
// tools (FSL, ANTs, SPM) write, so refusing would turn away ordinary research files. The lowest finite value
// stands in for them because it is the image's own background whatever the modality (0 for magnitude MRI,
// negative for phase or CT), where a fixed 0 would paint the hole mid-grey in images with negative values.
type NonFinite struct {
	Count       int     `json:"count"`       // voxels that were NaN or ±Inf; 0 when there were none
	Replacement float32 `json:"replacement"` // the value they read as
	Total       int     `json:"total"`       // voxels in the volume
}

// String is the notice shown to whoever imports the volume; empty when nothing was replaced.
func (n NonFinite) String() string {
	if n.Count == 0 {
		return ""
	}
	return fmt.Sprintf("%d of %d voxels (%.2g%%) are NaN or infinite: they read as %g, the volume's lowest finite value",
		n.Count, n.Total, 100*float64(n.Count)/float64(n.Total), n.Replacement)
}

// ReplaceNonFinite replaces a volume's NaN and infinite voxels by its lowest finite value, in place. A
// volume with no finite voxel at all holds no image and is refused.
func ReplaceNonFinite(data []float32) (NonFinite, error) {
	n := NonFinite{Total: len(data)}
	lowest := float32(math.Inf(1))
	for _, v := range data {
		if isFinite(v) {
			lowest = min(lowest, v)
		} else {
			n.Count++
		}
	}
	if n.Count == 0 {
		return n, nil
	}
	if n.Count == len(data) {
		return n, fmt.Errorf("all %d voxels are NaN or infinite: there is no image to show or train on", len(data))
	}
	n.Replacement = lowest
	for i, v := range data {
		if !isFinite(v) {
			data[i] = lowest
		}
	}
	return n, nil
}

// isFinite reports whether v is neither NaN nor an infinity: its exponent bits are not all ones.
func isFinite(v float32) bool { return math.Float32bits(v)&0x7f800000 != 0x7f800000 }
