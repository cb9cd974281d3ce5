package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/mriworkbench/workbench/ml"
	"github.com/mriworkbench/workbench/ml/data"
	"github.com/mriworkbench/workbench/ml/metrics"
)

// Event kinds.
const (
	EventIteration = "iteration" // after every training step
	EventEpoch     = "epoch"     // after every validation (end of an epoch, or every ValEvery iterations)
)

// Event reports training progress. Times are in seconds.
type Event struct {
	Kind      string  `json:"kind"`
	Iteration int     `json:"iteration"` // steps done in this run (1 after the first)
	Epoch     int     `json:"epoch"`     // 1-based epoch the step belonged to
	TrainLoss float64 `json:"train_loss"`
	// Epoch events: the mean training loss since the previous one, the validation loss (same objective, on
	// un-augmented validation crops), the hard Dice of classes 1..K on those crops, and whether this validation
	// gave the best model so far.
	ValLoss float64   `json:"val_loss,omitempty"`
	ValDice []float64 `json:"val_dice,omitempty"`
	Best    bool      `json:"best,omitempty"`

	LearningRate        float64 `json:"learning_rate"`
	SecondsPerIteration float64 `json:"seconds_per_iteration"` // moving average of the training steps
	ETA                 float64 `json:"eta"`                   // seconds until the run's end, validations included; -1 unknown
	Elapsed             float64 `json:"elapsed"`
	// Fold and Folds number a cross-validation's fold model (CrossValidate), 1-based; 0 for the model itself.
	Fold  int `json:"fold,omitempty"`
	Folds int `json:"folds,omitempty"`
}

// Options are a run's inputs besides the samples and settings.
type Options struct {
	// Warm starts from this model's weights (same architecture and classes) instead of a fresh initialisation.
	Warm *Model
	// Eval, when non-empty, is the evaluation set (e.g. a subject kept out of training); all samples then split
	// into training and validation only.
	Eval []data.Sample
	// OnEvent receives every event, synchronously, on Train's goroutine: keep it quick.
	OnEvent func(Event)

	// probe, when set, is called after every step with the seconds elapsed, the steps done and the model; the time
	// it takes is left out of the run's clock (budget, ETA, events). Experiments use it to score checkpoints.
	probe func(elapsed float64, iteration int, m *Model)
}

// Stop reasons.
const (
	StopEpochs    = "epochs"
	StopBudget    = "budget"
	StopCancelled = "cancelled"
)

// Result is what a run produced.
type Result struct {
	Best  *Model // lowest validation loss (the final model when no validation ran); its Info.Metrics are the evaluation
	Final *Model // weights after the last step
	// Metrics are Best's scores per class 1..K on the evaluation split, whole slices, pooled; nil when the split
	// is empty or the run was cancelled.
	Metrics       []metrics.ClassMetrics
	Iterations    int
	Epochs        int     // epochs begun
	BestValLoss   float64 // Best's validation loss; 0 when no validation ran (BestIteration 0)
	BestIteration int
	Stopped       string
	Elapsed       float64
	// Evaluation summarises how Metrics were obtained: a held-out split, or a cross-validation whose fold
	// models were trained beside the final one; nil without any evaluation.
	Evaluation *Evaluation

	TrainKeys, ValKeys, EvalKeys []string
}

