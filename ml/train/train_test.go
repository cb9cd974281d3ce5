package train

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mriworkbench/workbench/ml/data"
)

func TestSettingsPresetsValidateAndSerialise(t *testing.T) {
	for name, s := range map[string]Settings{"default": DefaultSettings(2), "paper": PaperSettings(2), "one class": DefaultSettings(1)} {
		if err := s.Validate(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var back Settings
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, s) {
			t.Fatalf("%s: JSON round trip changed the settings:\n%s", name, b)
		}
	}
	p := PaperSettings(2)
	if p.CropW != 160 || p.BatchSize != 11 || p.LearningRate != 0.001 || p.Loss != LossPaperDice || p.Schedule != ScheduleConstant ||
		p.Augment != data.DefaultAugment() || p.DropRate != 0.3 {
		t.Fatalf("paper preset drifted from PIPELINE.md: %+v", p)
	}
	bad := []struct {
		change func(*Settings)
		want   string
	}{
		{func(s *Settings) { s.Arch = "nope" }, "architecture"},
		{func(s *Settings) { s.Classes = 0 }, "classes"},
		{func(s *Settings) { s.ClassNames = []string{"a"} }, "class names"},
		{func(s *Settings) { s.Epochs, s.BudgetSeconds = 0, 0 }, "epochs, a time budget"},
		{func(s *Settings) { s.BatchSize = 0 }, "batch size"},
		{func(s *Settings) { s.LearningRate = -1 }, "learning rate"},
		{func(s *Settings) { s.Schedule = "step" }, "schedule"},
		{func(s *Settings) { s.CropW = 60 }, "multiples of 8"},
		{func(s *Settings) { s.Placement = "left" }, "placement"},
		{func(s *Settings) { s.RandomShare = 1 }, "random crop share"},
		{func(s *Settings) { s.Augment.FlipProb = 2 }, "flip"},
		{func(s *Settings) { s.Loss = "l2" }, "loss"},
		{func(s *Settings) { s.Norm = "minmax" }, "normalisation"},
		{func(s *Settings) { s.DropRate = 1 }, "dropout"},
		{func(s *Settings) { s.ValEvery = -1 }, "validation interval"},
		{func(s *Settings) { s.Sampling = "weighted" }, "sampling"},
		{func(s *Settings) { s.EmptyShare = 1 }, "empty-slice share"},
		{func(s *Settings) { s.CrossValidate = -1 }, "cross-validation"},
		{func(s *Settings) { s.FoldTraining = 1.5 }, "fold models' training share"},
	}
	for _, c := range bad {
		s := DefaultSettings(2)
		c.change(&s)
		if err := s.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want an error about %q, got %v", c.want, err)
		}
	}
}

func TestLearningRateSchedule(t *testing.T) {
	s := DefaultSettings(2)
	s.LearningRate, s.MinLRFraction = 0.01, 0.1
	if got := s.learningRate(0); math.Abs(got-0.01) > 1e-12 {
		t.Fatalf("start %v", got)
	}
	if got := s.learningRate(0.5); math.Abs(got-0.0055) > 1e-12 {
		t.Fatalf("middle %v", got)
	}
	if got := s.learningRate(1); math.Abs(got-0.001) > 1e-12 {
		t.Fatalf("end %v", got)
	}
	s.Schedule = ScheduleConstant
	if got := s.learningRate(0.7); got != 0.01 {
		t.Fatalf("constant %v", got)
	}
}

