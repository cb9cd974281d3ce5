package store

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mriworkbench/workbench/internal/atomicfile"
)

// Backups. Backup writes one zip archive: a consistent snapshot of the database (VACUUM INTO, which other
// connections and processes may keep writing beside), the IDENTITY, every stored file the snapshot references,
// and MANIFEST.json with the size and SHA-256 of each. Stored files are immutable, so copying them after the
// snapshot is consistent with it; one deleted meanwhile makes the backup start again. The archive appears
// complete or not at all (writeArchive). Restore checks an archive entirely (names, sums, integrity_check,
// identity, the files the database references) in a staging directory beside the target, then renames it
// into place.

const (
	backupFormat   = "workbench-backup/1"
	manifestName   = "MANIFEST.json"
	backupAttempts = 3 // snapshots taken before giving up when files keep being deleted during the backup
	archivePerm    = 0o600
	maxManifest    = 64 << 20
)

// BackupManifest describes a backup archive; it is the archive's MANIFEST.json.
type BackupManifest struct {
	Format        string       `json:"format"`
	Identity      Identity     `json:"identity"`
	CreatedAt     time.Time    `json:"created_at"`
	SchemaVersion int          `json:"schema_version"`
	Projects      int          `json:"projects"`
	Volumes       int          `json:"volumes"`
	Models        int          `json:"models"`
	Files         []BackupFile `json:"files"` // workbench.db, IDENTITY, then the stored files
}

// BackupFile is one file of a backup archive.
type BackupFile struct {
	Name   string `json:"name"` // its path in the archive and in the data directory, e.g. volumes/3-a1b2....nii.gz
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Size is the total size of the archive's files (before compression).
func (m BackupManifest) Size() int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Size
	}
	return n
}

// BackupStage is where a backup or a restore is.
type BackupStage string

const (
	StageSnapshot BackupStage = "snapshot" // backup: taking the database snapshot
	StageFiles    BackupStage = "files"    // copying files: the stored files (backup), every file (restore)
	StageCheck    BackupStage = "check"    // restore: integrity_check of the database and its files
)

// BackupProgress is reported often during a backup or restore; a display throttles it.
type BackupProgress struct {
	Stage     BackupStage
	Files     int // files to copy
	FilesDone int
	Bytes     int64 // their total size
	BytesDone int64
}

var errDeletedDuringBackup = errors.New("a stored file was deleted during the backup")

// Backup writes a backup archive of the store to outPath, replacing a file there, while this and other
// processes keep using the store. progress may be nil.
func (s *Store) Backup(ctx context.Context, outPath string, progress func(BackupProgress)) (BackupManifest, error) {
	if progress == nil {
		progress = func(BackupProgress) {}
	}
	out, err := filepath.Abs(outPath)
	if err != nil {
		return BackupManifest{}, err
	}
	if rel, err := filepath.Rel(s.dataDir, out); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return BackupManifest{}, invalid("%s is inside the data directory %s: write the backup elsewhere, so that it survives the directory", out, s.dataDir)
	}
	if info, err := os.Stat(out); err == nil && info.IsDir() {
		return BackupManifest{}, invalid("%s is a directory: name the archive file to write", out)
	}
	if s.info.Identity.ID == "" {
		return BackupManifest{}, errors.New("backup: this database has no identity (its schema is older than this workbench)")
	}
	for attempt := 1; ; attempt++ {
		m, err := s.backup(ctx, out, progress)
		if errors.Is(err, errDeletedDuringBackup) && attempt < backupAttempts {
			continue // a volume or project was deleted: a new snapshot no longer references its file
		}
		return m, err
	}
}

