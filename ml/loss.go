package ml

import (
	"fmt"
	"math"
)

// DiceMode selects how the soft Dice term is reduced.
type DiceMode int

const (
	// DiceNone leaves the Dice term out.
	DiceNone DiceMode = iota
	// DiceGlobal is the pipeline's multi-class soft Dice: one ratio over all channels and
	// pixels of the batch, (-2*sum(p*g) + s) / (sum(p^2) + sum(g^2) + s).
	DiceGlobal
	// DicePerClass computes that ratio per channel and averages the channels, so a small
	// structure weighs as much as the background.
	DicePerClass
)

// Loss is a training objective on the network's probabilities:
// DiceWeight * Dice + CEWeight * cross-entropy. Dice values lie in [-1, 0] (lower is
// better), cross-entropy is the mean over pixels of -log p(true class) (binary
// cross-entropy with a one-channel sigmoid head).
type Loss struct {
	Dice           DiceMode
	DiceWeight     float32
	CEWeight       float32
	SkipBackground bool    // per-class Dice: leave channel 0 (background) out of the average
	Smooth         float32 // s in the Dice ratio
}

// PaperDice is the reference pipeline's loss: soft Dice over all channels, s = 0.001.
func PaperDice() Loss { return Loss{Dice: DiceGlobal, DiceWeight: 1, Smooth: 0.001} }

// CrossEntropy is the mean pixel-wise cross-entropy.
func CrossEntropy() Loss { return Loss{CEWeight: 1, Smooth: 0.001} }

// PerClassDice averages the soft Dice of each class, background excluded.
func PerClassDice() Loss {
	return Loss{Dice: DicePerClass, DiceWeight: 1, SkipBackground: true, Smooth: 0.001}
}

// DiceCE adds per-class Dice (background excluded) and cross-entropy with equal weights.
func DiceCE() Loss {
	return Loss{Dice: DicePerClass, DiceWeight: 1, CEWeight: 1, SkipBackground: true, Smooth: 0.001}
}

// LossNames are the names ParseLoss accepts.
var LossNames = []string{"dice", "dice-perclass", "ce", "dice+ce"}

// ParseLoss returns the loss called name (one of LossNames).
func ParseLoss(name string) (Loss, error) {
	switch name {
	case "dice":
		return PaperDice(), nil
	case "dice-perclass":
		return PerClassDice(), nil
	case "ce":
		return CrossEntropy(), nil
	case "dice+ce":
		return DiceCE(), nil
	}
	return Loss{}, fmt.Errorf("unknown loss %q (want one of %v)", name, LossNames)
}

// Evaluate returns the loss of probabilities p (c channels, channel-major, m = n*h*w pixels
// per channel) from logits z against class-index masks (m values, sample-major), and sets dz
// to the gradient w.r.t. the logits. A one-channel head is a sigmoid whose target is
// mask > 0; otherwise the head is a softmax over the c channels.
func (l Loss) Evaluate(z, p []float32, masks []uint8, c, m int, dz []float32) float64 {
	clear(dz)
	var total float64
	if l.Dice != DiceNone && l.DiceWeight != 0 {
		total += float64(l.DiceWeight) * l.dice(p, masks, c, m, dz)
	}
	if l.CEWeight != 0 {
		total += float64(l.CEWeight) * crossEntropy(z, p, masks, c, m, l.CEWeight, dz)
	}
	return total
}

func target(masks []uint8, ch, c, i int) bool {
	if c == 1 {
		return masks[i] > 0
	}
	return int(masks[i]) == ch
}

// dice adds DiceWeight * dDice/dz to dz and returns the Dice term.
func (l Loss) dice(p []float32, masks []uint8, c, m int, dz []float32) float64 {
	s := float64(l.Smooth)
	inter, sq := make([]float64, c), make([]float64, c)
	for ch := 0; ch < c; ch++ {
		pc := p[ch*m : (ch+1)*m]
		for i, v := range pc {
			f := float64(v)
			sq[ch] += f * f
			if target(masks, ch, c, i) {
				inter[ch] += f
				sq[ch]++ // g^2 = 1 where the target is set
			}
		}
	}
	// coefP, coefG: dL/dp = coefG*g + coefP*p per channel.
	coefP, coefG := make([]float64, c), make([]float64, c)
	var value float64
	if l.Dice == DiceGlobal {
		var I, U float64
		for ch := 0; ch < c; ch++ {
			I += inter[ch]
			U += sq[ch]
		}
		U += s
		value = (-2*I + s) / U
		for ch := 0; ch < c; ch++ {
			coefG[ch] = -2 / U
			coefP[ch] = (2*I - s) * 2 / (U * U)
		}
	} else {
		first := 0
		if l.SkipBackground && c > 1 {
			first = 1
		}
		k := float64(c - first)
		for ch := first; ch < c; ch++ {
			U := sq[ch] + s
			value += (-2*inter[ch] + s) / U / k
			coefG[ch] = -2 / U / k
			coefP[ch] = (2*inter[ch] - s) * 2 / (U * U) / k
		}
	}
	w := float64(l.DiceWeight)
	if c == 1 {
		// Sigmoid head: dz = dp * p * (1-p).
		for i, v := range p[:m] {
			g := 0.0
			if masks[i] > 0 {
				g = 1
			}
			f := float64(v)
			dz[i] += float32(w * (coefG[0]*g + coefP[0]*f) * f * (1 - f))
		}
		return value
	}
	// Softmax head: dz_c = p_c * (dp_c - sum_k p_k dp_k).
	for i := 0; i < m; i++ {
		t := int(masks[i])
		var dot float64
		for ch := 0; ch < c; ch++ {
			f := float64(p[ch*m+i])
			dp := coefP[ch] * f
			if ch == t {
				dp += coefG[ch]
			}
			dot += f * dp
		}
		for ch := 0; ch < c; ch++ {
			f := float64(p[ch*m+i])
			dp := coefP[ch] * f
			if ch == t {
				dp += coefG[ch]
			}
			dz[ch*m+i] += float32(w * f * (dp - dot))
		}
	}
	return value
}

// crossEntropy adds weight * dCE/dz to dz and returns the mean cross-entropy, computed
// from the logits (log-sum-exp) so that confident wrong pixels stay finite.
func crossEntropy(z, p []float32, masks []uint8, c, m int, weight float32, dz []float32) float64 {
	var sum float64
	scale := weight / float32(m)
	if c == 1 {
		for i := 0; i < m; i++ {
			x := float64(z[i])
			g := float32(0)
			if masks[i] > 0 {
				g = 1
			}
			// -[g log s(x) + (1-g) log(1-s(x))] = softplus(x) - g*x
			sum += softplus(x) - float64(g)*x
			dz[i] += scale * (p[i] - g)
		}
		return sum / float64(m)
	}
	for i := 0; i < m; i++ {
		mx := float64(z[i])
		for ch := 1; ch < c; ch++ {
			mx = max(mx, float64(z[ch*m+i]))
		}
		var se float64
		for ch := 0; ch < c; ch++ {
			se += math.Exp(float64(z[ch*m+i]) - mx)
		}
		t := int(masks[i])
		sum += mx + math.Log(se) - float64(z[t*m+i])
		for ch := 0; ch < c; ch++ {
			g := p[ch*m+i]
			if ch == t {
				g--
			}
			dz[ch*m+i] += scale * g
		}
	}
	return sum / float64(m)
}

func softplus(x float64) float64 {
	if x > 0 {
		return x + math.Log1p(math.Exp(-x))
	}
	return math.Log1p(math.Exp(x))
}
