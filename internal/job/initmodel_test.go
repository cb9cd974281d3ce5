package job

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/mriworkbench/workbench/ml/train"
	"github.com/mriworkbench/workbench/store"
)

// modelFile is a freshly initialised model file of these settings (a real file, as a download has it).
func modelFile(t *testing.T, mutate func(*train.Settings)) []byte {
	t.Helper()
	s := train.DefaultSettings(2)
	s.ClassNames = []string{"wm", "gm"}
	mutate(&s)
	m, err := train.NewModel(s)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := m.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// A model file that does not fit the project (classes, their names, the architecture, its width) or is no
// model is refused with a one-line reason before any run exists.
func TestInitModelThatDoesNotFitIsRefused(t *testing.T) {
	st := openStore(t)
	p, _ := t2sProject(t, st, "init", 0, 4, 8)
	tr, _ := newTrainer(t, st)
	ctx := context.Background()
	unet := []byte(`{"arch":"unet","width":8,"epochs":1,"budget_seconds":0}`)
	for _, c := range []struct {
		name     string
		file     []byte
		settings []byte
		scratch  bool
		reason   string
	}{
		{"one class", modelFile(t, func(s *train.Settings) { s.Classes, s.ClassNames = 1, []string{"cord"} }), nil, false, "the initial model has 1 classes (cord), the project 2 (wm, gm)"},
		{"other names", modelFile(t, func(s *train.Settings) { s.ClassNames = []string{"gm", "wm"} }), nil, false, "classes are gm, wm, the project's wm, gm"},
		{"other arch", modelFile(t, func(s *train.Settings) { s.Arch, s.Width = "unet", 8 }), nil, false, "is a unet network and this run trains smallunet: set arch to unet"},
		{"other width", modelFile(t, func(s *train.Settings) { s.Arch, s.Width = "unet", 4 }), unet, false, "layers do not match a unet of width 8"},
		{"no model", []byte("weights"), nil, false, "not a workbench model file"},
		{"and from scratch", modelFile(t, func(*train.Settings) {}), nil, true, "from a model file or from scratch, not both"},
	} {
		_, err := tr.Train(ctx, p.ID, Request{Settings: c.settings, InitModel: c.file, InitModelName: "other.wbmodel", FromScratch: c.scratch})
		var ve *store.ValidationError
		if !errors.As(err, &ve) || !strings.Contains(err.Error(), c.reason) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want a validation error saying %q", c.name, err, c.reason)
		}
	}
	if runs, err := st.Runs(ctx, p.ID); err != nil || len(runs) != 0 {
		t.Fatalf("runs after refused requests: %+v (%v)", runs, err)
	}
	if models, err := st.Models(ctx, p.ID); err != nil || len(models) != 0 {
		t.Fatalf("models after refused requests: %+v (%v)", models, err)
	}
}

// A run fine-tunes another project's model: it records the file's name and hash, starts from its weights
// (the iterations behind them carry on) and does not warm-start from the project's own model.
func TestRunFromAnotherProjectsModel(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	src, _ := t2sProject(t, st, "source", 0, 2, 4, 6, 8)
	tr, _ := newTrainer(t, st)
	first, err := tr.Train(ctx, src.ID, fast)
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(st.ModelPath(*first.Model)) // as the app's download sends it
	if err != nil {
		t.Fatal(err)
	}
	dst, _ := t2sProject(t, st, "destination", 1, 3, 5, 7)
	out, err := tr.Train(ctx, dst.ID, Request{Settings: fast.Settings, InitModel: file, InitModelName: "source_model_1.wbmodel"})
	if err != nil {
		t.Fatal(err)
	}
	var rs RunSettings
	if err := json.Unmarshal(out.Run.Settings, &rs); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(file)
	if rs.InitModel == nil || rs.InitModel.Name != "source_model_1.wbmodel" || rs.InitModel.SHA256 != hex.EncodeToString(sum[:]) ||
		rs.InitModel.Arch != "smallunet" || strings.Join(rs.InitModel.ClassNames, ",") != "wm,gm" || rs.FromScratch || rs.WarmStartModelID != nil {
		t.Fatalf("run settings %s", out.Run.Settings)
	}
	if out.Model.ParentID != nil || !out.Model.Active {
		t.Fatalf("model %+v: want the destination's first model, with no parent in this project", out.Model)
	}
	m, err := train.Load(st.ModelPath(*out.Model))
	if err != nil {
		t.Fatal(err)
	}
	if m.Info.Iterations <= first.Metrics.Iterations {
		t.Fatalf("the fine-tuned model's iterations %d do not carry on from the initial model's %d", m.Info.Iterations, first.Metrics.Iterations)
	}
}
