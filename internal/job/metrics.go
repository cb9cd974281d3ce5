package job

import (
	"math"

	"github.com/mriworkbench/workbench/ml/metrics"
	"github.com/mriworkbench/workbench/ml/train"
)

// ModelMetrics are a model's stored metrics (store.ModelVersion.Metrics): how it was trained and its scores on the
// evaluation split.
type ModelMetrics struct {
	Iterations    int      `json:"iterations"`
	Epochs        int      `json:"epochs"`
	TrainSeconds  float64  `json:"trainSeconds"`
	Stopped       string   `json:"stopped"`
	BestIteration int      `json:"bestIteration"`
	BestValLoss   *float64 `json:"bestValLoss,omitempty"`
	TrainSlices   int      `json:"trainSlices"`
	ValSlices     int      `json:"valSlices"`
	EvalSlices    int      `json:"evalSlices"`
	// Classes are the scores of classes 1..K, named; empty without an evaluation split. Their JSON writes
	// infinite distances and conformity as null.
	Classes []metrics.ClassMetrics `json:"classes"`
	// Evaluation says how Classes were obtained: a held-out split, or a k-fold cross-validation over the
	// labelled slices or volumes whose every slice also trained the model (train.Evaluation), which comes
	// after the model (evaluate.go): until then Classes are empty and TrainSlices counts every labelled slice.
	Evaluation *train.Evaluation `json:"evaluation,omitempty"`
	// EvaluationStopped says why a model trained on every labelled slice has no evaluation (it was stopped
	// or failed), in one line.
	EvaluationStopped string `json:"evaluationStopped,omitempty"`
}

func metricsOf(res *train.Result) ModelMetrics {
	m := ModelMetrics{
		Iterations: res.Iterations, Epochs: res.Epochs, TrainSeconds: res.Elapsed, Stopped: res.Stopped,
		BestIteration: res.BestIteration, BestValLoss: finite(res.BestValLoss),
		TrainSlices: len(res.TrainKeys), ValSlices: len(res.ValKeys), EvalSlices: len(res.EvalKeys),
		Classes: []metrics.ClassMetrics{}, Evaluation: res.Evaluation,
	}
	m.Classes = namedClasses(res.Metrics, res.Best.Info)
	return m
}

// namedClasses are metrics with the model's class names.
func namedClasses(ms []metrics.ClassMetrics, info train.Info) []metrics.ClassMetrics {
	out := []metrics.ClassMetrics{}
	for _, c := range ms {
		c.Name = info.ClassName(c.Class)
		out = append(out, c)
	}
	return out
}

func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}
