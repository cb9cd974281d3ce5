package store

import (
	"slices"
	"testing"
)

// TestEmptyPredictions: a volume on which the model finds nothing (another contrast, say) has its slices
// "empty", not "predicted", in the slice states, the volume counts and the segmentation, and they come after
// every slice where the model found something in the review queue, which spreads over volumes and along z.
func TestEmptyPredictions(t *testing.T) {
	s := newStore(t)
	p := newProject(t, s, "p")
	a := importVolume(t, s, p.ID, "a", SliceMask{Slice: 0, Mask: filled(1, 0)})
	other := importVolume(t, s, p.ID, "other-contrast")
	m := createModel(t, s, p.ID, true)
	var preds []Prediction
	for z, u := range map[int]float64{1: 0.9, 2: 0.1, 3: 0.5, 4: 0.8} {
		preds = append(preds, Prediction{VolumeID: a.ID, Slice: z, Mask: filled(2, 1), Uncertainty: u})
	}
	for z := range testGeometry.Shape[2] {
		// Higher uncertainties than any of a's: order by uncertainty alone would queue them first.
		preds = append(preds, Prediction{VolumeID: other.ID, Slice: z, Mask: filled(0, 0), Uncertainty: 0.95})
	}
	// Saved later: a prediction of the other volume that finds one voxel, which is not empty.
	preds = append(preds, Prediction{VolumeID: other.ID, Slice: 0, Mask: filled(1, 0), Uncertainty: 0.3})
	if err := s.SavePredictions(ctx, m.ID, preds[:len(preds)-1]); err != nil {
		t.Fatal(err)
	}

	statuses := func(v VolumeMeta) []string {
		t.Helper()
		states, err := s.SliceStates(ctx, v.ID)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, st := range states {
			out = append(out, st.Status)
		}
		return out
	}
	empty5 := []string{StatusEmpty, StatusEmpty, StatusEmpty, StatusEmpty, StatusEmpty}
	if got := statuses(other); !slices.Equal(got, empty5) {
		t.Errorf("other contrast's slice states %v", got)
	}
	if got, want := statuses(a), []string{StatusLabelled, StatusPredicted, StatusPredicted, StatusPredicted, StatusPredicted}; !slices.Equal(got, want) {
		t.Errorf("a's slice states %v, want %v", got, want)
	}
	seg, err := s.Segmentation(ctx, other.ID, true)
	if err != nil || !slices.Equal(seg.Statuses, empty5) {
		t.Errorf("segmentation statuses %v, %v", seg.Statuses, err)
	}
	vols, err := s.Volumes(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]SliceCounts{}
	for _, v := range vols {
		counts[v.Name] = v.Counts
	}
	if want := (SliceCounts{Labelled: 1, Predicted: 4}); counts["a"] != want {
		t.Errorf("a's counts %+v, want %+v", counts["a"], want)
	}
	if want := (SliceCounts{Empty: 5}); counts["other-contrast"] != want {
		t.Errorf("other contrast's counts %+v, want %+v", counts["other-contrast"], want)
	}

	queue, err := s.ReviewQueue(ctx, p.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got [][2]int64
	for i, q := range queue {
		got = append(got, [2]int64{q.VolumeID, int64(q.Slice)})
		if q.Empty != (q.VolumeID == other.ID) || q.VolumeName == "" {
			t.Errorf("queue[%d] = %+v", i, q)
		}
	}
	// a: labelled at 0; slice 3 is farthest from it and the ends, then the rest by uncertainty.
	want := [][2]int64{{a.ID, 3}, {a.ID, 1}, {a.ID, 4}, {a.ID, 2},
		{other.ID, 0}, {other.ID, 1}, {other.ID, 2}, {other.ID, 3}, {other.ID, 4}}
	if !slices.Equal(got, want) {
		t.Errorf("queue %v, want %v", got, want)
	}
	if short, _ := s.ReviewQueue(ctx, p.ID, 4); len(short) != 4 || short[3].Empty {
		t.Errorf("queue of 4: %+v", short)
	}
	byUncertainty, err := s.ReviewQueueBy(ctx, p.ID, 5, QueueUncertainty)
	if err != nil || len(byUncertainty) != 5 || byUncertainty[0].Slice != 1 || byUncertainty[4].VolumeID != other.ID {
		t.Errorf("queue by uncertainty %+v, %v", byUncertainty, err)
	}

	// A slice with something found, and a label on an empty slice, change their statuses.
	if err := s.SavePredictions(ctx, m.ID, preds[len(preds)-1:]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SaveLabel(ctx, LabelWrite{VolumeID: other.ID, Slice: 4, Mask: filled(2, 0), Author: "ann"}); err != nil {
		t.Fatal(err)
	}
	if got, want := statuses(other), []string{StatusPredicted, StatusEmpty, StatusEmpty, StatusEmpty, StatusLabelled}; !slices.Equal(got, want) {
		t.Errorf("after a prediction and a label: %v, want %v", got, want)
	}
	vols, _ = s.Volumes(ctx, p.ID)
	for _, v := range vols {
		if v.Name == "other-contrast" && v.Counts != (SliceCounts{Predicted: 1, Empty: 3, Labelled: 1}) {
			t.Errorf("other contrast's counts %+v", v.Counts)
		}
	}
	checkIntegrity(t, s)
}