func TestTrainEventsInOrder(t *testing.T) {
	samples := discSamples(12, 40, 40) // split 8/2/2
	s := quickSettings()
	var events []Event
	res, err := Train(context.Background(), samples, s, Options{OnEvent: func(e Event) { events = append(events, e) }})
	if err != nil {
		t.Fatal(err)
	}
	// 8 training slices, batches of 4 (3 foreground + 1 random crop): 3 steps per epoch, 3 epochs.
	if len(res.TrainKeys) != 8 || len(res.ValKeys) != 2 || len(res.EvalKeys) != 2 {
		t.Fatalf("split %d/%d/%d, want 8/2/2", len(res.TrainKeys), len(res.ValKeys), len(res.EvalKeys))
	}
	if res.Iterations != 9 || res.Epochs != 3 || res.Stopped != StopEpochs {
		t.Fatalf("%d iterations, %d epochs, stopped by %q; want 9, 3, epochs", res.Iterations, res.Epochs, res.Stopped)
	}
	iter, epochs, lastElapsed := 0, 0, 0.0
	for i, e := range events {
		if e.Elapsed < lastElapsed {
			t.Fatalf("event %d: elapsed went back", i)
		}
		lastElapsed = e.Elapsed
		if math.IsNaN(e.TrainLoss) || e.TrainLoss > 2 || e.LearningRate <= 0 || e.LearningRate > s.LearningRate || e.SecondsPerIteration <= 0 {
			t.Fatalf("event %d: %+v", i, e)
		}
		switch e.Kind {
		case EventIteration:
			iter++
			if e.Iteration != iter || e.Epoch != (iter-1)/3+1 {
				t.Fatalf("event %d: iteration %d epoch %d, want %d and %d", i, e.Iteration, e.Epoch, iter, (iter-1)/3+1)
			}
			if want := float64(9-iter) * e.SecondsPerIteration; e.ETA < want*0.99 {
				t.Fatalf("event %d: ETA %v below the steps left (%v)", i, e.ETA, want)
			}
		case EventEpoch:
			epochs++
			if e.Iteration != 3*epochs || iter != 3*epochs || len(e.ValDice) != 2 || e.ValLoss == 0 {
				t.Fatalf("event %d: epoch event %+v after %d iterations", i, e, iter)
			}
			for _, d := range e.ValDice {
				if d < 0 || d > 1 {
					t.Fatalf("Dice %v", d)
				}
			}
		default:
			t.Fatalf("event kind %q", e.Kind)
		}
	}
	if iter != 9 || epochs != 3 || events[len(events)-1].ETA != 0 {
		t.Fatalf("%d iteration and %d epoch events, last ETA %v", iter, epochs, events[len(events)-1].ETA)
	}
	if len(res.Metrics) != 2 || res.Metrics[0].Slices != 2 || !reflect.DeepEqual(res.Best.Info.Metrics, res.Metrics) {
		t.Fatalf("metrics %+v", res.Metrics)
	}
	if res.BestIteration%3 != 0 || res.BestIteration == 0 || res.Best == res.Final || res.Best.Info.Iterations != res.BestIteration {
		t.Fatalf("best at iteration %d (model iterations %d)", res.BestIteration, res.Best.Info.Iterations)
	}
}

