package job

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/mattn/go-sqlite3" // integrity checks open the database read-only

	"github.com/mriworkbench/workbench/internal/event"
	"github.com/mriworkbench/workbench/internal/ingest"
	"github.com/mriworkbench/workbench/internal/testenv"
	"github.com/mriworkbench/workbench/nifti"
	"github.com/mriworkbench/workbench/store"
)

// The small t2s volume (49x54, 9 slices) of the shared spinal cord data, with its expert masks.
const (
	t2sImage = "sct_testing_data/t2s/t2s.nii.gz"
	t2sCord  = "sct_testing_data/t2s/t2s_seg.nii.gz"
	t2sGM    = "sct_testing_data/t2s/t2s_gmseg_manual.nii.gz"
)

// The gm-challenge volume (256x192x20) and its expert masks.
const (
	gmcDir   = "gm-challenge-data/"
	gmcImage = gmcDir + "sub-9709Ses1/anat/sub-9709Ses1_run-1_T2starw.nii.gz"
	gmcCord  = gmcDir + "derivatives/labels/sub-9709Ses1/anat/sub-9709Ses1_run-1_T2starw_seg-manual.nii.gz"
	gmcGM    = gmcDir + "derivatives/labels/sub-9709Ses1/anat/sub-9709Ses1_run-1_T2starw_gmseg-manual.nii.gz"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// openStore opens a store in a new data directory, closed when the test ends.
func openStore(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(t.TempDir(), os.DirFS("../../migrations"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// labelledProject is a new (wm, gm) project holding one shared volume with its expert masks (WM = cord and not
// GM) on the given canonical slices.
func labelledProject(t testing.TB, st *store.Store, name, image, cordFile, gmFile string, slices ...int) (store.Project, store.VolumeMeta) {
	t.Helper()
	ctx := context.Background()
	p, err := st.CreateProject(ctx, name, []store.Class{{Name: "wm", Color: "#ff0000"}, {Name: "gm", Color: "#00ff00"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	path := testenv.SharedData(t, image)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := ingest.Decode(filepath.Base(path), data, nifti.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cord, gm := canonicalVolume(t, cordFile), canonicalVolume(t, gmFile)
	var labels []store.SliceMask
	for _, z := range slices {
		labels = append(labels, store.SliceMask{Slice: z, Mask: expertMask(cord, gm, z)})
	}
	v, _, err := ingest.Import(ctx, st, p.ID, filepath.Base(path), data, img, labels, "test")
	if err != nil {
		t.Fatal(err)
	}
	return p, v
}

// expertMask is slice z's (wm, gm) class mask from the expert's cord and grey-matter masks: grey matter is
// class 2, the rest of the cord class 1.
func expertMask(cord, gm *nifti.Volume, z int) []uint8 {
	n := cord.SliceLen()
	mask := make([]uint8, n)
	for i := range mask {
		switch {
		case gm.Data[z*n+i] > 0.5:
			mask[i] = 2
		case cord.Data[z*n+i] > 0.5:
			mask[i] = 1
		}
	}
	return mask
}

func t2sProject(t testing.TB, st *store.Store, name string, slices ...int) (store.Project, store.VolumeMeta) {
	return labelledProject(t, st, name, t2sImage, t2sCord, t2sGM, slices...)
}

// canonicalVolume reads a shared file onto the canonical grid.
func canonicalVolume(t testing.TB, rel string) *nifti.Volume {
	t.Helper()
	img, err := nifti.Read(testenv.SharedData(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	vol, _ := img.Canonical()
	return vol
}

// newTrainer is a trainer whose events the test reads from the returned channel (a full channel drops them:
// tests read only as far as they need). It is closed when the test ends.
func newTrainer(t testing.TB, st *store.Store) (*Trainer, <-chan event.Event) {
	return newTrainerWith(t, st, WorkerConfig{})
}

// newTrainerWith is newTrainer with its worker set up by w.
func newTrainerWith(t testing.TB, st *store.Store, w WorkerConfig) (*Trainer, <-chan event.Event) {
	events := make(chan event.Event, 1024)
	tr := NewTrainer(Config{Store: st, Logger: quiet, Worker: w, Publish: func(_ int64, e event.Event) {
		select {
		case events <- e:
		default:
		}
	}})
	t.Cleanup(tr.Close)
	return tr, events
}

// checkIntegrity runs SQLite's integrity check on a data directory's database.
func checkIntegrity(t *testing.T, dataDir string) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+dataDir+"/workbench.db?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var res string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&res); err != nil || res != "ok" {
		t.Fatalf("integrity_check: %q, %v", res, err)
	}
}
