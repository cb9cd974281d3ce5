package job

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/mriworkbench/workbench/ml"
	"github.com/mriworkbench/workbench/ml/train"
	"github.com/mriworkbench/workbench/store"
)

// Setting presets: the base that project settings and request overrides change.
const (
	PresetDefault = "default" // train.DefaultSettings: a useful first model within a minute or two on a CPU
	PresetPaper   = "paper"   // train.PaperSettings: the published pipeline's values
)

// Request asks for a training run.
type Request struct {
	// Preset picks the base settings (PresetDefault or PresetPaper); empty: the project's "preset" setting, else
	// PresetDefault.
	Preset string `json:"preset,omitempty"`
	// Settings override the project's settings for this run only, field by field (train.Settings JSON names,
	// e.g. {"epochs": 20, "budget_seconds": 0}).
	Settings json.RawMessage `json:"settings,omitempty"`
	// FromScratch trains fresh weights instead of warm-starting from the project's active model.
	FromScratch bool `json:"fromScratch,omitempty"`
	// Promote makes the run's model active whatever its comparison with the active model says.
	Promote bool `json:"promote,omitempty"`
	// InitModel is a model file (another project's or site's download) to fine-tune from instead of the
	// project's active model; it must have the project's classes and the run's architecture. InitModelName is
	// its file name, for the run's record.
	InitModel     []byte `json:"-"`
	InitModelName string `json:"-"`
	// SkipEvaluation leaves a model trained on every labelled slice (fewer than the settings' cross_validate)
	// without its k-fold evaluation, which would otherwise follow the run (e.g. a benchmark that scores the
	// model itself).
	SkipEvaluation bool `json:"skipEvaluation,omitempty"`
}

// InitModel is what a run records of the model file it started from.
type InitModel struct {
	Name       string   `json:"name"`
	SHA256     string   `json:"sha256"`
	Arch       string   `json:"arch"`
	Width      int      `json:"width,omitempty"`
	ClassNames []string `json:"classNames"`
	Iterations int      `json:"iterations"` // the training iterations behind its weights
}

// RunSettings is what a run records as its settings: the resolved training settings and how the run starts.
type RunSettings struct {
	Preset           string         `json:"preset"`
	FromScratch      bool           `json:"fromScratch"`
	WarmStartModelID *int64         `json:"warmStartModelId,omitempty"`
	Promote          bool           `json:"promote,omitempty"`   // promoted whatever the comparison
	InitModel        *InitModel     `json:"initModel,omitempty"` // the model file it fine-tunes, if any
	Train            train.Settings `json:"train"`
}

// Settings is what a run would use now and what a settings form can start from.
type Settings struct {
	Settings      RunSettings               `json:"settings"` // the project's settings resolved, as a run would get them
	Presets       map[string]train.Settings `json:"presets"`
	Architectures []string                  `json:"architectures"`
	// Memory is the estimated peak memory of a run with these settings, the budget it must fit, and the
	// estimate's model for other batch sizes, crops and architectures (set by Trainer.Settings).
	Memory *MemoryEstimate `json:"memory,omitempty"`
}

// Settings resolves the project's settings as ProjectSettings does, with the memory estimate of a run of them
// against this trainer's budget.
func (t *Trainer) Settings(ctx context.Context, projectID int64) (Settings, error) {
	p, err := t.cfg.Store.Project(ctx, projectID)
	if err != nil {
		return Settings{}, err
	}
	s, err := ProjectSettings(p)
	if err != nil {
		return Settings{}, err
	}
	est, err := t.estimateMemory(ctx, s.Settings.Train, projectID)
	if err != nil {
		return Settings{}, err
	}
	s.Memory = &est
	return s, nil
}

// ProjectSettings resolves the project's settings as a run would get them, with the presets and architectures.
func ProjectSettings(p store.Project) (Settings, error) {
	resolved, err := ResolveSettings(p, Request{})
	if err != nil {
		return Settings{}, err
	}
	k := len(p.Classes)
	return Settings{
		Settings:      resolved,
		Presets:       map[string]train.Settings{PresetDefault: train.DefaultSettings(k), PresetPaper: train.PaperSettings(k)},
		Architectures: ml.Archs(),
	}, nil
}

// ResolveSettings layers a run's settings: the preset's values, then the project's crop, then the project's
// settings (train.Settings JSON names, plus "preset"), then the request's overrides; the class count and names
// always come from the project. Invalid settings are a *store.ValidationError naming the setting.
func ResolveSettings(p store.Project, req Request) (RunSettings, error) {
	var projectSettings map[string]json.RawMessage
	if len(p.Settings) > 0 {
		if err := json.Unmarshal(p.Settings, &projectSettings); err != nil {
			return RunSettings{}, invalidSettings("project settings: %v", err)
		}
	}
	preset := req.Preset
	if raw, ok := projectSettings["preset"]; ok && preset == "" {
		if err := json.Unmarshal(raw, &preset); err != nil {
			return RunSettings{}, invalidSettings("project setting preset must be a string")
		}
	}
	delete(projectSettings, "preset")
	if preset == "" {
		preset = PresetDefault
	}
	k := len(p.Classes)
	var s train.Settings
	switch preset {
	case PresetDefault:
		s = train.DefaultSettings(k)
	case PresetPaper:
		s = train.PaperSettings(k)
	default:
		return RunSettings{}, invalidSettings("unknown preset %q (want %q or %q)", preset, PresetDefault, PresetPaper)
	}
	// The crop is the project's (store.Project.CropW/CropH); project or request settings may override it.
	if p.CropW > 0 && p.CropH > 0 {
		s.CropW, s.CropH = p.CropW, p.CropH
	}
	// Project settings may hold keys of other owners (e.g. the web app's); only known fields are taken.
	if len(projectSettings) > 0 {
		raw, _ := json.Marshal(projectSettings)
		if err := json.Unmarshal(raw, &s); err != nil {
			return RunSettings{}, invalidSettings("project settings: %v", err)
		}
	}
	if len(req.Settings) > 0 && string(req.Settings) != "null" {
		dec := json.NewDecoder(bytes.NewReader(req.Settings))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&s); err != nil {
			return RunSettings{}, invalidSettings("settings: %v", err)
		}
	}
	s.Classes = k
	s.ClassNames = p.ClassNames()
	if err := s.Validate(); err != nil {
		return RunSettings{}, invalidSettings("%v", err)
	}
	return RunSettings{Preset: preset, FromScratch: req.FromScratch, Promote: req.Promote, Train: s}, nil
}

