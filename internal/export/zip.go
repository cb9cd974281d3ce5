package export

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mriworkbench/workbench/store"
)

// Zip is a project's export as one archive, every volume's files under NAME/, checked before anything is
// written so that a project that cannot be exported fails with an error instead of a truncated archive.
type Zip struct {
	st      *store.Store
	volumes []store.VolumeMeta
}

// PrepareZip checks that each of the project's volumes has an original file that reads as the stored volume.
func PrepareZip(ctx context.Context, st *store.Store, projectID int64) (*Zip, error) {
	list, err := st.Volumes(ctx, projectID)
	if err != nil {
		return nil, err
	}
	z := &Zip{st: st, volumes: make([]store.VolumeMeta, len(list))}
	for i, v := range list {
		if _, err := checkOriginal(st, v.VolumeMeta); err != nil {
			return nil, err
		}
		z.volumes[i] = v.VolumeMeta
	}
	return z, nil
}

// Write streams the archive to w. Volumes are encoded straight into it, one at a time; the .nii.gz entries are
// stored, not compressed twice. A volume that fails now (e.g. its file became unreadable since PrepareZip) is
// named in an ERRORS.txt entry at the end of the archive, and the other volumes are still exported; the
// returned error then lists the failures.
func (z *Zip) Write(ctx context.Context, w io.Writer, manualOnly bool) error {
	zw := zip.NewWriter(w)
	var failures []string
	for _, v := range z.volumes {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := z.addVolume(ctx, zw, v.ID, manualOnly); err != nil {
			var entryErr *zipEntryError
			if errors.As(err, &entryErr) {
				// The archive itself cannot be written (the client went away): nothing more can be added.
				return fmt.Errorf("export volume %q: %w", v.Name, err)
			}
			failures = append(failures, fmt.Sprintf("%s: %s", v.Name, z.st.UserMessage(err)))
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

// addVolume adds a volume's files under NAME/. Each file is encoded into memory first (one mask, a few MB
// compressed), so a failing volume never leaves a partial entry behind.
func (z *Zip) addVolume(ctx context.Context, zw *zip.Writer, volumeID int64, manualOnly bool) error {
	x, err := prepare(ctx, z.st, volumeID, manualOnly)
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
