package job

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/mriworkbench/workbench/internal/ingest"
	"github.com/mriworkbench/workbench/internal/testenv"
	"github.com/mriworkbench/workbench/ml/train"
	"github.com/mriworkbench/workbench/nifti"
	"github.com/mriworkbench/workbench/store"
)

// Few labelled slices in two volumes: the stored evaluation is a cross-validation over the volumes (each fold
// model scored on the volume it did not see), and every labelled slice trained the active model.
func TestTrainCrossValidatesOverVolumes(t *testing.T) {
	st := openStore(t)
	p, _ := t2sProject(t, st, "two", 0, 2, 4)
	ctx := context.Background()
	path := testenv.SharedData(t, t2sImage)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := ingest.Decode(filepath.Base(path), raw, nifti.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gm := canonicalVolume(t, t2sGM)
	n := gm.SliceLen()
	var labels []store.SliceMask
	for _, z := range []int{1, 3, 5} {
		mask := make([]uint8, n)
		for i := range mask {
			if gm.Data[z*n+i] > 0.5 {
				mask[i] = 2
			}
		}
		labels = append(labels, store.SliceMask{Slice: z, Mask: mask})
	}
	if _, _, err := ingest.Import(ctx, st, p.ID, "second.nii.gz", raw, img, labels, "test"); err != nil {
		t.Fatal(err)
	}
	tr, _ := newTrainer(t, st)
	out, err := tr.Train(ctx, p.ID, fastCV)
	if err != nil {
		t.Fatal(err)
	}
	var mm ModelMetrics
	if err := json.Unmarshal(out.Model.Metrics, &mm); err != nil {
		t.Fatal(err)
	}
	ev := mm.Evaluation
	if ev == nil || ev.Method != train.EvalFoldsVolumes || ev.Folds != 2 || ev.Volumes != 2 || ev.Slices != 6 ||
		mm.TrainSlices != 6 || mm.EvalSlices != 6 || mm.ValSlices != 0 || len(ev.Classes) != 2 {
		t.Fatalf("stored metrics %s", out.Model.Metrics)
	}
	if got, want := ev.String(), "2-fold over 2 volumes (6 slices)"; len(got) < len(want) || got[len(got)-len(want):] != want {
		t.Fatalf("evaluation reads %q", got)
	}
}
