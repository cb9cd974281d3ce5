package train

import (
	"fmt"
	"sync"
	"time"

	"github.com/mriworkbench/workbench/ml"
	"github.com/mriworkbench/workbench/ml/data"
	"github.com/mriworkbench/workbench/ml/metrics"
)

// Normalization is how a model's input intensities are normalised, as stored in its file: Mode is NormPerSlice,
// NormPercentile or NormTrainingSet, and Mean and Std are the training set's statistics for the latter.
type Normalization struct {
	Mode string  `json:"mode"`
	Mean float64 `json:"mean,omitempty"`
	Std  float64 `json:"std,omitempty"`
}

func (n Normalization) data() (data.Normalization, error) {
	switch n.Mode {
	case NormPerSlice:
		return data.Normalization{Mode: data.NormPerSlice}, nil
	case NormPercentile:
		return data.Normalization{Mode: data.NormPercentile}, nil
	case NormTrainingSet:
		return data.Normalization{Mode: data.NormFixed, Mean: n.Mean, Std: n.Std}, nil
	}
	return data.Normalization{}, fmt.Errorf("unknown normalisation %q", n.Mode)
}

// Info describes a model: everything a model file's header holds besides the tensors.
type Info struct {
	Arch       string        `json:"arch"`
	Classes    int           `json:"classes"`
	ClassNames []string      `json:"class_names,omitempty"`
	CropW      int           `json:"crop_w"` // training crop; tiled inference uses it as the tile size
	CropH      int           `json:"crop_h"`
	Spacing    [2]float64    `json:"spacing_mm"` // in-plane pixel size of the training slices (the first one's)
	Norm       Normalization `json:"normalization"`
	Settings   Settings      `json:"settings"`
	// Metrics of this model on the evaluation split, per class 1..K (empty when not evaluated).
	Metrics      []metrics.ClassMetrics `json:"metrics,omitempty"`
	Iterations   int                    `json:"iterations"` // training iterations behind these weights, warm starts included
	TrainSeconds float64                `json:"train_seconds"`
	Created      time.Time              `json:"created"`
}

// Model is a trained (or training) network with its description. Inference methods are safe for concurrent
// use; they take turns on the network.
type Model struct {
	Info Info

	mu  sync.Mutex
	net *ml.Model
}

// NewModel builds an untrained model for the settings (weights initialised from s.Seed).
func NewModel(s Settings) (*Model, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	loss, err := ml.ParseLoss(s.Loss)
	if err != nil {
		return nil, err
	}
	net, err := ml.NewModel(s.Arch, s.archConfig(), loss)
	if err != nil {
		return nil, err
	}
	// Deeper architectures pool more often: UNet needs crops in multiples of 16, SegNet of 32.
	if k := net.Net.SizeMultiple(); s.CropW%k != 0 || s.CropH%k != 0 {
		return nil, fmt.Errorf("settings: crop %dx%d: %s needs sides in multiples of %d", s.CropW, s.CropH, s.Arch, k)
	}
	net.SetLearningRate(float32(s.LearningRate))
	return &Model{
		Info: Info{
			Arch: s.Arch, Classes: s.Classes, ClassNames: s.ClassNames,
			CropW: s.CropW, CropH: s.CropH, Spacing: [2]float64{1, 1},
			Norm: Normalization{Mode: s.Norm}, Settings: s, Created: time.Now().UTC(),
		},
		net: net,
	}, nil
}

// Net is the engine model underneath, for callers that need its lower-level API. It is shared, not copied.
func (m *Model) Net() *ml.Model { return m.net }

// tensors lists the parameters then the buffers, the order model files store them in.
func (m *Model) tensors() []*ml.Param {
	return append(append([]*ml.Param(nil), m.net.Params()...), m.net.Buffers()...)
}

// snapshot copies every tensor's values.
func (m *Model) snapshot() [][]float32 {
	ts := m.tensors()
	out := make([][]float32, len(ts))
	for i, t := range ts {
		out[i] = append([]float32(nil), t.Data...)
	}
	return out
}

// restore copies values taken by snapshot (of a model of the same architecture) into the tensors.
func (m *Model) restore(values [][]float32) {
	for i, t := range m.tensors() {
		copy(t.Data, values[i])
	}
}

// copyWeightsFrom copies src's parameters and buffers, matched by name and shape.
func (m *Model) copyWeightsFrom(src *Model) error {
	if src.Info.Arch != m.Info.Arch || src.Info.Classes != m.Info.Classes {
		return fmt.Errorf("model is %s with %d classes, want %s with %d", src.Info.Arch, src.Info.Classes, m.Info.Arch, m.Info.Classes)
	}
	src.mu.Lock()
	defer src.mu.Unlock()
	from := map[string]*ml.Param{}
	for _, t := range src.tensors() {
		from[t.Name] = t
	}
	for _, t := range m.tensors() {
		f, ok := from[t.Name]
		if !ok || !equalShape(f.Shape, t.Shape) {
			return fmt.Errorf("model has no tensor %q of shape %v", t.Name, t.Shape)
		}
		copy(t.Data, f.Data)
	}
	return nil
}

func equalShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// ClassName is the name of class c (1..K), or "class c" when the model has no names.
func (i Info) ClassName(c int) string {
	if c >= 1 && c <= len(i.ClassNames) {
		return i.ClassNames[c-1]
	}
	return fmt.Sprintf("class %d", c)
}
