// Package atomicfile is the program's one way to put a file on disk: written to a temporary file in the
// target's directory, synced, renamed over the target, and the directory synced, so that a reader never sees
// a partial file and an acknowledged write survives a crash or a power cut.
//
// It lives apart from the export package because the store writes through it too, and export imports the
// store.
package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// Write writes path through write, atomically and durably (see the package doc), with permissions perm.
func Write(path string, perm os.FileMode, write func(w io.Writer) error) error {
	tmp, err := WriteTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*", perm, write)
	if err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	if err := Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	return nil
}

// WriteTemp writes a new temporary file in dir (named by pattern, as os.CreateTemp does) through write,
// sets its permissions and syncs it, and returns its path; the caller renames it into place with Rename,
// e.g. inside a database transaction. On error no file is left.
func WriteTemp(dir, pattern string, perm os.FileMode, write func(w io.Writer) error) (path string, err error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err = write(bw); err != nil {
		return "", err
	}
	if err = bw.Flush(); err != nil {
		return "", err
	}
	if err = f.Chmod(perm); err != nil {
		return "", err
	}
	if err = f.Sync(); err != nil {
		return "", err
	}
	if err = f.Close(); err != nil {
		return "", err
	}
	return f.Name(), nil
}

// Rename moves a synced file into place and syncs the directory, so the rename itself is durable.
func Rename(from, to string) error {
	if err := os.Rename(from, to); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(to))
}

// SyncDir flushes a directory's entries (creations, renames, removals) to disk. File systems that cannot
// sync a directory (some network and FUSE ones) are not an error: there is nothing more to do on them.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, errors.ErrUnsupported) && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}
