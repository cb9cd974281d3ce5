package store

import (
	"slices"
	"testing"
)

func queueKeys(items []QueueItem) [][2]int64 {
	var out [][2]int64
	for _, q := range items {
		out = append(out, [2]int64{q.VolumeID, int64(q.Slice)})
	}
	return out
}

func TestOrderReviewQueueSpread(t *testing.T) {
	// Volume 1 (10 slices) has labels at 4 and 5; volume 2 (6 slices) has none; volume 3's predictions are
	// all empty, with the highest uncertainties.
	candidates := []QueueItem{
		{VolumeID: 1, Slice: 0, Uncertainty: 0.9}, {VolumeID: 1, Slice: 1, Uncertainty: 0.2},
		{VolumeID: 1, Slice: 2, Uncertainty: 0.3}, {VolumeID: 1, Slice: 3, Uncertainty: 0.95},
		{VolumeID: 1, Slice: 8, Uncertainty: 0.1}, {VolumeID: 1, Slice: 9, Uncertainty: 0.8},
		{VolumeID: 2, Slice: 0, Uncertainty: 0.99}, {VolumeID: 2, Slice: 2, Uncertainty: 0.4},
		{VolumeID: 2, Slice: 3, Uncertainty: 0.3}, {VolumeID: 2, Slice: 5, Uncertainty: 0.5},
		{VolumeID: 3, Slice: 0, Uncertainty: 1, Empty: true}, {VolumeID: 3, Slice: 1, Uncertainty: 0.97, Empty: true},
	}
	before := slices.Clone(candidates)
	labelled := map[int64][]int{1: {4, 5}}
	nz := map[int64]int{1: 10, 2: 6, 3: 2}
	got := queueKeys(OrderReviewQueue(candidates, labelled, nz, QueueSpread, 0))
	want := [][2]int64{
		// Pass 1: volume 2 (no labels) first, from its middle: slices 2 and 3 are both 3 from its ends, and 2 is
		// more uncertain. Then volume 1, where slices 1, 2 and 8 are 2 from a label or an end: 2 is the most
		// uncertain of them; slices 0, 3 and 9, beside a label or an end, wait, however uncertain (0.9 and 0.95
		// give 1 x 1.9 and 1 x 1.95, below 2 x 1.3).
		{2, 2}, {1, 2},
		// Volume 2 has one slice taken, volume 1 three: volume 2 first again. Its other slices are all beside a
		// taken slice or an end: the most uncertain first. In volume 1, slice 8 is the only one 2 away.
		{2, 0}, {1, 8},
		{2, 5}, {1, 3},
		{2, 3}, {1, 0},
		{1, 9}, {1, 1},
		// Empty predictions last, most uncertain first.
		{3, 0}, {3, 1},
	}
	if !slices.Equal(got, want) {
		t.Errorf("spread order\n got %v\nwant %v", got, want)
	}
	if !slices.Equal(candidates, before) {
		t.Error("OrderReviewQueue changed its input")
	}
	if got := queueKeys(OrderReviewQueue(candidates, labelled, nz, QueueSpread, 3)); !slices.Equal(got, want[:3]) {
		t.Errorf("limit 3: %v, want %v", got, want[:3])
	}
	// A limit past the structures found reaches the empty ones only after every other slice.
	if got := queueKeys(OrderReviewQueue(candidates, labelled, nz, QueueSpread, 11)); !slices.Equal(got, want[:11]) {
		t.Errorf("limit 11: %v, want %v", got, want[:11])
	}
}

func TestOrderReviewQueueUncertainty(t *testing.T) {
	candidates := []QueueItem{
		{VolumeID: 1, Slice: 0, Uncertainty: 0.2}, {VolumeID: 2, Slice: 1, Uncertainty: 0.9, Empty: true},
		{VolumeID: 2, Slice: 0, Uncertainty: 0.5}, {VolumeID: 1, Slice: 1, Uncertainty: 0.5},
	}
	got := queueKeys(OrderReviewQueue(candidates, nil, nil, QueueUncertainty, 0))
	want := [][2]int64{{1, 1}, {2, 0}, {1, 0}, {2, 1}} // ties by volume, then slice; empty last
	if !slices.Equal(got, want) {
		t.Errorf("uncertainty order %v, want %v", got, want)
	}
	if got := OrderReviewQueue(nil, nil, nil, QueueSpread, 10); len(got) != 0 {
		t.Errorf("no candidates gave %v", got)
	}
}

// Far from labels beats uncertain beside them; between about equally far slices, uncertainty decides.
func TestOrderReviewQueueDistanceAndUncertainty(t *testing.T) {
	// 30 slices, labelled at 15: slices 7 and 22 are 8 from a label or an end, 5 is 6 from the end.
	candidates := []QueueItem{
		{VolumeID: 1, Slice: 14, Uncertainty: 1}, {VolumeID: 1, Slice: 7, Uncertainty: 0.1},
		{VolumeID: 1, Slice: 22, Uncertainty: 0.2}, {VolumeID: 1, Slice: 5, Uncertainty: 0.9},
	}
	got := queueKeys(OrderReviewQueue(candidates, map[int64][]int{1: {15}}, map[int64]int{1: 30}, QueueSpread, 0))
	// Slice 5 (6 x 1.9 = 11.4) beats 22 (8 x 1.2 = 9.6) and 7 (8 x 1.1 = 8.8): uncertainty outweighs a little
	// distance. With 5 taken, 7 is 2 from it (2.2) while 22 is still 8 away; the most uncertain slice, beside
	// the label (14: 1 x 2), comes last.
	want := [][2]int64{{1, 5}, {1, 22}, {1, 7}, {1, 14}}
	if !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
}
