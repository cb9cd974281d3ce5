package train

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/mriworkbench/workbench/ml/data"
)

// ttqConfigs are the settings the time-to-quality experiment compares on the gm-challenge volume (classes:
// 1 white matter, 2 grey matter): the paper's, the default, and the default with one thing changed.
func ttqConfigs() map[string]Settings {
	paper := PaperSettings(2)
	// The reference measurement (PIPELINE.md) used an 80x80 crop placed with knowledge of the labels.
	paper.CropW, paper.CropH, paper.Placement = 80, 80, PlaceForeground

	configs := map[string]Settings{"paper": paper, "default": DefaultSettings(2)}
	variant := func(name string, change func(*Settings)) {
		s := DefaultSettings(2)
		change(&s)
		configs[name] = s
	}
	variant("crop64", func(s *Settings) { s.CropW, s.CropH = 64, 64 })
	variant("crop96", func(s *Settings) { s.CropW, s.CropH = 96, 96 })
	variant("paperaug", func(s *Settings) { s.Augment = data.DefaultAugment() })
	variant("noaug", func(s *Settings) { s.Augment = data.AugmentConfig{} })
	variant("constant", func(s *Settings) { s.Schedule = ScheduleConstant })
	variant("lr0.001", func(s *Settings) { s.LearningRate = 0.001 })
	variant("lr0.003", func(s *Settings) { s.LearningRate = 0.003 })
	variant("perclass", func(s *Settings) { s.Loss = LossPerClassDice })
	variant("ce", func(s *Settings) { s.Loss = LossCE })
	variant("paperloss", func(s *Settings) { s.Loss = LossPaperDice })
	variant("fgonly", func(s *Settings) { s.RandomShare = 0 })
	variant("batch4", func(s *Settings) { s.BatchSize = 4 })
	return configs
}

// TestTimeToQuality trains on the even slices of the gm-challenge volume and reports the grey-matter Dice on the
// odd (held-back) whole slices against wall-clock training seconds, every ~10 s (scoring time left out of the
// clock). It is an experiment, not a check: run it with
//
//	WORKBENCH_LONG=1 go test -run TestTimeToQuality -timeout 30m -v ./ml/train
//
// WORKBENCH_TTQ picks configurations (comma-separated names of ttqConfigs; default "paper,default") and
// WORKBENCH_TTQ_SECONDS the budget of each (default 300).
func TestTimeToQuality(t *testing.T) {
	if os.Getenv("WORKBENCH_LONG") != "1" {
		t.Skip("time-to-quality experiment: set WORKBENCH_LONG=1 to run it (minutes)")
	}
	names := strings.Split(envOr("WORKBENCH_TTQ", "paper,default"), ",")
	budget, err := strconv.ParseFloat(envOr("WORKBENCH_TTQ_SECONDS", "300"), 64)
	if err != nil {
		t.Fatal(err)
	}
	fx := loadFixture(t)
	even, odd := fx.halves()
	configs := ttqConfigs()
	for _, name := range names {
		s, ok := configs[name]
		if !ok {
			t.Fatalf("unknown configuration %q", name)
		}
		s.BudgetSeconds, s.Epochs = budget, 0
		next := 0.0
		var curve []string
		var first08 float64 = -1
		opts := Options{Eval: odd, probe: func(elapsed float64, iter int, m *Model) {
			if elapsed < next {
				return
			}
			next = elapsed + 10
			ms, err := Evaluate(m, odd)
			if err != nil {
				t.Fatal(err)
			}
			gm := ms[1].Dice
			if gm >= 0.8 && first08 < 0 {
				first08 = elapsed
			}
			curve = append(curve, fmt.Sprintf("%.0fs/%dit:%.3f", elapsed, iter, gm))
		}}
		var iters int
		var spi float64
		opts.OnEvent = func(e Event) { iters, spi = e.Iteration, e.SecondsPerIteration }
		res, err := Train(context.Background(), even, s, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: crop %dx%d batch %d lr %g %s loss %s placement %s; %d iterations, %.2f s/iter", name, s.CropW, s.CropH,
			s.BatchSize, s.LearningRate, s.Schedule, s.Loss, s.Placement, iters, spi)
		t.Logf("%s: GM Dice (held-back slices, whole) vs seconds/iterations: %s", name, strings.Join(curve, " "))
		t.Logf("%s: first GM Dice >= 0.8 at %.0f s; best-by-validation model after %.0f s: WM Dice %.3f, GM Dice %.3f (GM Hausdorff %.2f mm)",
			name, first08, res.Elapsed, res.Metrics[0].Dice, res.Metrics[1].Dice, res.Metrics[1].HausdorffMM)
		tiled, err := EvaluateWith(res.Best, odd, PredictOptions{Tiled: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: same model tiled (%dx%d tiles): WM Dice %.3f, GM Dice %.3f (GM Hausdorff %.2f mm)",
			name, s.CropW, s.CropH, tiled[0].Dice, tiled[1].Dice, tiled[1].HausdorffMM)
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