func TestTrainValidatesEveryNIterations(t *testing.T) {
	s := quickSettings()
	s.Epochs, s.ValEvery = 2, 2
	var at []int
	_, err := Train(context.Background(), discSamples(12, 40, 40), s, Options{OnEvent: func(e Event) {
		if e.Kind == EventEpoch {
			at = append(at, e.Iteration)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(at, []int{2, 4, 6}) {
		t.Fatalf("validated after iterations %v, want 2, 4, 6", at)
	}
}

func TestTrainBudgetAndCallerEvalSet(t *testing.T) {
	samples := discSamples(6, 40, 40)
	eval := discSamples(9, 48, 40)[6:]
	s := quickSettings()
	s.Epochs, s.BudgetSeconds = 0, 1.5
	start := time.Now()
	res, err := Train(context.Background(), samples, s, Options{Eval: eval})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stopped != StopBudget || time.Since(start) > 20*time.Second {
		t.Fatalf("stopped by %q after %v", res.Stopped, time.Since(start))
	}
	if len(res.EvalKeys) != 3 || len(res.TrainKeys)+len(res.ValKeys) != 6 || res.Metrics[0].Slices != 3 {
		t.Fatalf("split %v / %v / %v", res.TrainKeys, res.ValKeys, res.EvalKeys)
	}
}

func TestTrainCancelReturnsPromptlyWithModels(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := quickSettings()
	s.Epochs, s.BudgetSeconds = 0, 600
	var cancelledAt time.Time
	res, err := Train(ctx, discSamples(12, 40, 40), s, Options{OnEvent: func(e Event) {
		if e.Kind == EventEpoch && e.Epoch == 2 {
			cancel()
			cancelledAt = time.Now()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if d := time.Since(cancelledAt); d > 2*time.Second {
		t.Fatalf("returned %v after cancellation", d)
	}
	if res == nil || res.Best == nil || res.Final == nil || res.Stopped != StopCancelled || res.Iterations != 6 || res.Metrics != nil {
		t.Fatalf("result %+v", res)
	}
	if _, _, _, err := res.Best.PredictSlice(make([]float32, 30*20), 30, 20); err != nil {
		t.Fatal(err)
	}
}

func TestTrainWarmStartContinuesFromWeights(t *testing.T) {
	samples := discSamples(12, 40, 40)
	first, err := Train(context.Background(), samples, quickSettings(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	// With a vanishing learning rate the warm run's weights must stay the given model's, not a fresh draw.
	s := quickSettings()
	s.Epochs, s.LearningRate, s.Schedule = 1, 1e-20, ScheduleConstant
	s.Seed = 7
	warm, err := Train(context.Background(), samples, s, Options{Warm: first.Final})
	if err != nil {
		t.Fatal(err)
	}
	cold, err := Train(context.Background(), samples, s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want, gotWarm, gotCold := first.Final.net.Params(), warm.Final.net.Params(), cold.Final.net.Params()
	var warmDiff, coldDiff float64
	for i := range want {
		for j := range want[i].Data {
			warmDiff = math.Max(warmDiff, math.Abs(float64(want[i].Data[j]-gotWarm[i].Data[j])))
			coldDiff = math.Max(coldDiff, math.Abs(float64(want[i].Data[j]-gotCold[i].Data[j])))
		}
	}
	if warmDiff > 1e-6 || coldDiff < 1e-3 {
		t.Fatalf("largest weight change: warm start %g (want ~0), cold start %g (want large)", warmDiff, coldDiff)
	}
	if warm.Final.Info.Iterations != first.Final.Info.Iterations+warm.Iterations {
		t.Fatalf("warm model counts %d iterations, want %d+%d", warm.Final.Info.Iterations, first.Final.Info.Iterations, warm.Iterations)
	}
	other := quickSettings()
	other.Classes = 3
	if _, err := Train(context.Background(), samples, other, Options{Warm: first.Final}); err == nil || !strings.Contains(err.Error(), "warm start") {
		t.Fatalf("warm start from a 2-class model into 3 classes: %v", err)
	}
}

func TestTrainRejectsBadInput(t *testing.T) {
	s := quickSettings()
	unlabelled := discSamples(3, 16, 16)
	for i := range unlabelled {
		unlabelled[i].Mask = nil
	}
	if _, err := Train(context.Background(), unlabelled, s, Options{}); err == nil || !strings.Contains(err.Error(), "no labelled") {
		t.Fatalf("unlabelled: %v", err)
	}
	s.Classes = 1
	if _, err := Train(context.Background(), discSamples(3, 16, 16), s, Options{}); err == nil || !strings.Contains(err.Error(), "has class 2") {
		t.Fatalf("class beyond K: %v", err)
	}
	s = quickSettings()
	s.BatchSize = 0
	if _, err := Train(context.Background(), discSamples(3, 16, 16), s, Options{}); err == nil {
		t.Fatal("invalid settings accepted")
	}
}
