package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/mattn/go-sqlite3"
)

// Faults of the data directory's disk and files, told apart so that a user gets a reason to act on instead of
// "internal server error" or an errno. Test with errors.Is; Store.Fault finds them in an error's chain.
var (
	// ErrDiskFull: no space is left on the disk (ENOSPC, EDQUOT, SQLITE_FULL).
	ErrDiskFull = errors.New("disk full")
	// ErrReadOnly: the data directory cannot be written: a read-only file system or missing permissions
	// (EROFS, EACCES, EPERM, SQLITE_READONLY).
	ErrReadOnly = errors.New("data directory is read-only")
	// ErrFileMissing: a file the database refers to (a volume's original, a model's weights) is gone from the
	// data directory.
	ErrFileMissing = errors.New("file is missing from the data directory")
)

// FaultError is a fault of the data directory: Kind is ErrDiskFull, ErrReadOnly or ErrFileMissing, Err the
// error it was found in (for logs). Its message is one line for the user and names no absolute path.
type FaultError struct {
	Kind error
	Msg  string
	Err  error
}

func (e *FaultError) Error() string { return e.Msg }

func (e *FaultError) Unwrap() []error { return []error{e.Kind, e.Err} }

// Fault returns err as a *FaultError when its chain holds a disk or file fault (an errno from the OS or a
// result code from SQLite), and err unchanged otherwise. Permission and missing-file errors count only for
// paths inside the data directory: a read-only export folder elsewhere is not the data directory's fault.
func (s *Store) Fault(err error) error {
	var done *FaultError
	if err == nil || errors.As(err, &done) {
		return err
	}
	fault := func(kind error, format string, args ...any) error {
		return &FaultError{Kind: kind, Msg: fmt.Sprintf(format, args...), Err: err}
	}
	const diskFull = "disk full: no space is left on the data directory's disk; free some space, then retry"
	const readOnly = "the data directory is read-only (%s): nothing can be saved until the workbench may write there again"

	var sqlErr sqlite3.Error
	if errors.As(err, &sqlErr) {
		switch {
		case sqlErr.Code == sqlite3.ErrFull || isDiskFull(sqlErr.SystemErrno):
			return fault(ErrDiskFull, diskFull)
		case sqlErr.Code == sqlite3.ErrReadonly || sqlErr.Code == sqlite3.ErrPerm:
			return fault(ErrReadOnly, readOnly, "the database cannot be written")
		case isReadOnly(sqlErr.SystemErrno):
			return fault(ErrReadOnly, readOnly, errnoReason(sqlErr.SystemErrno))
		}
		return err
	}
	path, inside := s.faultPath(err)
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return err
	}
	switch {
	case isDiskFull(errno):
		if inside {
			return fault(ErrDiskFull, diskFull)
		}
		return fault(ErrDiskFull, "disk full: no space is left on the server's disk; free some space, then retry")
	case isReadOnly(errno) && inside:
		return fault(ErrReadOnly, readOnly, errnoReason(errno))
	case errno == syscall.ENOENT && path == ".":
		return fault(ErrFileMissing, "the data directory itself is missing; restore it from a backup")
	case errno == syscall.ENOENT && inside:
		return fault(ErrFileMissing, "%s is missing from the data directory; restore it from a backup", s.describeFile(path))
	}
	return err
}

func isDiskFull(errno syscall.Errno) bool { return errno == syscall.ENOSPC || errno == syscall.EDQUOT }

func isReadOnly(errno syscall.Errno) bool {
	return errno == syscall.EROFS || errno == syscall.EACCES || errno == syscall.EPERM
}

func errnoReason(errno syscall.Errno) string {
	if errno == syscall.EROFS {
		return "its file system is mounted read-only"
	}
	return "permission denied"
}

// faultPath returns the path, relative to the data directory, of the file operation that failed in err's chain,
// and whether it lies inside the data directory.
func (s *Store) faultPath(err error) (rel string, inside bool) {
	var pathErr *fs.PathError
	var linkErr *os.LinkError
	var path string
	switch {
	case errors.As(err, &pathErr):
		path = pathErr.Path
	case errors.As(err, &linkErr):
		path = linkErr.New
	default:
		return "", false
	}
	rel, relErr := filepath.Rel(s.dataDir, path)
	if relErr != nil || !filepath.IsAbs(path) || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", false
	}
	return filepath.ToSlash(rel), true
}

// describeFile names a file of the data directory the way a user knows it: the volume or model it belongs to.
func (s *Store) describeFile(rel string) string {
	ctx := context.Background() // an error path: the request's context may be what failed
	var name string
	err := s.db.QueryRowContext(ctx, `SELECT name FROM volumes WHERE original_file = ?`, rel).Scan(&name)
	if err == nil {
		return fmt.Sprintf("the original file of volume %q (%s)", name, rel)
	}
	var id int64
	if err := s.db.QueryRowContext(ctx, `SELECT id FROM models WHERE file = ?`, rel).Scan(&id); err == nil {
		return fmt.Sprintf("the file of model %d (%s)", id, rel)
	}
	return "the file " + rel
}

// Redact rewrites a message for users: paths inside the data directory become relative to it
// ("volumes/3.nii.gz") and the directory itself becomes "the data directory", so messages do not reveal
// where the server keeps its data.
func (s *Store) Redact(msg string) string {
	roots := []string{s.dataDir}
	if real, err := filepath.EvalSymlinks(s.dataDir); err == nil && real != s.dataDir {
		roots = append(roots, real) // SQLite and some OS errors name the resolved path
	}
	for _, root := range roots {
		msg = redactRoot(msg, root)
	}
	return msg
}

// redactRoot replaces root where it stands as a whole path or a path's beginning, not inside a longer name
// (/srv/data2 is not under /srv/data).
func redactRoot(msg, root string) string {
	if root == string(filepath.Separator) || root == "" {
		return msg // every path is under /: nothing to hide that is not also the rest of the path
	}
	var b strings.Builder
	for {
		i := strings.Index(msg, root)
		if i < 0 {
			b.WriteString(msg)
			return b.String()
		}
		b.WriteString(msg[:i])
		rest := msg[i+len(root):]
		switch {
		case strings.HasPrefix(rest, string(filepath.Separator)):
			rest = rest[1:]
		case rest == "" || !isPathChar(rest[0]):
			b.WriteString("the data directory")
		default:
			b.WriteString(root)
		}
		msg = rest
	}
}

func isPathChar(c byte) bool {
	return c == '.' || c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// UserMessage is the one line to show a user for err: a fault of the data directory described as such, no
// absolute path of the data directory, no line breaks.
func (s *Store) UserMessage(err error) string {
	return OneLine(s.Redact(s.Fault(err).Error()))
}

// checkWritable refuses to open a data directory the workbench cannot write: the database needs its
// write-ahead log beside it and every save writes, so a read-only directory is better refused with the reason
// at start than failing on the first save.
func checkWritable(dir string) error {
	const wOK = 2 // access(2)'s W_OK; access checks the file system's read-only flag as well as permissions
	err := syscall.Access(dir, wOK)
	var errno syscall.Errno
	if err == nil || !errors.As(err, &errno) || !isReadOnly(errno) {
		return nil // anything else shows itself when the database opens, with its own message
	}
	return &FaultError{Kind: ErrReadOnly, Err: err,
		Msg: fmt.Sprintf("data directory %s is read-only (%s): the workbench needs to write there", dir, errnoReason(errno))}
}