func (s *Store) backup(ctx context.Context, out string, progress func(BackupProgress)) (BackupManifest, error) {
	progress(BackupProgress{Stage: StageSnapshot})
	snap, err := s.snapshot(ctx)
	if err != nil {
		return BackupManifest{}, err
	}
	defer removeSnapshot(snap)
	m, refs, err := readSnapshot(ctx, snap)
	if err != nil {
		return BackupManifest{}, err
	}
	if m.Identity.ID != s.info.Identity.ID {
		return BackupManifest{}, fmt.Errorf("backup: the snapshot's identity %s is not the store's %s", m.Identity.ID, s.info.Identity.ID)
	}
	// Sizes first, for the progress, and so a file deleted since the snapshot is seen before anything is written.
	p := BackupProgress{Stage: StageFiles, Files: len(refs)}
	for _, ref := range refs {
		info, err := os.Stat(s.abs(ref))
		if err != nil {
			return BackupManifest{}, s.unreadable(ctx, ref, err)
		}
		p.Bytes += info.Size()
	}
	err = writeArchive(out, func(w io.Writer) error {
		zw := zip.NewWriter(w)
		db, err := addFile(ctx, zw, dbFile, snap, zip.Deflate, nil)
		if err != nil {
			return err
		}
		id, err := addEntry(zw, identityFile, zip.Deflate, time.Now(), bytes.NewReader(encodeIdentity(m.Identity)), nil)
		if err != nil {
			return err
		}
		m.Files = append(m.Files, db, id)
		progress(p)
		for _, ref := range refs {
			// Stored files are compressed images and weights already: stored as they are.
			f, err := addFile(ctx, zw, ref, s.abs(ref), zip.Store, func(n int) {
				p.BytesDone += int64(n)
				progress(p)
			})
			if err != nil {
				return s.unreadable(ctx, ref, err)
			}
			m.Files = append(m.Files, f)
			p.FilesDone++
			progress(p)
		}
		manifest, _ := json.MarshalIndent(m, "", "  ")
		if _, err := addEntry(zw, manifestName, zip.Deflate, time.Now(), bytes.NewReader(manifest), nil); err != nil {
			return err
		}
		return zw.Close()
	})
	if err != nil {
		return BackupManifest{}, err
	}
	return m, nil
}

// snapshot writes a consistent copy of the database into a partial file of the data directory (removed by
// the next Open if this process dies) and returns its path.
func (s *Store) snapshot(ctx context.Context) (string, error) {
	f, err := os.CreateTemp(s.dataDir, fmt.Sprintf("%s%d-*-snapshot.db", tempPrefix, os.Getpid()))
	if err != nil {
		return "", fmt.Errorf("snapshot of the database: %w", err)
	}
	f.Close()
	// VACUUM INTO writes into an empty file; it reads in one transaction, so writers carry on beside it.
	if _, err := s.db.ExecContext(ctx, `VACUUM INTO ?`, f.Name()); err != nil {
		removeSnapshot(f.Name())
		return "", fmt.Errorf("snapshot of the database: %w", err)
	}
	return f.Name(), nil
}

func removeSnapshot(path string) {
	for _, suffix := range []string{"", "-journal", "-wal", "-shm"} {
		os.Remove(path + suffix)
	}
}

