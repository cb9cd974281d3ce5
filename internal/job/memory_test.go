package job

import (
	"context"
	"fmt"
	"testing"

	"github.com/mriworkbench/workbench/store"
)

// BenchmarkWorkerPeakMemory trains one epoch in the worker at several settings of each architecture and
// reports the worker's measured peak resident memory (VmHWM) beside the estimate that the trainer checks
// against its budget; it fails if a peak exceeds its estimate. The t2s project (49x54 slices) is dominated by
// the training batch, the gm-challenge one (256x192) adds whole-slice inference. Run with -benchtime=1x.
func BenchmarkWorkerPeakMemory(b *testing.B) {
	st := openStore(b)
	small, _ := t2sProject(b, st, "t2s", 0, 2, 4, 6, 8)
	large, _ := labelledProject(b, st, "gmc", gmcImage, gmcCord, gmcGM, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18)
	for _, c := range []struct {
		arch        string
		batch, crop int
		project     store.Project
	}{
		{"smallunet", 2, 32, small}, {"smallunet", 8, 128, small}, {"smallunet", 8, 256, small}, {"smallunet", 2, 32, large},
		{"unet", 2, 32, small}, {"unet", 4, 128, small}, {"unet", 2, 32, large},
		{"segnet", 2, 32, small}, {"segnet", 4, 128, small}, {"segnet", 2, 32, large},
		{"nopoolaspp", 2, 32, small}, {"nopoolaspp", 4, 64, small}, {"nopoolaspp", 2, 32, large},
	} {
		name := fmt.Sprintf("%s/%s/batch=%d/crop=%d", c.project.Name, c.arch, c.batch, c.crop)
		b.Run(name, func(b *testing.B) {
			tr, _ := newTrainer(b, st)
			req := Request{FromScratch: true, Settings: fmt.Appendf(nil,
				`{"arch":%q,"epochs":1,"budget_seconds":0,"batch_size":%d,"crop_w":%d,"crop_h":%d}`, c.arch, c.batch, c.crop, c.crop)}
			rs, err := ResolveSettings(c.project, req)
			if err != nil {
				b.Fatal(err)
			}
			est, err := tr.estimateMemory(context.Background(), rs.Train, c.project.ID)
			if err != nil {
				b.Fatal(err)
			}
			var peak int64
			for b.Loop() {
				out, err := tr.Train(context.Background(), c.project.ID, req)
				if err != nil {
					b.Fatal(err)
				}
				peak = max(peak, out.PeakMemory)
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-MiB")
			b.ReportMetric(float64(est.Bytes)/(1<<20), "estimate-MiB")
			if peak > est.Bytes {
				b.Errorf("peak %s over the estimate %s", formatBytes(peak), formatBytes(est.Bytes))
			}
		})
	}
}
