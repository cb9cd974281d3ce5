package server

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/mriworkbench/workbench/internal/event"
	"github.com/mriworkbench/workbench/store"
)

const (
	gmcDir   = "gm-challenge-data/"
	gmcImage = gmcDir + "sub-9709Ses1/anat/sub-9709Ses1_run-1_T2starw.nii.gz"
	gmcCord  = gmcDir + "derivatives/labels/sub-9709Ses1/anat/sub-9709Ses1_run-1_T2starw_seg-manual.nii.gz"
	gmcGM    = gmcDir + "derivatives/labels/sub-9709Ses1/anat/sub-9709Ses1_run-1_T2starw_gmseg-manual.nii.gz"
)

// gmcProject imports the gm-challenge volume (256x192x20) into a new wm,gm project with its expert masks on the
// even slices, as the measurement does.
func gmcProject(b *testing.B, e *testEnv) (store.Project, store.VolumeMeta) {
	b.Helper()
	ctx := context.Background()
	p, err := e.store.CreateProject(ctx, "gmc", []store.Class{{Name: "wm", Color: "#ff0000"}, {Name: "gm", Color: "#00ff00"}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	cord, gm := canonicalVolume(b, gmcCord), canonicalVolume(b, gmcGM)
	n := cord.SliceLen()
	var labels []store.SliceMask
	for z := 0; z < cord.NumSlices(); z += 2 {
		mask := make([]uint8, n)
		for i := range mask {
			switch {
			case gm.Data[z*n+i] > 0.5:
				mask[i] = 2
			case cord.Data[z*n+i] > 0.5:
				mask[i] = 1
			}
		}
		labels = append(labels, store.SliceMask{Slice: z, Mask: mask})
	}
	v, err := importFile(ctx, e.store, p.ID, "gmc.nii.gz", readShared(b, gmcImage), labels, "bench")
	if err != nil {
		b.Fatal(err)
	}
	return p, v
}

// BenchmarkTrainToFirstLossPoint times Train now (POST) to the first iteration event on the websocket, with the
// default settings on half of the gm-challenge volume's slices labelled. The target: under 3 s.
func BenchmarkTrainToFirstLossPoint(b *testing.B) {
	e := newTestEnv(b)
	b.Cleanup(e.srv.Trainer().Close)
	p, _ := gmcProject(b, e)
	conn := e.mustDial(p.ID)
	var total time.Duration
	runs := 0
	for b.Loop() {
		var run store.Run
		start := time.Now()
		e.sendJSON(http.MethodPost, fmt.Sprintf("/api/projects/%d/train", p.ID), map[string]any{"fromScratch": true}).
			expect(b, http.StatusAccepted).json(b, &run)
		waitEvents(b, conn, 60*time.Second, func(ev wsEvent) bool { return ev.Type == event.TypeIteration && ev.RunID == run.ID })
		total += time.Since(start)
		runs++
		b.StopTimer()
		e.do(http.MethodPost, fmt.Sprintf("/api/runs/%d/cancel", run.ID), nil, nil).expect(b, http.StatusOK)
		waitEvents(b, conn, 30*time.Second, runEnded(store.RunCancelled))
		b.StartTimer()
	}
	b.ReportMetric(total.Seconds()/float64(runs), "s/first-point")
}