// readSnapshot reads what the manifest says of a database file, and the stored files it references.
func readSnapshot(ctx context.Context, path string) (BackupManifest, []string, error) {
	db, err := sql.Open("sqlite3", (&url.URL{Scheme: "file", Path: path, RawQuery: "mode=ro"}).String())
	if err != nil {
		return BackupManifest{}, nil, err
	}
	defer db.Close()
	m := BackupManifest{Format: backupFormat, CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	var created int64
	if err := db.QueryRowContext(ctx, `SELECT id, created_at FROM identity`).Scan(&m.Identity.ID, &created); err != nil {
		return BackupManifest{}, nil, fmt.Errorf("read the snapshot's identity: %w", err)
	}
	m.Identity.CreatedAt = fromMillis(created)
	if err := db.QueryRowContext(ctx, `SELECT (SELECT user_version FROM pragma_user_version),
		(SELECT COUNT(*) FROM projects), (SELECT COUNT(*) FROM volumes), (SELECT COUNT(*) FROM models)`).
		Scan(&m.SchemaVersion, &m.Projects, &m.Volumes, &m.Models); err != nil {
		return BackupManifest{}, nil, fmt.Errorf("read the snapshot: %w", err)
	}
	rows, err := db.QueryContext(ctx, `SELECT original_file FROM volumes UNION ALL SELECT file FROM models`)
	if err != nil {
		return BackupManifest{}, nil, fmt.Errorf("read the snapshot's files: %w", err)
	}
	defer rows.Close()
	var refs []string
	for rows.Next() {
		var ref string
		if err := rows.Scan(&ref); err != nil {
			return BackupManifest{}, nil, err
		}
		if !validStoredPath(ref) {
			return BackupManifest{}, nil, fmt.Errorf("backup: the database references %q, which is not a stored file", ref)
		}
		refs = append(refs, ref)
	}
	return m, refs, rows.Err()
}

// unreadable explains a stored file the backup cannot read: deleted since the snapshot (the backup starts
// again), or missing from the data directory.
func (s *Store) unreadable(ctx context.Context, ref string, err error) error {
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	var n int
	if qerr := s.db.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM volumes WHERE original_file = ?) +
		(SELECT COUNT(*) FROM models WHERE file = ?)`, ref, ref).Scan(&n); qerr != nil {
		return qerr
	}
	if n == 0 {
		return errDeletedDuringBackup
	}
	return fmt.Errorf("stored file %s is missing from the data directory, so no backup can hold it", ref)
}

// validStoredPath accepts volumes/NAME and models/NAME: nothing that could name a place outside them.
func validStoredPath(p string) bool {
	dir, name, ok := strings.Cut(p, "/")
	return ok && (dir == volumesDir || dir == modelsDir) && name != "" && len(name) <= 255 &&
		!strings.HasPrefix(name, ".") && !strings.ContainsAny(name, "/\\") && !strings.ContainsFunc(name, isControl)
}

// addFile adds the file at path to the archive under name.
func addFile(ctx context.Context, zw *zip.Writer, name, path string, method uint16, onCopy func(int)) (BackupFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return BackupFile{}, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return BackupFile{}, err
	}
	return addEntry(zw, name, method, info.ModTime(), contextReader{ctx, f}, onCopy)
}

func addEntry(zw *zip.Writer, name string, method uint16, modified time.Time, r io.Reader, onCopy func(int)) (BackupFile, error) {
	w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: method, Modified: modified})
	if err != nil {
		return BackupFile{}, err
	}
	h := sha256.New()
	n, err := io.Copy(progressWriter{io.MultiWriter(w, h), onCopy}, r)
	if err != nil {
		return BackupFile{}, err
	}
	return BackupFile{Name: name, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// contextReader stops a long copy when its context ends.
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (c contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

type progressWriter struct {
	w      io.Writer
	onCopy func(int)
}

func (p progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	if p.onCopy != nil && n > 0 {
		p.onCopy(n)
	}
	return n, err
}

// writeArchive writes path through write, atomically and durably like atomicfile.Write, except that the file
// being written has no name (createUnnamed) where the file system allows: a backup killed midway leaves
// nothing in the user's directory, where no Open would ever clean up. Once complete and synced it is linked
// under a temporary name and renamed over path. Elsewhere it is a named temporary file, and a later backup to
// the same directory removes those whose writer is gone.
func writeArchive(path string, write func(io.Writer) error) error {
	dir, base := filepath.Split(path)
	tempName := "." + base + ".tmp-"
	if err := removeStaleFiles(dir, tempName); err != nil {
		return err
	}
	tempName += fmt.Sprintf("%d-", os.Getpid())
	f, err := createUnnamed(dir, archivePerm)
	if errors.Is(err, errors.ErrUnsupported) {
		tmp, err := atomicfile.WriteTemp(dir, tempName+"*", archivePerm, write)
		if err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		return renameArchive(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := write(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := filepath.Join(dir, tempName+randomHex(8))
	if err := linkUnnamed(f, tmp); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return renameArchive(tmp, path)
}

func renameArchive(tmp, path string) error {
	if err := atomicfile.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Restore writes the backup archive at archivePath into dataDir, which must be missing or empty. Everything is
// checked first, in a staging directory beside dataDir: the manifest, each file's size and SHA-256, the
// database's integrity_check and identity, and that every file the database references came with it, with
// the SHA-256 recorded for each volume. Only a restore that passed appears at dataDir, by one rename. The
// migrations are the store's: an older backup comes back migrated. progress may be nil.
func Restore(ctx context.Context, archivePath, dataDir string, migrations fs.FS, progress func(BackupProgress)) (BackupManifest, error) {
	if progress == nil {
		progress = func(BackupProgress) {}
	}
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return BackupManifest{}, err
	}
	if err := refuseOccupied(abs); err != nil {
		return BackupManifest{}, err
	}
	zr, err := zip.OpenReader(archivePath)
	if err != nil {
		return BackupManifest{}, invalid("%s is not a workbench backup (%v)", archivePath, err)
	}
	defer zr.Close()
	m, entries, err := readManifest(&zr.Reader)
	if err != nil {
		return BackupManifest{}, invalid("%s is not a usable workbench backup: %v", archivePath, err)
	}

	parent, base := filepath.Split(abs)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return BackupManifest{}, fmt.Errorf("restore: %w", err)
	}
	prefix := "." + base + ".restoring-"
	if err := removeStaleFiles(parent, prefix); err != nil { // left by a restore that was killed
		return BackupManifest{}, err
	}
	staging, err := os.MkdirTemp(parent, fmt.Sprintf("%s%d-*", prefix, os.Getpid()))
	if err != nil {
		return BackupManifest{}, fmt.Errorf("restore: %w", err)
	}
	restored := false
	defer func() {
		if !restored {
			os.RemoveAll(staging)
		}
	}()
	if err := extract(ctx, m, entries, staging, progress); err != nil {
		return BackupManifest{}, fmt.Errorf("%s: %w", archivePath, err)
	}
	progress(BackupProgress{Stage: StageCheck, Files: len(m.Files), FilesDone: len(m.Files)})
	if err := checkRestored(ctx, staging, m, migrations); err != nil {
		return BackupManifest{}, fmt.Errorf("%s: %w", archivePath, err)
	}
	if err := os.Chmod(staging, 0o755); err != nil {
		return BackupManifest{}, fmt.Errorf("restore: %w", err)
	}
	// The system call, not os.Rename, which refuses to replace a directory even when it is empty.
	if err := syscall.Rename(staging, abs); err != nil {
		return BackupManifest{}, fmt.Errorf("restore: move the restored directory into place: %w", err)
	}
	restored = true
	return m, atomicfile.SyncDir(parent)
}

// refuseOccupied refuses a restore into a directory that holds anything: a workbench above all.
func refuseOccupied(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("restore into %s: %w", dir, err)
	}
	if len(entries) == 0 {
		return nil
	}
	for _, name := range []string{dbFile, identityFile, volumesDir, modelsDir} {
		if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
			return invalid("%s already holds a workbench (%s): restore into a new or empty directory, or move it away first", dir, name)
		}
	}
	return invalid("%s is not empty (it holds %s): restore into a new or empty directory", dir, entries[0].Name())
}

// readManifest reads MANIFEST.json and checks it against the archive's entries, returned by name.
func readManifest(zr *zip.Reader) (BackupManifest, map[string]*zip.File, error) {
	entries := map[string]*zip.File{}
	for _, f := range zr.File {
		if _, dup := entries[f.Name]; dup {
			return BackupManifest{}, nil, fmt.Errorf("it holds %s twice", f.Name)
		}
		entries[f.Name] = f
	}
	mf, ok := entries[manifestName]
	if !ok {
		return BackupManifest{}, nil, fmt.Errorf("it has no %s", manifestName)
	}
	r, err := mf.Open()
	if err != nil {
		return BackupManifest{}, nil, err
	}
	defer r.Close()
	var m BackupManifest
	if err := json.NewDecoder(io.LimitReader(r, maxManifest)).Decode(&m); err != nil {
		return BackupManifest{}, nil, fmt.Errorf("%s: %v", manifestName, err)
	}
	switch {
	case m.Format != backupFormat:
		return BackupManifest{}, nil, fmt.Errorf("its format is %q; this workbench reads %q", m.Format, backupFormat)
	case !validIdentityID(m.Identity.ID):
		return BackupManifest{}, nil, fmt.Errorf("%s has no valid identity", manifestName)
	case len(m.Files) < 2 || m.Files[0].Name != dbFile || m.Files[1].Name != identityFile:
		return BackupManifest{}, nil, fmt.Errorf("%s does not list %s and %s first", manifestName, dbFile, identityFile)
	}
	listed := map[string]bool{manifestName: true}
	for i, f := range m.Files {
		listed[f.Name] = true
		e, ok := entries[f.Name]
		switch {
		case i >= 2 && !validStoredPath(f.Name):
			return BackupManifest{}, nil, fmt.Errorf("%s lists %q, which is not a stored file", manifestName, f.Name)
		case !ok:
			return BackupManifest{}, nil, fmt.Errorf("%s is listed but missing", f.Name)
		case e.UncompressedSize64 != uint64(f.Size):
			return BackupManifest{}, nil, fmt.Errorf("%s is %d bytes in the archive, %d in %s", f.Name, e.UncompressedSize64, f.Size, manifestName)
		}
	}
	for name := range entries {
		if !listed[name] {
			return BackupManifest{}, nil, fmt.Errorf("it holds %s, which %s does not list", name, manifestName)
		}
	}
	return m, entries, nil
}

// extract writes every file of the manifest under dir, checking its size and SHA-256, and syncs it all.
func extract(ctx context.Context, m BackupManifest, entries map[string]*zip.File, dir string, progress func(BackupProgress)) error {
	for _, sub := range []string{volumesDir, modelsDir} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			return err
		}
	}
	p := BackupProgress{Stage: StageFiles, Files: len(m.Files), Bytes: m.Size()}
	progress(p)
	for _, f := range m.Files {
		perm := os.FileMode(0o444) // stored files and the IDENTITY are immutable
		if f.Name == dbFile {
			perm = 0o644
		}
		dest := filepath.Join(dir, filepath.FromSlash(f.Name))
		h := sha256.New()
		var n int64
		tmp, err := atomicfile.WriteTemp(filepath.Dir(dest), ".restore-*", perm, func(w io.Writer) error {
			r, err := entries[f.Name].Open()
			if err != nil {
				return err
			}
			defer r.Close()
			n, err = io.Copy(progressWriter{io.MultiWriter(w, h), func(k int) {
				p.BytesDone += int64(k)
				progress(p)
			}}, contextReader{ctx, io.LimitReader(r, f.Size+1)})
			return err
		})
		if errors.Is(err, zip.ErrChecksum) || errors.Is(err, zip.ErrFormat) {
			return invalid("%s is damaged in the archive (%v)", f.Name, err)
		}
		if err != nil {
			return fmt.Errorf("restore %s: %w", f.Name, err)
		}
		if sum := hex.EncodeToString(h.Sum(nil)); n != f.Size || sum != f.SHA256 {
			os.Remove(tmp)
			return invalid("%s is damaged in the archive (its size or SHA-256 differs from the manifest's)", f.Name)
		}
		if err := os.Rename(tmp, dest); err != nil {
			return fmt.Errorf("restore %s: %w", f.Name, err)
		}
		p.FilesDone++
		progress(p)
	}
	for _, sub := range []string{volumesDir, modelsDir, "."} {
		if err := atomicfile.SyncDir(filepath.Join(dir, sub)); err != nil {
			return err
		}
	}
	return nil
}

// checkRestored opens the restored directory as a store, with the full integrity check, and checks its
// identity and that every file its database references was restored, each volume with its recorded SHA-256.
func checkRestored(ctx context.Context, dir string, m BackupManifest, migrations fs.FS) error {
	st, err := Open(dir, migrations, WithFullIntegrityCheck())
	var refused *RefusedError
	if errors.As(err, &refused) {
		return invalid("the backup's data directory %s", refused.Problem)
	}
	if err != nil {
		return err
	}
	defer st.Close()
	if st.Identity().ID != m.Identity.ID {
		return invalid("the backup's database is of data directory %s, its manifest says %s", st.Identity().ID, m.Identity.ID)
	}
	sums := map[string]string{}
	for _, f := range m.Files[2:] {
		sums[f.Name] = f.SHA256
	}
	rows, err := st.db.QueryContext(ctx, `SELECT original_file, sha256 FROM volumes UNION ALL SELECT file, NULL FROM models`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var file string
		var want sql.NullString
		if err := rows.Scan(&file, &want); err != nil {
			return err
		}
		got, ok := sums[file]
		if !ok {
			return invalid("the backup lacks %s, which its database references", file)
		}
		if want.Valid && want.String != got {
			return invalid("%s is not the file its volume recorded (SHA-256 differs)", file)
		}
	}
	return rows.Err()
}
