package data

import (
	"fmt"
	"hash/fnv"
	"math"
	"slices"
)

// Fractions are the shares of the training, validation and evaluation sets; they need not sum to one exactly
// (they are normalised) but must be non-negative with a positive training share.
type Fractions struct{ Train, Val, Eval float64 }

// DefaultFractions is the published pipeline's 70/15/15 split.
var DefaultFractions = Fractions{Train: 0.70, Val: 0.15, Eval: 0.15}

// Split divides samples into training, validation and evaluation sets, seeded and reproducible.
//
// Order: every sample is ranked by a hash of (seed, Key), so the result depends only on the seed and the keys,
// not on the order of samples, and labelling one more slice moves at most a few others between sets.
// Samples with equal keys keep their input order.
//
// Counts (n samples): each set gets floor(n*share); the samples left over go one each to the sets with the
// largest remainders (ties: train, then val, then eval). Then small sets are repaired so training can run:
// with n >= 2 and a positive Val share, validation holds at least one sample; with n >= 3 and a positive Eval
// share, evaluation holds at least one; training always keeps at least one. A sample needed for a repair is
// taken from the largest other set. So 10 samples at 70/15/15 give 7/2/1, 3 give 1/1/1, 2 give 1/1/0, 1 gives 1/0/0.
func Split(samples []Sample, seed uint64, f Fractions) (train, val, eval []Sample, err error) {
	if err := f.check(); err != nil {
		return nil, nil, nil, err
	}
	ranked := rankByKey(samples, seed)
	_, nVal, nEval := splitCounts(len(ranked), f)
	eval = ranked[:nEval]
	val = ranked[nEval : nEval+nVal]
	train = ranked[nEval+nVal:]
	return train, val, eval, nil
}

// SplitWithEval puts the samples the caller picks (isEval true, e.g. a subject kept out of training) into the
// evaluation set and splits the rest into training and validation in the ratio f.Train:f.Val, by the same
// ranking and rounding rules as Split (at least one validation sample when two or more remain).
func SplitWithEval(samples []Sample, seed uint64, f Fractions, isEval func(Sample) bool) (train, val, eval []Sample, err error) {
	if err := f.check(); err != nil {
		return nil, nil, nil, err
	}
	var rest []Sample
	for _, s := range samples {
		if isEval(s) {
			eval = append(eval, s)
		} else {
			rest = append(rest, s)
		}
	}
	ranked := rankByKey(rest, seed)
	_, nVal, _ := splitCounts(len(ranked), Fractions{Train: f.Train, Val: f.Val})
	return ranked[nVal:], ranked[:nVal], eval, nil
}

func (f Fractions) check() error {
	for _, v := range []float64{f.Train, f.Val, f.Eval} {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("split fractions %+v: each must be finite and non-negative", f)
		}
	}
	if f.Train <= 0 {
		return fmt.Errorf("split fractions %+v: the training share must be positive", f)
	}
	return nil
}

// rankByKey returns a copy of samples ordered by a seeded hash of their keys.
func rankByKey(samples []Sample, seed uint64) []Sample {
	type ranked struct {
		rank uint64
		s    Sample
	}
	rs := make([]ranked, len(samples))
	for i, s := range samples {
		h := fnv.New64a()
		var b [8]byte
		for j := range b {
			b[j] = byte(seed >> (8 * j))
		}
		h.Write(b[:])
		h.Write([]byte(s.Key))
		rs[i] = ranked{rank: mix64(h.Sum64()), s: s}
	}
	slices.SortStableFunc(rs, func(a, b ranked) int {
		switch {
		case a.rank < b.rank:
			return -1
		case a.rank > b.rank:
			return 1
		}
		return 0
	})
	out := make([]Sample, len(rs))
	for i, r := range rs {
		out[i] = r.s
	}
	return out
}

// mix64 is the splitmix64 finaliser: it spreads FNV's weak low bits over the whole word.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// splitCounts applies the rounding and repair rules documented on Split.
func splitCounts(n int, f Fractions) (nTrain, nVal, nEval int) {
	total := f.Train + f.Val + f.Eval
	shares := [3]float64{f.Train / total, f.Val / total, f.Eval / total}
	var counts [3]int
	var rem [3]float64
	left := n
	for i, s := range shares {
		exact := float64(n) * s
		counts[i] = int(math.Floor(exact))
		rem[i] = exact - float64(counts[i])
		left -= counts[i]
	}
	for ; left > 0; left-- {
		best := 0
		for i := 1; i < 3; i++ {
			if rem[i] > rem[best] {
				best = i
			}
		}
		counts[best]++
		rem[best] = -1
	}
	// Repairs: take one sample from the largest other set (ties: the earlier set). A donor keeps at least one
	// sample, except when training is the one in need.
	take := func(to int) {
		keep := 1
		if to == 0 {
			keep = 0
		}
		from := -1
		for i := range counts {
			if i != to && counts[i] > keep && (from < 0 || counts[i] > counts[from]) {
				from = i
			}
		}
		if from >= 0 {
			counts[from]--
			counts[to]++
		}
	}
	if counts[0] == 0 && n > 0 {
		take(0)
	}
	if counts[1] == 0 && n >= 2 && shares[1] > 0 {
		take(1)
	}
	if counts[2] == 0 && n >= 3 && shares[2] > 0 {
		take(2)
	}
	return counts[0], counts[1], counts[2]
}
