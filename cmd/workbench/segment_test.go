package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mriworkbench/workbench/ml/train"
	"github.com/mriworkbench/workbench/nifti"
)

// segment predicts in batches, reporting progress after each, and writes the same files as an export of one
// volume: class map, one binary mask per class and the area table, next to each other.
func TestSegmentBatchesWithProgress(t *testing.T) {
	dir := t.TempDir()
	m, err := train.NewModel(train.DefaultSettings(2))
	if err != nil {
		t.Fatal(err)
	}
	modelPath := filepath.Join(dir, "m.model")
	writeFile(t, modelPath, encoded(t, func(w io.Writer) error { _, err := m.WriteTo(w); return err }))
	const slices = 20 // a full batch and a partial one
	like := &nifti.Header{Version: 1, Dim: [8]int64{3, 16, 16, slices, 1, 1, 1, 1}, Pixdim: [8]float64{1, 1, 1, 1},
		SformCode: 1, SrowX: [4]float64{1, 0, 0, 0}, SrowY: [4]float64{0, 1, 0, 0}, SrowZ: [4]float64{0, 0, 1, 0}}
	voxels := make([]uint8, 16*16*slices)
	for i := range voxels {
		voxels[i] = uint8(i % 37)
	}
	input := filepath.Join(dir, "tiny.nii.gz")
	writeFile(t, input, encoded(t, func(w io.Writer) error { return nifti.EncodeMask(w, like, voxels) }))
	out := filepath.Join(dir, "out")
	var stdout, stderr bytes.Buffer
	if err := runSegment([]string{"--model", modelPath, "--input", input, "--output", out}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if progress := stderr.String(); !strings.Contains(progress, "16/20 slices\n") || !strings.HasSuffix(progress, "20/20 slices\n") {
		t.Errorf("progress %q, want a line per batch of 16", progress)
	}
	names := []string{"tiny_seg.nii.gz", "tiny_" + m.Info.ClassName(1) + "_seg.nii.gz", "tiny_" + m.Info.ClassName(2) + "_seg.nii.gz", "tiny_areas.csv"}
	for _, name := range names {
		path := filepath.Join(out, name)
		if !strings.Contains(stdout.String(), path) {
			t.Errorf("output %q does not list %s", stdout.String(), path)
		}
		if _, err := os.Stat(path); err != nil {
			t.Error(err)
		}
	}
	seg, err := nifti.Read(filepath.Join(out, "tiny_seg.nii.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if seg.Shape() != [3]int{16, 16, slices} {
		t.Errorf("class map shape %v", seg.Shape())
	}
	table, err := os.ReadFile(filepath.Join(out, "tiny_areas.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if rows := strings.Count(string(table), "\n"); rows != slices+1 {
		t.Errorf("area table has %d lines, want a header and one per slice", rows)
	}
}
