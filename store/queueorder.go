package store

import (
	"cmp"
	"slices"
)

// Review queue orders.
const (
	// QueueSpread is the default: every volume in turn (those with the fewest labelled slices first), and in
	// each volume the slice with the largest distance from its labelled and already queued slices, weighted
	// by uncertainty. Measured with `workbench simulate` (README, "Simulated annotator").
	QueueSpread = "spread"
	// QueueUncertainty is the most uncertain slice first, whatever its volume or position.
	QueueUncertainty = "uncertainty"
)

// OrderReviewQueue orders the review candidates of a project (unlabelled slices the active model predicted)
// by order (QueueSpread or QueueUncertainty; anything else is QueueSpread). Slices where the model found
// nothing (Empty) come last, most uncertain first: a volume the model cannot read, of another contrast say,
// must not fill the queue with empty predictions. labelled has each volume's labelled slices and nz its
// number of slices. It returns at most limit items (all of them when limit <= 0), in a new slice; the
// candidates are not changed.
func OrderReviewQueue(candidates []QueueItem, labelled map[int64][]int, nz map[int64]int, order string, limit int) []QueueItem {
	if limit <= 0 || limit > len(candidates) {
		limit = len(candidates)
	}
	byUncertainty := func(a, b QueueItem) int {
		return cmp.Or(cmp.Compare(b.Uncertainty, a.Uncertainty), cmp.Compare(a.VolumeID, b.VolumeID), cmp.Compare(a.Slice, b.Slice))
	}
	var found, empty []QueueItem
	for _, c := range candidates {
		if c.Empty {
			empty = append(empty, c)
		} else {
			found = append(found, c)
		}
	}
	slices.SortFunc(empty, byUncertainty)
	if order == QueueUncertainty {
		slices.SortFunc(found, byUncertainty)
	} else {
		found = spreadOrder(found, labelled, nz, limit)
	}
	return append(found, empty...)[:limit]
}

// spreadOrder takes one slice per volume per pass, volumes with the fewest taken (labelled or queued) slices
// first; each volume gives the candidate with the largest distance d (in slices) from its taken slices times
// (1 + uncertainty), so uncertainty (0..1) decides between slices about equally far, and never brings a slice
// beside a label before one halfway between labels. The volume's ends count as taken (a slice beyond them is
// 1 away), so that a volume without labels starts in its middle, and its end slices, where a structure
// tapers off, come late.
// It stops after limit slices.
func spreadOrder(found []QueueItem, labelled map[int64][]int, nz map[int64]int, limit int) []QueueItem {
	type volume struct {
		id    int64
		taken []int
		left  []QueueItem
	}
	var volumes []*volume
	index := map[int64]*volume{}
	for _, c := range found {
		v := index[c.VolumeID]
		if v == nil {
			v = &volume{id: c.VolumeID, taken: append([]int(nil), labelled[c.VolumeID]...)}
			index[c.VolumeID] = v
			volumes = append(volumes, v)
		}
		v.left = append(v.left, c)
	}
	distance := func(v *volume, z int) int {
		d := min(z+1, nz[v.id]-z)
		if nz[v.id] <= 0 {
			d = z + 1
		}
		for _, t := range v.taken {
			d = min(d, max(z-t, t-z))
		}
		return d
	}
	score := func(v *volume, q QueueItem) float64 { return float64(distance(v, q.Slice)) * (1 + q.Uncertainty) }
	// better reports whether candidate a of volume v goes before b.
	better := func(v *volume, a, b QueueItem) bool {
		sa, sb := score(v, a), score(v, b)
		if sa != sb {
			return sa > sb
		}
		return a.Slice < b.Slice
	}
	limit = min(limit, len(found))
	out := make([]QueueItem, 0, limit)
	for len(out) < limit {
		pass := slices.Clone(volumes)
		slices.SortStableFunc(pass, func(a, b *volume) int {
			return cmp.Or(cmp.Compare(len(a.taken), len(b.taken)), cmp.Compare(a.id, b.id))
		})
		for _, v := range pass {
			if len(v.left) == 0 || len(out) == limit {
				continue
			}
			best := 0
			for i := 1; i < len(v.left); i++ {
				if better(v, v.left[i], v.left[best]) {
					best = i
				}
			}
			pick := v.left[best]
			v.left = slices.Delete(v.left, best, best+1)
			v.taken = append(v.taken, pick.Slice)
			out = append(out, pick)
		}
	}
	return out
}
