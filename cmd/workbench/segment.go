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
	"github.com/mriworkbench/workbench/store"
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
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
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
	n := vol.SliceLen()
	samples := make([]data.Sample, vol.NumSlices())
	for z := range samples {
		samples[z] = data.Sample{Image: vol.Slice(z), W: vol.Shape[0], H: vol.Shape[1]}
	}
	preds, err := m.PredictSlices(samples, train.PredictOptions{})
	if err != nil {
		return err
	}
	canonical := make([]uint8, n*vol.NumSlices())
	for z, p := range preds {
		copy(canonical[z*n:], p.ClassMap)
	}
	elapsed := time.Since(start)

	if err := os.MkdirAll(*outDir, 0o755); err != nil {
		return err
	}
	name := server.VolumeName(*input)
	classes := make([]store.Class, m.Info.Classes)
	names := make([]string, m.Info.Classes)
	for i := range classes {
		names[i] = m.Info.ClassName(i + 1)
		classes[i] = store.Class{Name: names[i]}
	}
	paths := server.ExportFileNames(name, classes)
	source := orientation.ToSource(canonical, vol.Shape)
	if err := nifti.WriteMask(filepath.Join(*outDir, paths[0]), &img.Header, source); err != nil {
		return err
	}
	binary := make([]uint8, len(source))
	for k := range classes {
		for i, c := range source {
			binary[i] = 0
			if int(c) == k+1 {
				binary[i] = 1
			}
		}
		if err := nifti.WriteMask(filepath.Join(*outDir, paths[k+1]), &img.Header, binary); err != nil {
			return err
		}
	}
	areas := server.Areas{Classes: names, Volumes: []server.VolumeAreas{
		server.MeasureAreas(0, name, canonical, vol.Shape, vol.Spacing, m.Info.Classes, nil)}}
	areasPath := filepath.Join(*outDir, name+"_areas.csv")
	if err := writeAreasFile(areas, areasPath); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "segmented %d slices of %s in %.2f s with a %s model (%d classes)\n", len(preds), filepath.Base(*input),
		elapsed.Seconds(), m.Info.Arch, m.Info.Classes)
	for _, p := range append(paths, name+"_areas.csv") {
		fmt.Fprintf(stdout, "  %s\n", filepath.Join(*outDir, p))
	}
	return nil
}
