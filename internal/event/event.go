// Package event is the catalogue of a project's events: what the server sends over
// /api/projects/{id}/events, what a training run stores as its history, and what the CLI prints progress
// from. Each event is one Go type whose JSON is one object with a "type" field; web/src/serverevents.ts
// mirrors the catalogue as a TypeScript union (a test checks both list the same types).
package event

import (
	"encoding/json"
	"time"

	"github.com/mriworkbench/workbench/store"
)

// Event is one message of a project's event stream.
type Event interface {
	// Type is the event's "type" field.
	Type() string
}

// The type strings, one per event.
const (
	TypeLabel          = "label"
	TypeVolume         = "volume"
	TypeVolumeDeleted  = "volumeDeleted"
	TypeProjectDeleted = "projectDeleted"
	TypeRun            = "run"
	TypeIteration      = "iteration"
	TypeEpoch          = "epoch"
	TypePredictions    = "predictions"
	TypeActiveModel    = "activeModel"
	TypeEvaluation     = "evaluation"
)

// Types lists every event type, in catalogue order.
var Types = []string{TypeLabel, TypeVolume, TypeVolumeDeleted, TypeProjectDeleted, TypeRun, TypeIteration,
	TypeEpoch, TypePredictions, TypeActiveModel, TypeEvaluation}

// Label announces a new label version of a slice: a save, a deletion (Deleted) or a verification change.
type Label struct {
	VolumeID int64  `json:"volumeId"`
	Slice    int    `json:"slice"`
	Version  int    `json:"version"`
	Author   string `json:"author"`
	Origin   string `json:"origin"`
	Verified bool   `json:"verified"`
	Deleted  bool   `json:"deleted"`
}

// Volume announces a newly imported volume.
type Volume struct {
	Volume VolumeSummary `json:"volume"`
}

// VolumeSummary is a volume as listed and announced: enough to show it and its progress, without its
// geometry details.
type VolumeSummary struct {
	ID           int64             `json:"id"`
	ProjectID    int64             `json:"projectId"`
	Name         string            `json:"name"`
	OriginalName string            `json:"originalName"`
	Shape        [3]int            `json:"shape"`
	Spacing      [3]float64        `json:"spacing"`
	Counts       store.SliceCounts `json:"counts"`
	CreatedAt    time.Time         `json:"createdAt"`
}

// SummaryOf is a stored volume's summary with its slice counts.
func SummaryOf(v store.VolumeMeta, counts store.SliceCounts) VolumeSummary {
	return VolumeSummary{ID: v.ID, ProjectID: v.ProjectID, Name: v.Name, OriginalName: v.OriginalName,
		Shape: v.Shape, Spacing: v.Spacing, Counts: counts, CreatedAt: v.CreatedAt}
}

// VolumeDeleted announces that a volume and its labels are gone, so that other tabs drop it.
type VolumeDeleted struct {
	VolumeID int64 `json:"volumeId"`
}

// ProjectDeleted announces that a project is gone, so that its open pages leave it.
type ProjectDeleted struct {
	ProjectID int64 `json:"projectId"`
}

// Run announces a training run's new state (queued, running, done, failed, cancelled, interrupted).
type Run struct {
	Run store.Run `json:"run"`
}

// Progress is what iteration and epoch events carry.
type Progress struct {
	RunID     int64 `json:"runId"`
	Iteration int   `json:"iteration"`
	Epoch     int   `json:"epoch"`
	// TrainLoss is the step's loss (iteration events) or the mean since the previous validation (epoch events).
	TrainLoss float64 `json:"trainLoss"`
	// Epoch events: validation loss, validation Dice of classes 1..K, and whether this is the best model so far.
	ValLoss             *float64  `json:"valLoss,omitempty"`
	ValDice             []float64 `json:"valDice,omitempty"`
	Best                bool      `json:"best,omitempty"`
	LearningRate        float64   `json:"learningRate"`
	SecondsPerIteration float64   `json:"secondsPerIteration"`
	ETA                 float64   `json:"eta"` // seconds left; -1 unknown
	Elapsed             float64   `json:"elapsed"`
}

