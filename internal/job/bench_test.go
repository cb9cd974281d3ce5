package job

import (
	"context"
	"io"
	"testing"

	"github.com/mriworkbench/workbench/internal/ingest"
	"github.com/mriworkbench/workbench/ml/train"
	"github.com/mriworkbench/workbench/nifti"
	"github.com/mriworkbench/workbench/store"
)

// BenchmarkPredictProject times the predictions for the 10 unlabelled slices of the 256x192x20 gm-challenge
// volume, its even slices labelled (default-preset model; the cost does not depend on the weights). The aim:
// under 2 s.
func BenchmarkPredictProject(b *testing.B) {
	st := openStore(b)
	p, v := labelledProject(b, st, "gmc", gmcImage, gmcCord, gmcGM, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18)
	m, err := train.NewModel(train.DefaultSettings(2))
	if err != nil {
		b.Fatal(err)
	}
	stored, err := st.CreateModel(context.Background(), store.NewModel{ProjectID: p.ID, Arch: m.Info.Arch, Settings: []byte(`{}`),
		Write: func(w io.Writer) error { _, err := m.WriteTo(w); return err }})
	if err != nil {
		b.Fatal(err)
	}
	// Decoded once, as the server's volume cache holds it.
	vol, err := ingest.LoadCanonical(context.Background(), st, v.ID)
	if err != nil {
		b.Fatal(err)
	}
	volume := func(context.Context, int64) (*nifti.Volume, error) { return vol, nil }
	for b.Loop() {
		n, err := predictProject(context.Background(), st, volume, p.ID, m, stored.ID)
		if err != nil || n != 10 {
			b.Fatalf("predicted %d slices: %v", n, err)
		}
	}
}
