package server

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/mriworkbench/workbench/nifti"
	"github.com/mriworkbench/workbench/store"
)

// VolumeName is the volume name an uploaded file gets: its base name without .nii or .nii.gz.
func VolumeName(fileName string) string {
	base := baseName(fileName)
	lower := strings.ToLower(base)
	for _, ext := range []string{".nii.gz", ".nii"} {
		if strings.HasSuffix(lower, ext) {
			return base[:len(base)-len(ext)]
		}
	}
	return base
}

// baseName strips any directory, with either separator: browsers and CLIs on any system send names.
func baseName(fileName string) string {
	if i := strings.LastIndexAny(fileName, `/\`); i >= 0 {
		return fileName[i+1:]
	}
	return fileName
}

// ImportNIfTI stores one single-file NIfTI image (.nii or .nii.gz, given as its bytes) in a project: it is
// parsed and put on the canonical grid, its intensity statistics are computed on the canonical data, and the
// original bytes are kept verbatim. labels are optional manual masks of canonical axial slices. An unreadable
// file is a *store.ValidationError carrying the reader's one-line reason; nothing is stored then.
func ImportNIfTI(ctx context.Context, st *store.Store, projectID int64, fileName string, data []byte,
	labels []store.SliceMask, author string) (store.VolumeMeta, error) {
	meta, _, err := importNIfTI(ctx, st, projectID, fileName, data, labels, author)
	return meta, err
}

// importNIfTI is ImportNIfTI that also returns the canonical volume, so the server can cache it for the
// first slice requests.
func importNIfTI(ctx context.Context, st *store.Store, projectID int64, fileName string, data []byte,
	labels []store.SliceMask, author string) (store.VolumeMeta, *nifti.Volume, error) {
	lower := strings.ToLower(fileName)
	if !strings.HasSuffix(lower, ".nii") && !strings.HasSuffix(lower, ".nii.gz") {
		return store.VolumeMeta{}, nil, &store.ValidationError{
			Msg: fmt.Sprintf("%s: only .nii and .nii.gz files can be imported", baseName(fileName))}
	}
	img, err := nifti.ReadBytes(fileName, data)
	if err != nil {
		return store.VolumeMeta{}, nil, &store.ValidationError{Msg: oneLine(fmt.Sprintf("%s: %v", baseName(fileName), err))}
	}
	vol, orientation := img.Canonical()
	meta, err := st.ImportVolume(ctx, store.ImportRequest{
		ProjectID:    projectID,
		Name:         VolumeName(fileName),
		OriginalName: baseName(fileName),
		Original:     bytes.NewReader(data),
		Geometry:     store.GeometryOf(vol, orientation),
		Stats:        store.ComputeStats(vol.Data),
		Labels:       labels,
		Author:       author,
	})
	if err != nil {
		return store.VolumeMeta{}, nil, err
	}
	return meta, vol, nil
}

// ExportFileNames are the files ExportVolume writes for a volume, in order: NAME_seg.nii.gz with class
// indices, then NAME_CLASS_seg.nii.gz per class, in the project's class order.
func ExportFileNames(volumeName string, classes []store.Class) []string {
	names := []string{volumeName + "_seg.nii.gz"}
	for _, c := range classes {
		names = append(names, volumeName+"_"+c.Name+"_seg.nii.gz")
	}
	return names
}

// ExportVolume writes a volume's segmentation into outDir, in the source file's grid and geometry (dim,
// pixdim, qform and sform as in the original header): NAME_seg.nii.gz (uint8 class indices) and one binary
// uint8 NAME_CLASS_seg.nii.gz per class. Each slice holds its current manual label, else (unless manualOnly)
// the active model's prediction, else background. It returns the paths written, in ExportFileNames order.
func ExportVolume(ctx context.Context, st *store.Store, volumeID int64, outDir string, manualOnly bool) ([]string, error) {
	v, err := st.Volume(ctx, volumeID)
	if err != nil {
		return nil, err
	}
	p, err := st.Project(ctx, v.ProjectID)
	if err != nil {
		return nil, err
	}
	header, err := readHeaderFile(st.OriginalPath(v))
	if err != nil {
		return nil, fmt.Errorf("volume %q: original file: %w", v.Name, err)
	}
	canonical, err := st.SegmentationVolume(ctx, volumeID, manualOnly)
	if err != nil {
		return nil, err
	}
	if err := v.Orientation.Validate(); err != nil {
		return nil, fmt.Errorf("volume %q: stored orientation: %w", v.Name, err)
	}
	if src := v.Orientation.SourceShape(v.Shape); src != header.Shape() {
		return nil, fmt.Errorf("volume %q: stored shape %v does not match its original file's %v", v.Name, src, header.Shape())
	}
	classMap := v.Orientation.ToSource(canonical, v.Shape)

	names := ExportFileNames(v.Name, p.Classes)
	paths := make([]string, len(names))
	for i, name := range names {
		paths[i] = filepath.Join(outDir, name)
	}
	if err := nifti.WriteMask(paths[0], header, classMap); err != nil {
		return nil, err
	}
	binary := make([]uint8, len(classMap))
	for k := range p.Classes {
		class := uint8(k + 1)
		for i, c := range classMap {
			binary[i] = 0
			if c == class {
				binary[i] = 1
			}
		}
		if err := nifti.WriteMask(paths[k+1], header, binary); err != nil {
			return nil, err
		}
	}
	return paths, nil
}

// WriteProjectZip streams a zip of every volume's export files (see ExportVolume) of a project to w. Each
// volume is exported to a temporary directory, copied into the archive and removed before the next, so disk
// use stays at one volume's files. The .nii.gz entries are stored, not compressed twice.
func WriteProjectZip(ctx context.Context, st *store.Store, projectID int64, w io.Writer, manualOnly bool) error {
	volumes, err := st.Volumes(ctx, projectID)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(w)
	for _, v := range volumes {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := addVolumeToZip(ctx, st, zw, v.ID, manualOnly); err != nil {
			return fmt.Errorf("export volume %q: %w", v.Name, err)
		}
	}
	return zw.Close()
}

func addVolumeToZip(ctx context.Context, st *store.Store, zw *zip.Writer, volumeID int64, manualOnly bool) error {
	dir, err := os.MkdirTemp("", "workbench-export-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	paths, err := ExportVolume(ctx, st, volumeID, dir, manualOnly)
	if err != nil {
		return err
	}
	for _, path := range paths {
		if err := copyIntoZip(zw, path); err != nil {
			return err
		}
	}
	return nil
}

func copyIntoZip(zw *zip.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	entry, err := zw.CreateHeader(&zip.FileHeader{
		Name:     filepath.Base(path),
		Method:   zip.Store,
		Modified: info.ModTime(),
	})
	if err != nil {
		return err
	}
	_, err = io.Copy(entry, f)
	return err
}

// readHeaderFile reads only the header of a single-file NIfTI image (.nii or .nii.gz), not its voxels.
func readHeaderFile(path string) (*nifti.Header, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var r io.Reader = br
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		r = zr
	}
	buf := make([]byte, 540) // a NIfTI-2 header; a NIfTI-1 header is the first 348 bytes
	n, err := io.ReadFull(r, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, err
	}
	return nifti.ParseHeader(buf[:n])
}