// Iteration announces a finished training step.
type Iteration struct{ Progress }

// Epoch announces a finished validation.
type Epoch struct{ Progress }

// Predictions announces that a model's predictions are stored and the model is active, or, with Candidate, kept
// beside the active model until a reviewer promotes it.
type Predictions struct {
	RunID     int64 `json:"runId,omitempty"`
	ModelID   int64 `json:"modelId"`
	Slices    int   `json:"slices"` // slices predicted
	Candidate bool  `json:"candidate,omitempty"`
}

// ActiveModel announces that a user made another model version active.
type ActiveModel struct {
	ModelID int64 `json:"modelId"`
}

// Evaluation announces the progress and the end of a model's cross-validation, which runs after its run has
// delivered the model (few labelled slices: every one trained it, and fold models score it).
type Evaluation struct {
	ModelID int64  `json:"modelId"`
	Status  string `json:"status"` // EvaluationRunning, EvaluationDone or EvaluationStopped
	Method  string `json:"method"` // "k-fold-slices" or "k-fold-volumes"
	Folds   int    `json:"folds"`
	Slices  int    `json:"slices"`
	// Fold is the fold model training now, 1-based (0 before the first step); ETA the seconds left (-1
	// unknown). Running only.
	Fold int     `json:"fold,omitempty"`
	ETA  float64 `json:"eta,omitempty"`
	// Summary is the evaluation in words (done) or why it stopped (stopped).
	Summary string `json:"summary,omitempty"`
}

// Evaluation statuses.
const (
	EvaluationRunning = "running"
	EvaluationDone    = "done"
	EvaluationStopped = "stopped"
)

func (Label) Type() string          { return TypeLabel }
func (Volume) Type() string         { return TypeVolume }
func (VolumeDeleted) Type() string  { return TypeVolumeDeleted }
func (ProjectDeleted) Type() string { return TypeProjectDeleted }
func (Run) Type() string            { return TypeRun }
func (Iteration) Type() string      { return TypeIteration }
func (Epoch) Type() string          { return TypeEpoch }
func (Predictions) Type() string    { return TypePredictions }
func (ActiveModel) Type() string    { return TypeActiveModel }
func (Evaluation) Type() string     { return TypeEvaluation }

// Each MarshalJSON adds the type field; converting to a type without methods keeps it from calling itself.

func (e Label) MarshalJSON() ([]byte, error) {
	type plain Label
	return typed(e, plain(e))
}

func (e Volume) MarshalJSON() ([]byte, error) {
	type plain Volume
	return typed(e, plain(e))
}

func (e VolumeDeleted) MarshalJSON() ([]byte, error) {
	type plain VolumeDeleted
	return typed(e, plain(e))
}

func (e ProjectDeleted) MarshalJSON() ([]byte, error) {
	type plain ProjectDeleted
	return typed(e, plain(e))
}

func (e Run) MarshalJSON() ([]byte, error) {
	type plain Run
	return typed(e, plain(e))
}

func (e Iteration) MarshalJSON() ([]byte, error) { return typed(e, e.Progress) }

func (e Epoch) MarshalJSON() ([]byte, error) { return typed(e, e.Progress) }

func (e Predictions) MarshalJSON() ([]byte, error) {
	type plain Predictions
	return typed(e, plain(e))
}

func (e ActiveModel) MarshalJSON() ([]byte, error) {
	type plain ActiveModel
	return typed(e, plain(e))
}

func (e Evaluation) MarshalJSON() ([]byte, error) {
	type plain Evaluation
	return typed(e, plain(e))
}

// typed is fields' JSON object with e's type as its first member.
func typed(e Event, fields any) ([]byte, error) {
	body, err := json.Marshal(fields)
	if err != nil {
		return nil, err
	}
	kind, _ := json.Marshal(e.Type())
	out := make([]byte, 0, len(body)+len(kind)+9)
	out = append(out, `{"type":`...)
	out = append(out, kind...)
	if len(body) > 2 { // body is an object: "{}" or "{...}"
		out = append(out, ',')
	}
	return append(out, body[1:]...), nil
}