// Train trains a model on the labelled samples (unlabelled ones are ignored) with the settings. It splits the
// samples 70/15/15 by s.Seed (or train/validation only when opts.Eval is given), trains on augmented crops
// prepared in the background, validates every epoch (or every s.ValEvery iterations), keeps the best model by
// validation loss and the final one, and scores the best on the evaluation split.
//
// With fewer than s.CrossValidate labelled slices (and no opts.Eval), no slice is held out of the model the
// caller gets: it trains on all of them for the whole budget, without validation (it keeps its last weights,
// which the cosine schedule has settled), and has no evaluation yet (Result.Evaluation nil): CrossValidate
// scores it afterwards with k-fold models (CrossValidates says whether it applies).
//
// Cancelling ctx stops the run after the current step: Train then returns the result so far (best and final
// models, no evaluation) together with ctx's error.
func Train(ctx context.Context, samples []data.Sample, s Settings, opts Options) (*Result, error) {
	start := time.Now()
	if err := s.Validate(); err != nil {
		return nil, err
	}
	labelled, err := checkedLabelled(samples, s, "train")
	if err != nil {
		return nil, err
	}
	if len(labelled) == 0 {
		return nil, errors.New("train: no labelled slices")
	}
	for _, smp := range opts.Eval {
		if err := smp.Validate(true); err != nil {
			return nil, fmt.Errorf("train: evaluation %w", err)
		}
	}
	if planFolds(labelled, s, opts) != nil {
		return trainSplit(ctx, start, s, opts, labelled, nil, nil)
	}
	var trainSet, valSet, evalSet []data.Sample
	if len(opts.Eval) > 0 {
		trainSet, valSet, _, err = data.SplitWithEval(labelled, s.Seed, data.DefaultFractions, func(data.Sample) bool { return false })
		evalSet = opts.Eval
	} else {
		trainSet, valSet, evalSet, err = data.Split(labelled, s.Seed, data.DefaultFractions)
	}
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	res, err := trainSplit(ctx, start, s, opts, trainSet, valSet, evalSet)
	if err == nil && res.Metrics != nil {
		res.Evaluation = holdoutEvaluation(res.Best, res.Metrics, len(evalSet))
	}
	return res, err
}

// trainSplit is one run on given training, validation and evaluation sets (the latter two may be empty).
func trainSplit(ctx context.Context, start time.Time, s Settings, opts Options, trainSet, valSet, evalSet []data.Sample) (*Result, error) {
	s = fitCrop(s, trainSet)
	model, err := NewModel(s)
	if err != nil {
		return nil, err
	}
	if opts.Warm != nil {
		if err := model.copyWeightsFrom(opts.Warm); err != nil {
			return nil, fmt.Errorf("train: warm start: %w", err)
		}
		model.Info.Iterations = opts.Warm.Info.Iterations
	}
	model.Info.Spacing = trainSet[0].Spacing
	if s.Norm == NormTrainingSet {
		st := data.TrainingStats(trainSet)
		model.Info.Norm = Normalization{Mode: NormTrainingSet, Mean: st.Mean, Std: st.Std}
	}
	norm, err := model.Info.Norm.data()
	if err != nil {
		return nil, err
	}
	placement, err := s.placement()
	if err != nil {
		return nil, err
	}

	// With foreground placement, RandomShare of every batch is cropped at random positions by a second loader
	// and appended to the foreground crops: one batch, so batch-norm statistics see the same mixture in every
	// step as in the running averages used at inference.
	randomN := 0
	if placement == data.PlaceForeground && s.BatchSize > 1 {
		randomN = min(int(math.Round(float64(s.BatchSize)*s.RandomShare)), s.BatchSize-1)
	}
	loaderCtx, stopLoader := context.WithCancel(ctx)
	defer stopLoader()
	cfg := data.LoaderConfig{
		BatchSize: s.BatchSize - randomN, CropW: s.CropW, CropH: s.CropH, Placement: placement,
		Augment: s.Augment, Norm: norm, Seed: s.Seed, Shuffle: true, FullBatches: true, Epochs: s.Epochs,
		Balanced: s.Sampling == SamplingBalanced, EmptyShare: s.EmptyShare,
	}
	loader, err := data.NewLoader(loaderCtx, trainSet, cfg)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	defer loader.Close()
	var randomLoader *data.Loader
	if randomN > 0 {
		cfg.BatchSize, cfg.Placement, cfg.Seed, cfg.Epochs = randomN, data.PlaceRandom, s.Seed^0x9e3779b97f4a7c15, 0
		if randomLoader, err = data.NewLoader(loaderCtx, trainSet, cfg); err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
		defer randomLoader.Close()
	}

	r := &runner{
		s: s, model: model, opts: opts, start: start,
		val: newValidator(valSet, s, norm, model.net.OutChannels()),
		res: &Result{Final: model, BestValLoss: math.Inf(1), TrainKeys: keys(trainSet), ValKeys: keys(valSet), EvalKeys: keys(evalSet)},
	}
	r.itersPerEpoch = (len(trainSet) + s.BatchSize - randomN - 1) / (s.BatchSize - randomN)
	runErr := r.loop(ctx, loader, randomLoader)
	loader.Close()
	if randomLoader != nil {
		randomLoader.Close()
	}

	res := r.res
	if r.best == nil {
		res.BestValLoss = 0
	}
	res.Iterations, res.Elapsed = r.iter, time.Since(start).Seconds()
	model.Info.Iterations += r.iter
	model.Info.TrainSeconds = res.Elapsed
	model.Info.Created = time.Now().UTC()
	res.Best = model
	if r.best != nil {
		best, err := NewModel(s)
		if err != nil {
			return nil, err
		}
		best.Info = model.Info
		best.Info.Iterations = model.Info.Iterations - r.iter + res.BestIteration
		best.restore(r.best)
		res.Best = best
	}
	if runErr != nil {
		return res, runErr
	}
	if len(evalSet) > 0 {
		res.Metrics, err = Evaluate(res.Best, evalSet)
		if err != nil {
			return res, err
		}
		res.Best.Info.Metrics = res.Metrics
		res.Elapsed = time.Since(start).Seconds()
	}
	return res, nil
}

