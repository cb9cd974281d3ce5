package job

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/mriworkbench/workbench/internal/ingest"
	"github.com/mriworkbench/workbench/ml/data"
	"github.com/mriworkbench/workbench/ml/train"
	"github.com/mriworkbench/workbench/nifti"
	"github.com/mriworkbench/workbench/store"
)

// predictBatch is the slices per PredictSlices call: enough to batch forward passes, few enough to keep the
// probability maps of one call small whatever the volume's size, and to report progress between batches.
const predictBatch = 16

// ErrNoModel is returned by PredictActive for a project that has no trained model yet.
var ErrNoModel = errors.New("the project has no trained model yet")

// PredictActive has the project's active model predict every unlabelled slice again (the project's labels may
// have changed since it was trained), replacing the model's stored predictions volume by volume. It returns the
// model and the slices predicted.
func PredictActive(ctx context.Context, st *store.Store, projectID int64) (store.ModelVersion, int, error) {
	active, err := st.ActiveModel(ctx, projectID)
	if errors.Is(err, store.ErrNotFound) {
		return store.ModelVersion{}, 0, ErrNoModel
	}
	if err != nil {
		return store.ModelVersion{}, 0, err
	}
	m, err := train.Load(st.ModelPath(active))
	if err != nil {
		return active, 0, err
	}
	volume := func(ctx context.Context, id int64) (*nifti.Volume, error) { return ingest.LoadCanonical(ctx, st, id) }
	n, err := predictProject(ctx, st, volume, projectID, m, active.ID)
	return active, n, err
}

// predictProject predicts every unlabelled slice of every volume of the project with the model and stores the
// predictions (with their uncertainty) under modelID, one transaction per volume; it returns the slices
// predicted.
func predictProject(ctx context.Context, st *store.Store, volume func(context.Context, int64) (*nifti.Volume, error),
	projectID int64, m *train.Model, modelID int64) (int, error) {
	total := 0
	err := forUnlabelledSlices(ctx, st, volume, projectID, func(v store.VolumeMeta, vol *nifti.Volume, slices []int) error {
		preds := make([]store.Prediction, 0, len(slices))
		err := predictSlices(ctx, m, vol, v.ID, slices, func(zs []int, ps []train.Prediction) {
			for i, p := range ps {
				preds = append(preds, store.Prediction{VolumeID: v.ID, Slice: zs[i], Mask: p.ClassMap, Uncertainty: p.Uncertainty})
			}
		})
		if err == nil {
			err = st.SavePredictions(ctx, modelID, preds)
		}
		if err != nil {
			return fmt.Errorf("volume %q: %w", v.Name, err)
		}
		total += len(preds)
		return nil
	})
	return total, err
}

// forUnlabelledSlices calls each with every volume of the project, its canonical voxels and its slices that
// have no current label, as the store has them now.
func forUnlabelledSlices(ctx context.Context, st *store.Store, volume func(context.Context, int64) (*nifti.Volume, error),
	projectID int64, each func(v store.VolumeMeta, vol *nifti.Volume, slices []int) error) error {
	volumes, err := st.Volumes(ctx, projectID)
	if err != nil {
		return err
	}
	for _, v := range volumes {
		states, err := st.SliceStates(ctx, v.ID)
		if err != nil {
			return err
		}
		labelled := make(map[int]bool, len(states))
		for _, state := range states {
			labelled[state.Slice] = state.Labelled()
		}
		vol, err := volume(ctx, v.ID)
		if err != nil {
			return fmt.Errorf("volume %q: %w", v.Name, err)
		}
		var slices []int
		for z := range vol.NumSlices() {
			if !labelled[z] {
				slices = append(slices, z)
			}
		}
		if err := each(v.VolumeMeta, vol, slices); err != nil {
			return err
		}
	}
	return nil
}

// predictSlices predicts the given axial slices of vol a batch at a time, handing each batch's slices and
// predictions to each.
func predictSlices(ctx context.Context, m *train.Model, vol *nifti.Volume, volumeID int64, slices []int,
	each func(slices []int, preds []train.Prediction)) error {
	batch := make([]data.Sample, 0, predictBatch)
	for first := 0; first < len(slices); first += predictBatch {
		if err := ctx.Err(); err != nil {
			return err
		}
		zs := slices[first:min(first+predictBatch, len(slices))]
		batch = batch[:0]
		for _, z := range zs {
			batch = append(batch, sliceSample(vol, volumeID, z, nil))
		}
		preds, err := m.PredictSlices(batch, train.PredictOptions{})
		if err != nil {
			return err
		}
		each(zs, preds)
	}
	return nil
}

// Segmenter is a model file loaded to segment images outside any project (workbench segment).
type Segmenter struct{ m *train.Model }

// LoadSegmenter reads a model file (from the app's model download, or a data directory's models/).
func LoadSegmenter(path string) (*Segmenter, error) {
	m, err := train.Load(path)
	if err != nil {
		return nil, err
	}
	return &Segmenter{m: m}, nil
}

// Arch is the model's network architecture.
func (m *Segmenter) Arch() string { return m.m.Info.Arch }

// ClassNames are the names of the model's classes 1..K.
func (m *Segmenter) ClassNames() []string {
	names := make([]string, m.m.Info.Classes)
	for i := range names {
		names[i] = m.m.Info.ClassName(i + 1)
	}
	return names
}

// SpacingWarning says why results may be poor when an image's in-plane pixels differ from the training
// slices' by more than a quarter (slices are not resampled); it is empty otherwise.
func (m *Segmenter) SpacingWarning(vol *nifti.Volume) string {
	ms, vs := m.m.Info.Spacing, vol.Spacing
	if math.Abs(ms[0]/vs[0]-1) <= 0.25 && math.Abs(ms[1]/vs[1]-1) <= 0.25 {
		return ""
	}
	return fmt.Sprintf("the image's pixels are %.3gx%.3g mm, the model was trained on %.3gx%.3g mm; "+
		"slices are not resampled, so expect worse results", vs[0], vs[1], ms[0], ms[1])
}

// Segment predicts every axial slice of a canonical volume and returns its class map (canonical order),
// calling progress after each batch of slices with the slices done so far.
func (m *Segmenter) Segment(ctx context.Context, vol *nifti.Volume, progress func(done, total int)) ([]uint8, error) {
	n, total := vol.SliceLen(), vol.NumSlices()
	all := make([]int, total)
	for z := range all {
		all[z] = z
	}
	classMap := make([]uint8, n*total)
	done := 0
	err := predictSlices(ctx, m.m, vol, 0, all, func(zs []int, preds []train.Prediction) {
		for i, p := range preds {
			copy(classMap[zs[i]*n:], p.ClassMap)
		}
		done += len(preds)
		if progress != nil {
			progress(done, total)
		}
	})
	if err != nil {
		return nil, err
	}
	return classMap, nil
}