func invalidSettings(format string, args ...any) error {
	return &store.ValidationError{Msg: store.OneLine(strings.TrimPrefix(fmt.Sprintf(format, args...), "json: "))}
}

// plan is a job resolved before its run is created.
type plan struct {
	ctx      context.Context // the job's: cancelled by Cancel, by Close, or by the caller of Train
	parent   context.Context // what bounds the job: the trainer's, or the caller's of Train; and so its evaluation
	project  store.Project
	settings RunSettings
	warm     *store.ModelVersion
	init     []byte // the model file to start from (Request.InitModel), checked
	// skipEvaluation: Request.SkipEvaluation.
	skipEvaluation bool
}

// planRun resolves a run's settings and the model it warm-starts from: the project's active model, unless the
// request asks for fresh weights or that model cannot seed this architecture and class count.
func planRun(ctx context.Context, st *store.Store, project store.Project, req Request) (plan, error) {
	settings, err := ResolveSettings(project, req)
	if err != nil {
		return plan{}, err
	}
	p := plan{project: project, settings: settings, skipEvaluation: req.SkipEvaluation}
	if req.InitModel != nil {
		if req.FromScratch {
			return plan{}, invalidSettings("a run starts from a model file or from scratch, not both")
		}
		info, err := checkInitModel(req.InitModel, settings.Train)
		if err != nil {
			return plan{}, err
		}
		info.Name = store.OneLine(req.InitModelName)
		p.init, p.settings.InitModel = req.InitModel, &info
		return p, nil
	}
	if req.FromScratch {
		return p, nil
	}
	m, err := st.ActiveModel(ctx, project.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return plan{}, err
	case m.Arch == settings.Train.Arch && modelClasses(m) == settings.Train.Classes:
		p.warm = &m
		p.settings.WarmStartModelID = &m.ID
	default:
		// The active model cannot seed this architecture or class count: train from scratch, and say so.
		p.settings.FromScratch = true
	}
	return p, nil
}

// checkInitModel reads a model file to start a run from and checks that it fits the run: the project's class
// count and names (in order), and the run's architecture with the same layers (width); otherwise a one-line
// *store.ValidationError says what differs.
func checkInitModel(file []byte, s train.Settings) (InitModel, error) {
	m, err := train.ReadModel(bytes.NewReader(file))
	if err != nil {
		return InitModel{}, invalidSettings("the initial model is not a workbench model file: %v", err)
	}
	info := m.Info
	names := make([]string, info.Classes)
	for i := range names {
		names[i] = info.ClassName(i + 1)
	}
	if info.Classes != s.Classes {
		return InitModel{}, invalidSettings("the initial model has %d classes (%s), the project %d (%s)",
			info.Classes, strings.Join(names, ", "), s.Classes, strings.Join(s.ClassNames, ", "))
	}
	for i, n := range s.ClassNames {
		if len(info.ClassNames) == info.Classes && !strings.EqualFold(info.ClassNames[i], n) {
			return InitModel{}, invalidSettings("the initial model's classes are %s, the project's %s (same names, same order)",
				strings.Join(names, ", "), strings.Join(s.ClassNames, ", "))
		}
	}
	if info.Arch != s.Arch {
		return InitModel{}, invalidSettings("the initial model is a %s network and this run trains %s: set arch to %s", info.Arch, s.Arch, info.Arch)
	}
	fresh, err := train.NewModel(s)
	if err != nil {
		return InitModel{}, invalidSettings("%v", err)
	}
	want := append(append([]*ml.Param(nil), fresh.Net().Params()...), fresh.Net().Buffers()...)
	have := map[string][]int{}
	for _, t := range append(append([]*ml.Param(nil), m.Net().Params()...), m.Net().Buffers()...) {
		have[t.Name] = t.Shape
	}
	for _, t := range want {
		if got, ok := have[t.Name]; !ok || !slices.Equal(got, t.Shape) {
			return InitModel{}, invalidSettings("the initial model's layers do not match a %s of width %d (tensor %s is %v, want %v): set width to %d",
				s.Arch, s.Width, t.Name, got, t.Shape, info.Settings.Width)
		}
	}
	sum := sha256.Sum256(file)
	return InitModel{SHA256: hex.EncodeToString(sum[:]), Arch: info.Arch, Width: info.Settings.Width, ClassNames: names,
		Iterations: info.Iterations}, nil
}

// modelClasses reads the class count from a stored model's settings (RunSettings.Train).
func modelClasses(m store.ModelVersion) int {
	var s train.Settings
	if json.Unmarshal(m.Settings, &s) != nil {
		return 0
	}
	return s.Classes
}
