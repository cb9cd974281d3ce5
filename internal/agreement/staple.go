package agreement

import (
	"fmt"
	"math"
)

// StapleOptions bound the EM iterations of Staple; zero values take the defaults.
type StapleOptions struct {
	MaxIterations int     // default 100
	Tolerance     float64 // stop when no confusion-matrix entry moves by more; default 1e-7
}

const (
	defaultStapleIterations = 100
	defaultStapleTolerance  = 1e-7
	// initialAgreement is each read's starting P(says s | true s): raters are assumed good but not perfect.
	initialAgreement = 0.99
)

// StapleResult is the STAPLE estimate of the true labels and of each read's performance. Labels are indexed
// from 0 (background) to the class count, in every slice below.
type StapleResult struct {
	Consensus   []uint8     `json:"consensus"`   // per pixel, the most probable true label (base64 in JSON, as []byte is)
	Probability [][]float32 `json:"probability"` // [label][pixel]: posterior probability of the true label
	Sensitivity [][]float64 `json:"sensitivity"` // [read][label]: P(read says label | true label)
	Specificity [][]float64 `json:"specificity"` // [read][label]: P(read says another label | true label is another)
	Iterations  int         `json:"iterations"`
	Converged   bool        `json:"converged"` // false when MaxIterations ended the EM first
}

// Staple estimates the true labels from two or more reads by multi-class STAPLE (see the package
// documentation). One read is refused: its performance cannot be told apart from the truth, and EM would
// report whatever its starting guess implies.
func Staple(g Grid, reads [][]uint8, classes int, opts StapleOptions) (*StapleResult, error) {
	if err := checkReads(g, reads, classes, 2); err != nil {
		return nil, err
	}
	maxIter, tol := opts.MaxIterations, opts.Tolerance
	if maxIter < 0 || tol < 0 || math.IsNaN(tol) || math.IsInf(tol, 0) {
		return nil, fmt.Errorf("agreement: STAPLE options %d iterations, tolerance %g: want non-negative finite values",
			maxIter, tol)
	}
	if maxIter == 0 {
		maxIter = defaultStapleIterations
	}
	if tol == 0 {
		tol = defaultStapleTolerance
	}
	labels := classes + 1
	pats := groupPatterns(g.pixels(), reads, labels)
	prior := pooledFrequencies(pats, labels)
	theta := initialConfusion(len(reads), labels)
	post := make([]float64, len(pats.count)*labels) // W: posterior of the true label, per pattern
	res := &StapleResult{}
	for res.Iterations < maxIter {
		res.Iterations++
		estep(pats, theta, prior, post)
		if mstep(pats, post, theta) < tol {
			res.Converged = true
			break
		}
	}
	res.Consensus, res.Probability = pats.expand(post, labels)
	res.Sensitivity, res.Specificity = performance(pats, post, labels, len(reads))
	return res, nil
}

// pooledFrequencies are the global priors: how often each label occurs over all reads and pixels.
func pooledFrequencies(pats *patterns, labels int) []float64 {
	prior := make([]float64, labels)
	nr := len(pats.labels) / len(pats.count)
	total := 0
	for p, n := range pats.count {
		for _, v := range pats.labels[p*nr : (p+1)*nr] {
			prior[v] += float64(n)
		}
		total += n * nr
	}
	for s := range prior {
		prior[s] /= float64(total)
	}
	return prior
}

// initialConfusion gives every read theta[said*labels+true] = initialAgreement on the diagonal and the rest
// of each column (a fixed true label) spread evenly, so that columns sum to 1.
func initialConfusion(reads, labels int) [][]float64 {
	theta := make([][]float64, reads)
	for j := range theta {
		theta[j] = make([]float64, labels*labels)
		for said := range labels {
			for truth := range labels {
				if said == truth {
					theta[j][said*labels+truth] = initialAgreement
				} else {
					theta[j][said*labels+truth] = (1 - initialAgreement) / float64(labels-1)
				}
			}
		}
	}
	return theta
}

// mstep re-estimates every read's confusion matrix from the posteriors, theta_j(s' | s) = sum over the
// pixels where read j says s' of W(s), over sum of W(s), and returns the largest change of an entry. A true
// label without posterior mass has nothing to learn from and keeps its column.
func mstep(pats *patterns, post []float64, theta [][]float64) float64 {
	nr := len(theta)
	labels := len(post) / len(pats.count)
	mass := make([]float64, labels)
	for p, n := range pats.count {
		for s := range labels {
			mass[s] += float64(n) * post[p*labels+s]
		}
	}
	next := make([]float64, labels*labels)
	delta := 0.0
	for j := range theta {
		clear(next)
		for p, n := range pats.count {
			said := int(pats.labels[p*nr+j])
			for s := range labels {
				next[said*labels+s] += float64(n) * post[p*labels+s]
			}
		}
		for s := range labels {
			for said := range labels {
				if mass[s] == 0 {
					next[said*labels+s] = theta[j][said*labels+s]
				} else {
					next[said*labels+s] /= mass[s]
				}
			}
		}
		for k, v := range next {
			delta = max(delta, math.Abs(v-theta[j][k]))
		}
		copy(theta[j], next)
	}
	return delta
}

