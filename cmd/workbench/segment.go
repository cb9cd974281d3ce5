package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/mriworkbench/workbench/ml/data"
	"github.com/mriworkbench/workbench/ml/train"
	"github.com/mriworkbench/workbench/nifti"
	"github.com/mriworkbench/workbench/server"
)

const segmentUsage = "segment --model FILE --input IMG --output DIR"

// runSegment is standalone inference, like the published pipeline's segment.py: a model file (downloaded from
// the app or trained elsewhere) segments every axial slice of a NIfTI image; no data directory is involved.
func runSegment(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("segment", segmentUsage, stderr)
	modelPath := fs.String("model", "", "model file (from the app's model download)")
	input := fs.String("input", "", "NIfTI image to segment (.nii or .nii.gz)")
	outDir := fs.String("output", "", "directory for NAME_seg.nii.gz, NAME_CLASS_seg.nii.gz and NAME_areas.csv")
	if err := fs.parse(args); err != nil {
		return err
	}
	if *modelPath == "" || *input == "" || *outDir == "" {
		return usageError{"--model, --input and --output are required (usage: workbench " + segmentUsage + ")"}
	}
	if err := fs.noArguments(); err != nil {
		return err
	}
	m, err := train.Load(*modelPath)
	if err != nil {
		return err
	}
	img, err := nifti.Read(*input)
	if err != nil {
		return fmt.Errorf("input: %w", err)
	}
	vol, orientation := img.Canonical()
	if ms, vs := m.Info.Spacing, vol.Spacing; math.Abs(ms[0]/vs[0]-1) > 0.25 || math.Abs(ms[1]/vs[1]-1) > 0.25 {
		fmt.Fprintf(stderr, "workbench segment: warning: the image's pixels are %.3gx%.3g mm, the model was trained on %.3gx%.3g mm; "+
			"slices are not resampled, so expect worse results\n", vs[0], vs[1], ms[0], ms[1])
	}
	start := time.Now()
	canonical, err := segmentSlices(m, vol, stderr)
	if err != nil {
		return err
	}
	elapsed := time.Since(start)

	if err := os.MkdirAll(*outDir, 0o755); err != nil {
		return err
	}
	name := server.VolumeName(*input)
	names := make([]string, m.Info.Classes)
	for i := range names {
		names[i] = m.Info.ClassName(i + 1)
	}
	areas := server.MeasureAreas(0, name, canonical, vol.Shape, vol.Spacing, m.Info.Classes, nil)
	files := server.SegmentationFiles(name, &img.Header, orientation.ToSource(canonical, vol.Shape), names, areas)
	paths, err := server.WriteExportFiles(*outDir, files)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "segmented %d slices of %s in %.2f s with a %s model (%d classes)\n", vol.NumSlices(), filepath.Base(*input),
		elapsed.Seconds(), m.Info.Arch, m.Info.Classes)
	for _, p := range paths {
		fmt.Fprintf(stdout, "  %s\n", p)
	}
	return nil
}

// segmentBatch is how many slices are predicted per call: memory stays at one batch's activations and
// results whatever the volume's size, and progress can be reported between batches.
const segmentBatch = 16

// segmentSlices predicts every axial slice of vol, returning the canonical class map, with a progress line
// on progress after each batch.
func segmentSlices(m *train.Model, vol *nifti.Volume, progress io.Writer) ([]uint8, error) {
	n, total := vol.SliceLen(), vol.NumSlices()
	canonical := make([]uint8, n*total)
	samples := make([]data.Sample, 0, segmentBatch)
	for first := 0; first < total; first += segmentBatch {
		samples = samples[:0]
		for z := first; z < min(first+segmentBatch, total); z++ {
			samples = append(samples, data.Sample{Image: vol.Slice(z), W: vol.Shape[0], H: vol.Shape[1]})
		}
		preds, err := m.PredictSlices(samples, train.PredictOptions{})
		if err != nil {
			return nil, err
		}
		for i, p := range preds {
			copy(canonical[(first+i)*n:], p.ClassMap)
		}
		fmt.Fprintf(progress, "workbench segment: %d/%d slices\n", first+len(preds), total)
	}
	return canonical, nil
}
