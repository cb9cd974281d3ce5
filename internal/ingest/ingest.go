// Package ingest turns files into stored volumes: a file's name and bytes are checked, decoded as NIfTI, put
// on the canonical grid and stored with their intensity statistics and any initial labels; the original bytes
// are kept verbatim. The server's upload and the CLI's import both go through DecodeBuffer and ImportBuffer.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/mriworkbench/workbench/nifti"
	"github.com/mriworkbench/workbench/store"
)

// VolumeName is the volume name a file gets: its base name without .nii or .nii.gz. The image extensions of
// a .hdr/.img pair are stripped too, for the outputs named after an image (segment), although pairs are not
// imported.
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

// TooLargeError is a file refused for its size, with the reason for the user (the server answers 413).
type TooLargeError struct{ Msg string }

func (e *TooLargeError) Error() string { return e.Msg }

// CheckFileName refuses files that cannot become a volume: only single files are stored (a .hdr/.img pair
// would need both files kept together), and the name must be able to name an export directory. The refusal
// is a *store.ValidationError.
func CheckFileName(fileName string) error {
	lower := strings.ToLower(fileName)
	if !strings.HasSuffix(lower, ".nii") && !strings.HasSuffix(lower, ".nii.gz") {
		return &store.ValidationError{
			Msg: fmt.Sprintf("%s: only .nii and .nii.gz files can be imported (convert a .hdr/.img pair to .nii first)", baseName(fileName))}
	}
	return store.ValidateVolumeName(VolumeName(fileName))
}

// Decoded is an image file decoded for import: its header, and its voxels on the canonical grid with any NaN
// and infinite values replaced.
type Decoded struct {
	Image       *nifti.Image      // the file's header and extensions; no Data (the voxels are in Volume)
	Volume      *nifti.Volume     // canonical voxels
	Orientation nifti.Orientation // maps Volume back onto the file's grid
	NonFinite   NonFinite         // the NaN and infinite voxels replaced in Volume
}

// Decode checks a file's name and decodes its bytes under opts; see DecodeBuffer.
func Decode(fileName string, data []byte, opts nifti.ReadOptions) (*Decoded, error) {
	return DecodeBuffer(fileName, BufferOf(data), opts)
}

// DecodeBuffer checks a file's name and decodes its bytes under opts straight onto the canonical grid (the
// voxels are held once, as float32), replacing NaN and infinite voxels (see NonFinite). A refusal is a
// *store.ValidationError carrying the reader's one-line reason, or a *TooLargeError for an image over the
// voxel limit.
func DecodeBuffer(fileName string, data *Buffer, opts nifti.ReadOptions) (*Decoded, error) {
	if err := CheckFileName(fileName); err != nil {
		return nil, err
	}
	img, vol, err := nifti.DecodeCanonical(data.Reader(), data.Len(), opts)
	if errors.Is(err, nifti.ErrTooManyVoxels) {
		return nil, &TooLargeError{Msg: store.OneLine(fmt.Sprintf("%s: %v", baseName(fileName), err))}
	}
	if err != nil {
		return nil, &store.ValidationError{Msg: store.OneLine(fmt.Sprintf("%s: %v", baseName(fileName), err))}
	}
	nonFinite, err := ReplaceNonFinite(vol.Data)
	if err != nil {
		return nil, &store.ValidationError{Msg: fmt.Sprintf("%s: %v", baseName(fileName), err)}
	}
	return &Decoded{Image: img, Volume: vol, Orientation: img.Orientation(), NonFinite: nonFinite}, nil
}

// Import stores a decoded image (dec, from Decode of data) as a new volume of the project; see ImportBuffer.
func Import(ctx context.Context, st *store.Store, projectID int64, fileName string, data []byte, dec *Decoded,
	labels []store.SliceMask, author string) (store.VolumeMeta, *nifti.Volume, error) {
	return ImportBuffer(ctx, st, projectID, fileName, BufferOf(data), dec, labels, author)
}

// ImportBuffer stores a decoded image (dec, from DecodeBuffer of data) as a new volume of the project, named
// after the file, with labels as manual masks of canonical axial slices; the original bytes are stored
// verbatim. It returns the stored volume and its canonical voxels (the server caches them for the first slice
// requests). Nothing is stored when it fails.
func ImportBuffer(ctx context.Context, st *store.Store, projectID int64, fileName string, data *Buffer, dec *Decoded,
	labels []store.SliceMask, author string) (store.VolumeMeta, *nifti.Volume, error) {
	if err := CheckFileName(fileName); err != nil {
		return store.VolumeMeta{}, nil, err
	}
	if err := checkNameCase(ctx, st, projectID, VolumeName(fileName)); err != nil {
		return store.VolumeMeta{}, nil, err
	}
	meta, err := st.ImportVolume(ctx, store.ImportRequest{
		ProjectID:    projectID,
		Name:         VolumeName(fileName),
		OriginalName: baseName(fileName),
		Original:     data.Reader(),
		Geometry:     store.GeometryOf(dec.Volume, dec.Orientation),
		Stats:        store.ComputeStats(dec.Volume.Data),
		Labels:       labels,
		Author:       author,
	})
	if err != nil {
		return store.VolumeMeta{}, nil, err
	}
	return meta, dec.Volume, nil
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

// LoadCanonical decodes a stored volume's original file onto the canonical grid, with NaN and infinite
// voxels replaced as at import: for the server's volume cache, and for jobs that have no cache (the CLI's).
func LoadCanonical(ctx context.Context, st *store.Store, volumeID int64) (*nifti.Volume, error) {
	v, err := st.Volume(ctx, volumeID)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(st.OriginalPath(v))
	if err != nil {
		return nil, fmt.Errorf("volume %q: %w", v.Name, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("volume %q: %w", v.Name, err)
	}
	// The stored file was checked at import: its voxel count bounds the buffer should it have been replaced.
	voxels := int64(v.Shape[0]) * int64(v.Shape[1]) * int64(v.Shape[2])
	_, vol, err := nifti.DecodeCanonical(f, info.Size(), nifti.ReadOptions{MaxVoxels: voxels})
	if err != nil {
		return nil, fmt.Errorf("volume %q: %w", v.Name, err)
	}
	if _, err := ReplaceNonFinite(vol.Data); err != nil {
		return nil, fmt.Errorf("volume %q: %w", v.Name, err)
	}
	return vol, nil
}
