package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/mriworkbench/workbench/internal/export"
	"github.com/mriworkbench/workbench/internal/ingest"
	"github.com/mriworkbench/workbench/internal/job"
	"github.com/mriworkbench/workbench/nifti"
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
	m, err := job.LoadSegmenter(*modelPath)
	if err != nil {
		return err
	}
	img, err := nifti.Read(*input)
	if err != nil {
		return fmt.Errorf("input: %w", err)
	}
	vol, orientation := img.Canonical()
	// As at import: NaN backgrounds (common after registration) read as the lowest finite value.
	nonFinite, err := ingest.ReplaceNonFinite(vol.Data)
	if err != nil {
		return fmt.Errorf("input: %w", err)
	}
	if notice := nonFinite.String(); notice != "" {
		fmt.Fprintf(stderr, "workbench segment: %s\n", notice)
	}
	if warning := m.SpacingWarning(vol); warning != "" {
		fmt.Fprintf(stderr, "workbench segment: warning: %s\n", warning)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	canonical, err := m.Segment(ctx, vol, func(done, total int) {
		fmt.Fprintf(stderr, "workbench segment: %d/%d slices\n", done, total)
	})
	if err != nil {
		return err
	}
	elapsed := time.Since(start)

	if err := os.MkdirAll(*outDir, 0o755); err != nil {
		return err
	}
	name := ingest.VolumeName(*input)
	classes := m.ClassNames()
	areas := export.MeasureAreas(0, name, canonical, vol.Shape, vol.Spacing, len(classes), nil)
	files := export.SegmentationFiles(name, &img.Header, orientation.ToSource(canonical, vol.Shape), classes, areas)
	paths, err := export.WriteFiles(*outDir, files)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "segmented %d slices of %s in %.2f s with a %s model (%d classes)\n", vol.NumSlices(), filepath.Base(*input),
		elapsed.Seconds(), m.Arch(), len(classes))
	for _, p := range paths {
		fmt.Fprintf(stdout, "  %s\n", p)
	}
	return nil
}