func checkClasses(samples []data.Sample, k int) error {
	for _, smp := range samples {
		for _, v := range smp.Mask {
			if int(v) > k {
				return fmt.Errorf("train: slice %q has class %d, settings have %d classes", smp.Key, v, k)
			}
		}
	}
	return nil
}

func keys(ss []data.Sample) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.Key
	}
	return out
}

// runner holds the state of one training loop.
type runner struct {
	s             Settings
	model         *Model
	opts          Options
	val           *validator
	res           *Result
	start         time.Time
	itersPerEpoch int

	iter       int
	spi        float64 // moving average of seconds per step
	valSeconds float64 // last validation's duration
	lossSum    float64 // training losses since the last validation
	lossCount  int
	best       [][]float32
}

func (r *runner) emit(e Event) {
	if r.opts.OnEvent != nil {
		r.opts.OnEvent(e)
	}
}

func (r *runner) elapsed() float64 { return time.Since(r.start).Seconds() }

// progress is how far along the run is, in [0, 1], by the bound that is nearer its end.
func (r *runner) progress() float64 {
	p := 0.0
	if r.s.Epochs > 0 {
		p = float64(r.iter) / float64(r.s.Epochs*r.itersPerEpoch)
	}
	if r.s.BudgetSeconds > 0 {
		p = max(p, r.elapsed()/r.s.BudgetSeconds)
	}
	return min(p, 1)
}

// eta estimates the seconds left: steps left times seconds per step plus their validations, capped by the budget.
func (r *runner) eta() float64 {
	eta := -1.0
	if r.s.Epochs > 0 && r.spi > 0 {
		left := float64(r.s.Epochs*r.itersPerEpoch - r.iter)
		every := float64(r.itersPerEpoch)
		if r.s.ValEvery > 0 {
			every = float64(r.s.ValEvery)
		}
		eta = left*r.spi + math.Ceil(left/every)*r.valSeconds
	}
	if r.s.BudgetSeconds > 0 {
		b := max(r.s.BudgetSeconds-r.elapsed(), 0)
		if eta < 0 || b < eta {
			eta = b
		}
	}
	return max(eta, -1)
}

