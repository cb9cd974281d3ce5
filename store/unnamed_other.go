//go:build !linux

package store

import (
	"errors"
	"os"
)

// createUnnamed: only Linux has O_TMPFILE; elsewhere a backup writes a named temporary file (see writeArchive).
func createUnnamed(dir string, perm os.FileMode) (*os.File, error) { return nil, errors.ErrUnsupported }

func linkUnnamed(f *os.File, path string) error { return errors.ErrUnsupported }