// patterns groups the pixels by the tuple of labels the reads give them: the EM only depends on that tuple,
// and a slice has few distinct tuples.
type patterns struct {
	labels []uint8 // [pattern*reads + read]
	count  []int   // pixels per pattern
	of     []int32 // pattern of each pixel
}

// denseKeys is the most label tuples groupPatterns indexes with a table rather than a map.
const denseKeys = 1 << 16

func groupPatterns(pixels int, reads [][]uint8, labels int) *patterns {
	nr := len(reads)
	p := &patterns{of: make([]int32, pixels)}
	add := func(i int) int32 {
		k := int32(len(p.count))
		for _, r := range reads {
			p.labels = append(p.labels, r[i])
		}
		p.count = append(p.count, 0)
		return k
	}
	keys := 1
	for range nr {
		keys *= labels
		if keys > denseKeys {
			break
		}
	}
	if keys <= denseKeys {
		// The tuple as a number in base labels indexes a table.
		table := make([]int32, keys)
		for k := range table {
			table[k] = -1
		}
		for i := range pixels {
			key := 0
			for _, r := range reads {
				key = key*labels + int(r[i])
			}
			k := table[key]
			if k < 0 {
				k = add(i)
				table[key] = k
			}
			p.count[k]++
			p.of[i] = k
		}
		return p
	}
	index := map[string]int32{}
	key := make([]byte, nr)
	for i := range pixels {
		for j, r := range reads {
			key[j] = r[i]
		}
		k, ok := index[string(key)]
		if !ok {
			k = add(i)
			index[string(key)] = k
		}
		p.count[k]++
		p.of[i] = k
	}
	return p
}

// estep writes each pattern's posterior W(s) ∝ prior(s) * prod_j theta_j(said_j | s).
func estep(pats *patterns, theta [][]float64, prior, post []float64) {
	labels := len(prior)
	nr := len(theta)
	for p := range pats.count {
		w := post[p*labels : (p+1)*labels]
		sum := 0.0
		for s := range labels {
			v := prior[s]
			for j := range nr {
				v *= theta[j][int(pats.labels[p*nr+j])*labels+s]
			}
			w[s] = v
			sum += v
		}
		if sum == 0 { // every label ruled out by some read: fall back on the priors
			copy(w, prior)
			continue
		}
		for s := range w {
			w[s] /= sum
		}
	}
}

// expand maps the per-pattern posteriors back to pixels: the most probable label (ties to the lowest) and the
// probability of each label.
func (pats *patterns) expand(post []float64, labels int) ([]uint8, [][]float32) {
	consensus := make([]uint8, len(pats.of))
	prob := make([][]float32, labels)
	for s := range prob {
		prob[s] = make([]float32, len(pats.of))
	}
	best := make([]uint8, len(pats.count))
	for p := range pats.count {
		w := post[p*labels : (p+1)*labels]
		for s := 1; s < labels; s++ {
			if w[s] > w[best[p]] {
				best[p] = uint8(s)
			}
		}
	}
	for i, p := range pats.of {
		consensus[i] = best[p]
	}
	byPattern := make([]float32, len(pats.count))
	for s := range labels {
		for p := range byPattern {
			byPattern[p] = float32(post[p*labels+s])
		}
		dst := prob[s]
		for i, p := range pats.of {
			dst[i] = byPattern[p]
		}
	}
	return consensus, prob
}

// performance is each read's sensitivity and specificity per label, weighted by the posteriors; 0/0 is 1.
func performance(pats *patterns, post []float64, labels, nr int) (sens, spec [][]float64) {
	sens, spec = make([][]float64, nr), make([][]float64, nr)
	for j := range nr {
		sens[j], spec[j] = make([]float64, labels), make([]float64, labels)
		for c := range labels {
			var tp, pos, tn, neg float64
			for p, n := range pats.count {
				said := int(pats.labels[p*nr+j])
				w := post[p*labels : (p+1)*labels]
				cnt := float64(n)
				pos += cnt * w[c]
				if said == c {
					tp += cnt * w[c]
				}
				other := 0.0 // the sum rather than 1 - w[c], which cancels when w[c] is near 1
				for s, ws := range w {
					if s != c {
						other += ws
					}
				}
				neg += cnt * other
				if said != c {
					tn += cnt * other
				}
			}
			sens[j][c], spec[j][c] = ratioOr1(tp, pos), ratioOr1(tn, neg)
		}
	}
	return sens, spec
}

func ratioOr1(num, den float64) float64 {
	if den == 0 {
		return 1
	}
	return num / den
}