// loop runs the steps. Epochs and validations follow the main loader; when random is not nil, each batch is
// completed with its crops.
func (r *runner) loop(ctx context.Context, main, random *data.Loader) error {
	r.res.Stopped = StopEpochs
	var images []float32
	var masks []uint8
	for {
		if err := ctx.Err(); err != nil {
			r.res.Stopped = StopCancelled
			return err
		}
		if r.s.BudgetSeconds > 0 && r.elapsed() >= r.s.BudgetSeconds {
			r.res.Stopped = StopBudget
			return nil
		}
		b, err := main.Next(ctx)
		if err == nil && random != nil {
			var rb data.Batch
			if rb, err = random.Next(ctx); err == nil {
				images = append(append(images[:0], b.Images...), rb.Images...)
				masks = append(append(masks[:0], b.Masks...), rb.Masks...)
				b.Images, b.Masks, b.N = images, masks, b.N+rb.N
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if ctx.Err() != nil {
				r.res.Stopped = StopCancelled
				return ctx.Err()
			}
			return fmt.Errorf("train: %w", err)
		}
		lr := r.s.learningRate(r.progress())
		r.model.net.SetLearningRate(float32(lr))
		t0 := time.Now()
		loss, err := r.model.net.Step(b.Images, b.Masks, b.N, b.H, b.W)
		if err != nil {
			return fmt.Errorf("train: step %d: %w", r.iter+1, err)
		}
		if math.IsNaN(float64(loss)) || math.IsInf(float64(loss), 0) {
			return fmt.Errorf("train: step %d: loss is %v (diverged; lower the learning rate)", r.iter+1, loss)
		}
		dt := time.Since(t0).Seconds()
		r.iter++
		r.res.Epochs = b.Epoch + 1
		if r.spi == 0 {
			r.spi = dt
		} else {
			r.spi = 0.8*r.spi + 0.2*dt
		}
		r.lossSum += float64(loss)
		r.lossCount++
		if r.opts.probe != nil {
			t := time.Now()
			r.opts.probe(r.elapsed(), r.iter, r.model)
			r.start = r.start.Add(time.Since(t))
		}
		r.emit(Event{
			Kind: EventIteration, Iteration: r.iter, Epoch: b.Epoch + 1, TrainLoss: float64(loss),
			LearningRate: lr, SecondsPerIteration: r.spi, ETA: r.eta(), Elapsed: r.elapsed(),
		})
		if (r.s.ValEvery == 0 && b.Last) || (r.s.ValEvery > 0 && r.iter%r.s.ValEvery == 0) {
			if err := r.validate(b.Epoch+1, lr); err != nil {
				return err
			}
		}
	}
}

// validate scores the model on the validation crops, keeps it if it is the best so far, and emits an epoch event.
func (r *runner) validate(epoch int, lr float64) error {
	t0 := time.Now()
	e := Event{Kind: EventEpoch, Iteration: r.iter, Epoch: epoch, LearningRate: lr, SecondsPerIteration: r.spi}
	if r.lossCount > 0 {
		e.TrainLoss = r.lossSum / float64(r.lossCount)
	}
	r.lossSum, r.lossCount = 0, 0
	if r.val != nil {
		loss, dice, err := r.val.run(r.model)
		if err != nil {
			return err
		}
		e.ValLoss, e.ValDice = loss, dice
		if loss < r.res.BestValLoss {
			r.res.BestValLoss, r.res.BestIteration = loss, r.iter
			e.Best = true
			if r.best == nil {
				r.best = r.model.snapshot()
			} else {
				for i, t := range r.model.tensors() {
					copy(r.best[i], t.Data)
				}
			}
		}
	}
	r.valSeconds = time.Since(t0).Seconds()
	e.ETA, e.Elapsed = r.eta(), r.elapsed()
	r.emit(e)
	return nil
}

// validator scores a model on fixed, un-augmented crops of the validation slices: centred on the labelled
// structures with foreground placement (so small structures are in view), otherwise centred on the slice.
type validator struct {
	images []float32
	masks  []uint8
	n      int
	w, h   int
	k      int // classes
	chans  int
	loss   ml.Loss
	// scratch
	z, p, dz []float32
}

func newValidator(val []data.Sample, s Settings, norm data.Normalization, chans int) *validator {
	if len(val) == 0 {
		return nil
	}
	loss, _ := ml.ParseLoss(s.Loss) // validated with the settings
	v := &validator{n: len(val), w: s.CropW, h: s.CropH, k: s.Classes, chans: chans, loss: loss}
	plane := v.w * v.h
	v.images = make([]float32, v.n*plane)
	v.masks = make([]uint8, v.n*plane)
	for i, smp := range val {
		origin := data.CenterOrigin(smp.W, smp.H, v.w, v.h)
		if box := data.ForegroundBox(smp); s.Placement == PlaceForeground && !box.Empty {
			origin = data.Point{X: (box.Min.X+box.Max.X+1)/2 - v.w/2, Y: (box.Min.Y+box.Max.Y+1)/2 - v.h/2}
		}
		data.CropInto(v.images[i*plane:(i+1)*plane], v.masks[i*plane:(i+1)*plane], smp, origin, v.w, v.h, norm.For(smp.Image))
	}
	return v
}

// valBatch bounds the crops per forward pass, keeping validation's memory near training's.
const valBatch = 8

// run returns the validation loss (the training objective) and the hard Dice of classes 1..K pooled over the crops.
func (v *validator) run(m *Model) (float64, []float64, error) {
	plane := v.w * v.h
	m.mu.Lock()
	defer m.mu.Unlock()
	probs := make([]float32, 0, v.n*v.chans*plane)
	for first := 0; first < v.n; first += valBatch {
		n := min(valBatch, v.n-first)
		p, err := m.net.Predict(v.images[first*plane:(first+n)*plane], n, v.h, v.w)
		if err != nil {
			return 0, nil, fmt.Errorf("train: validation: %w", err)
		}
		probs = append(probs, p...)
	}
	// The loss wants channel-major probabilities and logits; log-probabilities are valid logits for both a
	// softmax (shift invariance) and, as log(p/(1-p)), a sigmoid.
	m1 := v.n * plane
	v.p = growF(v.p, v.chans*m1)
	v.z = growF(v.z, v.chans*m1)
	v.dz = growF(v.dz, v.chans*m1)
	for smp := range v.n {
		for c := range v.chans {
			src := probs[(smp*v.chans+c)*plane : (smp*v.chans+c+1)*plane]
			dst := c*m1 + smp*plane
			copy(v.p[dst:dst+plane], src)
			for i, q := range src {
				q = min(max(q, 1e-7), 1-1e-7)
				if v.chans == 1 {
					v.z[dst+i] = float32(math.Log(float64(q) / (1 - float64(q))))
				} else {
					v.z[dst+i] = float32(math.Log(float64(q)))
				}
			}
		}
	}
	loss := v.loss.Evaluate(v.z, v.p, v.masks, v.chans, m1, v.dz)
	conf := make([]metrics.Confusion, v.k)
	for smp := range v.n {
		pred := classMap(probs[smp*v.chans*plane:(smp+1)*v.chans*plane], v.chans, plane)
		truth := v.masks[smp*plane : (smp+1)*plane]
		for c := 1; c <= v.k; c++ {
			conf[c-1] = conf[c-1].Add(metrics.Count(pred, truth, uint8(c)))
		}
	}
	dice := make([]float64, v.k)
	for i, c := range conf {
		dice[i] = c.Dice()
	}
	return loss, dice, nil
}

func growF(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

// Evaluate scores the model on whole labelled slices: all of package metrics' scores per class 1..K, pooled over
// the slices, with each slice's spacing.
func Evaluate(m *Model, samples []data.Sample) ([]metrics.ClassMetrics, error) {
	return EvaluateWith(m, samples, PredictOptions{})
}

// EvaluateWith is Evaluate with chosen inference options.
func EvaluateWith(m *Model, samples []data.Sample, o PredictOptions) ([]metrics.ClassMetrics, error) {
	classes := make([]int, m.Info.Classes)
	for i := range classes {
		classes[i] = i + 1
	}
	acc, err := metrics.NewAccumulator(classes)
	if err != nil {
		return nil, err
	}
	preds, err := m.PredictSlices(samples, o)
	if err != nil {
		return nil, err
	}
	for i, smp := range samples {
		if smp.Mask == nil {
			return nil, fmt.Errorf("evaluate: slice %q has no mask", smp.Key)
		}
		sp := smp.Spacing
		if !(sp[0] > 0 && sp[1] > 0) {
			sp = [2]float64{1, 1}
		}
		if _, err := acc.Add(preds[i].ClassMap, smp.Mask, smp.W, smp.H, sp); err != nil {
			return nil, err
		}
	}
	return acc.Result(), nil
}
