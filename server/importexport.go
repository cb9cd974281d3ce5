package server

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mriworkbench/workbench/nifti"
	"github.com/mriworkbench/workbench/store"
)

// VolumeName is the volume name an uploaded file gets: its base name without .nii or .nii.gz. The image
// extensions of a .hdr/.img pair are stripped too, for the outputs named after an image (segment), although
// pairs are not imported.
func VolumeName(fileName string) string {
	base := baseName(fileName)
	lower := strings.ToLower(base)
	for _, ext := range []string{".nii.gz", ".nii", ".hdr.gz", ".hdr", ".img.gz", ".img"} {
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
	img, err := decodeImport(fileName, data, nifti.ReadOptions{})
	if err != nil {
		return store.VolumeMeta{}, err
	}
	return ImportImage(ctx, st, projectID, fileName, data, img, labels, author)
}

// ImportImage is ImportNIfTI for a caller that has decoded data already (img, from nifti.ReadBytes of data),
// e.g. to check masks against the image's shape first, so the file is not decoded twice.
func ImportImage(ctx context.Context, st *store.Store, projectID int64, fileName string, data []byte, img *nifti.Image,
	labels []store.SliceMask, author string) (store.VolumeMeta, error) {
	meta, _, err := importImage(ctx, st, projectID, fileName, data, img, labels, author)
	return meta, err
}

// tooLargeError is an upload refused for its size (413), with the reason for the user.
type tooLargeError struct{ msg string }

func (e *tooLargeError) Error() string { return e.msg }

// decodeImport checks an import's file name and decodes its bytes under opts; a refusal is a
// *store.ValidationError, or a *tooLargeError for an image over the voxel limit.
func decodeImport(fileName string, data []byte, opts nifti.ReadOptions) (*nifti.Image, error) {
	if err := checkImportName(fileName); err != nil {
		return nil, err
	}
	img, err := nifti.ReadBytesWith(fileName, data, opts)
	if errors.Is(err, nifti.ErrTooManyVoxels) {
		return nil, &tooLargeError{msg: oneLine(fmt.Sprintf("%s: %v", baseName(fileName), err))}
	}
	if err != nil {
		return nil, &store.ValidationError{Msg: oneLine(fmt.Sprintf("%s: %v", baseName(fileName), err))}
	}
	return img, nil
}

// checkImportName refuses files that cannot become a volume: only single files are stored (a .hdr/.img pair
// would need both files kept together), and the name must be able to name an export directory.
func checkImportName(fileName string) error {
	lower := strings.ToLower(fileName)
	if !strings.HasSuffix(lower, ".nii") && !strings.HasSuffix(lower, ".nii.gz") {
		return &store.ValidationError{
			Msg: fmt.Sprintf("%s: only .nii and .nii.gz files can be imported (convert a .hdr/.img pair to .nii first)", baseName(fileName))}
	}
	return checkExportable(VolumeName(fileName))
}

// checkNameCase refuses a volume name that differs from another of the project's only in case: their export
// directories would be one on case-insensitive file systems (macOS and Windows by default).
func checkNameCase(ctx context.Context, st *store.Store, projectID int64, name string) error {
	volumes, err := st.Volumes(ctx, projectID)
	if err != nil {
		return err
	}
	for _, v := range volumes {
		if v.Name != name && strings.EqualFold(v.Name, name) {
			return fmt.Errorf("%w: volume %q differs from the project's volume %q only in case, which exported files could not tell apart; rename the file",
				store.ErrConflict, name, v.Name)
		}
	}
	return nil
}

// checkExportable refuses volume names that cannot name the volume's export directory.
func checkExportable(name string) error {
	if name == "." || name == ".." {
		return &store.ValidationError{Msg: fmt.Sprintf("volume name %q cannot name a directory; rename the file", name)}
	}
	return nil
}

// importImage is ImportImage that also returns the canonical volume, so the server can cache it for the
// first slice requests.
func importImage(ctx context.Context, st *store.Store, projectID int64, fileName string, data []byte, img *nifti.Image,
	labels []store.SliceMask, author string) (store.VolumeMeta, *nifti.Volume, error) {
	if err := checkImportName(fileName); err != nil {
		return store.VolumeMeta{}, nil, err
	}
	if err := checkNameCase(ctx, st, projectID, VolumeName(fileName)); err != nil {
		return store.VolumeMeta{}, nil, err
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

// ExportFile is one file of an export: its name and how to write its content.
type ExportFile struct {
	Name  string
	Write func(w io.Writer) error
}

// SegmentationFiles are the files that export one segmentation (classMap, uint8 class indices in the source
// grid of header): NAME_seg.nii.gz with the class indices, one binary NAME_CLASS_seg.nii.gz per class in
// class order, then NAME_areas.csv with the per-slice, per-class areas.
func SegmentationFiles(name string, header *nifti.Header, classMap []uint8, classes []string, areas VolumeAreas) []ExportFile {
	files := []ExportFile{{Name: name + "_seg.nii.gz", Write: func(w io.Writer) error {
		return nifti.EncodeMask(w, header, classMap)
	}}}
	for k, class := range classes {
		value := uint8(k + 1)
		files = append(files, ExportFile{Name: name + "_" + class + "_seg.nii.gz", Write: func(w io.Writer) error {
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
	return append(files, ExportFile{Name: name + "_areas.csv", Write: table.WriteCSV})
}

// WriteExportFiles writes files into dir, each through a temporary file renamed into place so that no
// half-written file is left under its final name, and returns their paths.
func WriteExportFiles(dir string, files []ExportFile) ([]string, error) {
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = filepath.Join(dir, f.Name)
		if err := writeFileAtomic(paths[i], f.Write); err != nil {
			return nil, err
		}
	}
	return paths, nil
}

func writeFileAtomic(path string, write func(w io.Writer) error) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err = write(bw); err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	if err = bw.Flush(); err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	if err = tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	return nil
}

// volumeExport is one volume's segmentation, ready to write: its files, named for a directory of its own.
type volumeExport struct {
	volume store.VolumeMeta
	files  []ExportFile
}

// prepareExport reads what exporting a volume needs and checks it: the original file's header, the canonical
// segmentation (each slice's current manual label, else unless manualOnly the active model's prediction,
// else background) put back on the source grid, and its areas.
func prepareExport(ctx context.Context, st *store.Store, volumeID int64, manualOnly bool) (*volumeExport, error) {
	v, err := st.Volume(ctx, volumeID)
	if err != nil {
		return nil, err
	}
	if err := checkExportable(v.Name); err != nil {
		return nil, err
	}
	p, err := st.Project(ctx, v.ProjectID)
	if err != nil {
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
	// Masks and statuses from one snapshot, so the table describes exactly the masks written.
	seg, err := st.Segmentation(ctx, volumeID, manualOnly)
	if err != nil {
		return nil, err
	}
	canonical, statuses := seg.Classes, seg.Statuses
	if manualOnly {
		// The manual-only export leaves predicted slices empty; its table says so.
		for i, s := range statuses {
			if s == store.StatusPredicted {
				statuses[i] = store.StatusUnlabelled
			}
		}
	}
	classes := make([]string, len(p.Classes))
	for i, c := range p.Classes {
		classes[i] = c.Name
	}
	areas := MeasureAreas(v.ID, v.Name, canonical, v.Shape, v.Spacing, len(classes), statuses)
	classMap := v.Orientation.ToSource(canonical, v.Shape)
	return &volumeExport{volume: v, files: SegmentationFiles(v.Name, header, classMap, classes, areas)}, nil
}

// ExportVolume writes a volume's export into outDir/NAME/ (NAME is the volume's name, unique in its project,
// so files of different volumes never collide): the files of SegmentationFiles, masks in the source file's
// grid and geometry (dim, pixdim, qform and sform as in the original header). Each slice holds its current
// manual label, else (unless manualOnly) the active model's prediction, else background. It returns the paths
// written, in SegmentationFiles order.
func ExportVolume(ctx context.Context, st *store.Store, volumeID int64, outDir string, manualOnly bool) ([]string, error) {
	x, err := prepareExport(ctx, st, volumeID, manualOnly)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(outDir, x.volume.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return WriteExportFiles(dir, x.files)
}

// WriteProjectZip streams a zip of every volume's export (see ExportVolume) of a project to w, each volume's
// files under NAME/. Volumes are encoded straight into the archive, one at a time. The .nii.gz entries are
// stored, not compressed twice.
//
// Before anything is written, every volume's original file is checked, so that a project that cannot be
// exported fails with an error instead of a truncated archive. A volume that fails later (e.g. its file
// became unreadable while the archive was being sent) is named in an ERRORS.txt entry at the end of the
// archive, and the other volumes are still exported; the returned error then lists the failures.
func WriteProjectZip(ctx context.Context, st *store.Store, projectID int64, w io.Writer, manualOnly bool) error {
	volumes, err := checkProjectExport(ctx, st, projectID)
	if err != nil {
		return err
	}
	return writeProjectZip(ctx, st, volumes, w, manualOnly)
}

// checkProjectExport returns a project's volumes after checking that each one's original file reads as the
// stored volume, so that an export can start knowing it has what it needs.
func checkProjectExport(ctx context.Context, st *store.Store, projectID int64) ([]store.VolumeMeta, error) {
	list, err := st.Volumes(ctx, projectID)
	if err != nil {
		return nil, err
	}
	volumes := make([]store.VolumeMeta, len(list))
	for i, v := range list {
		if err := checkExportable(v.Name); err != nil {
			return nil, err
		}
		header, err := nifti.ReadHeader(st.OriginalPath(v.VolumeMeta))
		if err != nil {
			return nil, fmt.Errorf("volume %q: original file: %w", v.Name, err)
		}
		if src := v.Orientation.SourceShape(v.Shape); src != header.Shape() {
			return nil, fmt.Errorf("volume %q: stored shape %v does not match its original file's %v", v.Name, src, header.Shape())
		}
		volumes[i] = v.VolumeMeta
	}
	return volumes, nil
}

func writeProjectZip(ctx context.Context, st *store.Store, volumes []store.VolumeMeta, w io.Writer, manualOnly bool) error {
	zw := zip.NewWriter(w)
	var failures []string
	for _, v := range volumes {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := addVolumeToZip(ctx, st, zw, v.ID, manualOnly); err != nil {
			var entryErr *zipEntryError
			if errors.As(err, &entryErr) {
				// The archive itself cannot be written (the client went away): nothing more can be added.
				return fmt.Errorf("export volume %q: %w", v.Name, err)
			}
			failures = append(failures, fmt.Sprintf("%s: %s", v.Name, oneLine(err.Error())))
		}
	}
	if len(failures) > 0 {
		entry, err := zw.Create("ERRORS.txt")
		if err != nil {
			return err
		}
		report := "These volumes could not be exported and are missing or incomplete in this archive:\n" +
			strings.Join(failures, "\n") + "\n"
		if _, err := io.WriteString(entry, report); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if len(failures) > 0 {
		return fmt.Errorf("%d volume(s) not exported: %s", len(failures), strings.Join(failures, "; "))
	}
	return nil
}

// zipEntryError is a failure to write the archive itself, as opposed to a failure to read a volume.
type zipEntryError struct{ err error }

func (e *zipEntryError) Error() string { return e.err.Error() }
func (e *zipEntryError) Unwrap() error { return e.err }

// addVolumeToZip adds a volume's files under NAME/. Each file is encoded into memory first (one mask, a few
// MB compressed), so a failing volume never leaves a partial entry behind.
func addVolumeToZip(ctx context.Context, st *store.Store, zw *zip.Writer, volumeID int64, manualOnly bool) error {
	x, err := prepareExport(ctx, st, volumeID, manualOnly)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	for _, f := range x.files {
		buf.Reset()
		if err := f.Write(&buf); err != nil {
			return err
		}
		method := zip.Deflate
		if strings.HasSuffix(f.Name, ".gz") {
			method = zip.Store
		}
		entry, err := zw.CreateHeader(&zip.FileHeader{Name: x.volume.Name + "/" + f.Name, Method: method, Modified: time.Now()})
		if err != nil {
			return &zipEntryError{err}
		}
		if _, err := entry.Write(buf.Bytes()); err != nil {
			return &zipEntryError{err}
		}
	}
	return nil
}
