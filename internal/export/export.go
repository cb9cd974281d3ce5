// Package export writes segmentations in each source file's own grid: per volume, NAME_seg.nii.gz (class
// indices), one binary NAME_CLASS_seg.nii.gz per class and NAME_areas.csv (per-slice areas), into a directory
// or a zip. Each slice holds its current manual label, else (unless manual-only) the active model's
// prediction, else background. The CLI's export and segment and the server's downloads all write through here.
package export

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/mriworkbench/workbench/internal/atomicfile"
	"github.com/mriworkbench/workbench/nifti"
	"github.com/mriworkbench/workbench/store"
)

// File is one file of an export: its name and how to write its content.
type File struct {
	Name  string
	Write func(w io.Writer) error
}

// SegmentationFiles are the files that export one segmentation (classMap, uint8 class indices in the source
// grid of header): NAME_seg.nii.gz with the class indices, one binary NAME_CLASS_seg.nii.gz per class in
// class order, then NAME_areas.csv with the per-slice, per-class areas.
func SegmentationFiles(name string, header *nifti.Header, classMap []uint8, classes []string, areas VolumeAreas) []File {
	files := []File{{Name: name + "_seg.nii.gz", Write: func(w io.Writer) error {
		return nifti.EncodeMask(w, header, classMap)
	}}}
	for k, class := range classes {
		value := uint8(k + 1)
		files = append(files, File{Name: name + "_" + class + "_seg.nii.gz", Write: func(w io.Writer) error {
			binary := make([]uint8, len(classMap))
			for i, c := range classMap {
				if c == value {
					binary[i] = 1
				}
			}
			return nifti.EncodeMask(w, header, binary)
		}})
	}
	table := Areas{Classes: classes, Volumes: []VolumeAreas{areas}}
	return append(files, File{Name: name + "_areas.csv", Write: table.WriteCSV})
}

// WriteFiles writes files into dir, each atomically (no half-written file is ever left under its final
// name), and returns their paths.
func WriteFiles(dir string, files []File) ([]string, error) {
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = filepath.Join(dir, f.Name)
		if err := atomicfile.Write(paths[i], 0o644, f.Write); err != nil {
			return nil, err
		}
	}
	return paths, nil
}

// volumeExport is one volume's segmentation, ready to write: its files, named for a directory of its own.
type volumeExport struct {
	volume store.VolumeMeta
	files  []File
}

// prepare reads what exporting a volume needs and checks it: the original file's header, the canonical
// segmentation put back on the source grid, and its areas.
func prepare(ctx context.Context, st *store.Store, volumeID int64, manualOnly bool) (*volumeExport, error) {
	v, err := st.Volume(ctx, volumeID)
	if err != nil {
		return nil, err
	}
	p, err := st.Project(ctx, v.ProjectID)
	if err != nil {
		return nil, err
	}
	header, err := checkOriginal(st, v)
	if err != nil {
		return nil, err
	}
	// Masks and statuses from one snapshot, so the table describes exactly the masks written.
	seg, err := st.Segmentation(ctx, volumeID, manualOnly)
	if err != nil {
		return nil, err
	}
	canonical, statuses := seg.Classes, seg.Statuses
	if manualOnly {
		// The manual-only export leaves predicted slices (and those predicted empty) blank; its table says so.
		for i, s := range statuses {
			if s == store.StatusPredicted || s == store.StatusEmpty {
				statuses[i] = store.StatusUnlabelled
			}
		}
	}
	classes := p.ClassNames()
	areas := MeasureAreas(v.ID, v.Name, canonical, v.Shape, v.Spacing, len(classes), statuses)
	classMap := v.Orientation.ToSource(canonical, v.Shape)
	return &volumeExport{volume: v, files: SegmentationFiles(v.Name, header, classMap, classes, areas)}, nil
}

// checkOriginal reads a volume's original header and checks that it still describes the stored volume (and
// the stored orientation is one), and that the volume's name can name its export directory.
func checkOriginal(st *store.Store, v store.VolumeMeta) (*nifti.Header, error) {
	if err := store.ValidateVolumeName(v.Name); err != nil {
		return nil, err
	}
	header, err := nifti.ReadHeader(st.OriginalPath(v))
	if err != nil {
		return nil, fmt.Errorf("volume %q: original file: %w", v.Name, err)
	}
	if err := v.Orientation.Validate(); err != nil {
		return nil, fmt.Errorf("volume %q: stored orientation: %w", v.Name, err)
	}
	if src := v.Orientation.SourceShape(v.Shape); src != header.Shape() {
		return nil, fmt.Errorf("volume %q: stored shape %v does not match its original file's %v", v.Name, src, header.Shape())
	}
	return header, nil
}

// Volume writes a volume's export into outDir/NAME/ (NAME is the volume's name, unique in its project, so
// files of different volumes never collide): the files of SegmentationFiles, masks in the source file's grid
// and geometry (dim, pixdim, qform and sform as in the original header). It returns the paths written, in
// SegmentationFiles order.
func Volume(ctx context.Context, st *store.Store, volumeID int64, outDir string, manualOnly bool) ([]string, error) {
	x, err := prepare(ctx, st, volumeID, manualOnly)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(outDir, x.volume.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return WriteFiles(dir, x.files)
}

// SegmentationFile is a volume's NAME_seg.nii.gz alone, checked and ready to stream (a single-file download).
func SegmentationFile(ctx context.Context, st *store.Store, volumeID int64, manualOnly bool) (File, error) {
	x, err := prepare(ctx, st, volumeID, manualOnly)
	if err != nil {
		return File{}, err
	}
	return x.files[0], nil
}
