package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mriworkbench/workbench/internal/event"
	"github.com/mriworkbench/workbench/internal/job"
	"github.com/mriworkbench/workbench/store"
)

const trainUsage = "train --project P [--epochs N] [--time 5m] [--arch NAME] [--preset default|paper] [--from-scratch | --init-model FILE] [--promote] [--no-evaluation] [--settings JSON] [--memory SIZE] [--data DIR]"

func runTrain(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("train", trainUsage, stderr)
	dataDir := dataFlag(fs)
	projectName := fs.String("project", "", "project name")
	epochs := fs.Int("epochs", 0, "train this many epochs (alone: no time limit)")
	budget := fs.Duration("time", 0, "wall-clock training budget, e.g. 90s or 5m (alone: no epoch limit)")
	arch := fs.String("arch", "", "network architecture (default: the project's setting, else smallunet)")
	preset := fs.String("preset", "", `base settings: "default" (fast first model on a CPU) or "paper" (the published pipeline)`)
	fromScratch := fs.Bool("from-scratch", false, "start from fresh weights instead of the project's active model")
	initModel := fs.String("init-model", "", "fine-tune this model file (e.g. another project's download) instead of the project's active model")
	promote := fs.Bool("promote", false, "make the new model active even if it compares worse than the active one")
	noEvaluation := fs.Bool("no-evaluation", false, "skip the k-fold evaluation that follows a run with fewer than 30 labelled slices (every one trains the model)")
	extra := fs.String("settings", "", `more setting overrides as a JSON object, e.g. '{"crop_w":96,"crop_h":96}'`)
	var memory sizeFlag
	fs.Var(&memory, "memory", "memory budget of the run, e.g. 8GiB: a run estimated above it is refused (default: half of the machine's memory, at most 64GiB)")
	if err := fs.parse(args); err != nil {
		return err
	}
	if *projectName == "" {
		return usageError{errNoProject.Error()}
	}
	if err := fs.noArguments(); err != nil {
		return err
	}
	overrides, err := trainOverrides(fs, *epochs, *budget, *arch, *extra)
	if err != nil {
		return err
	}
	req := job.Request{Preset: *preset, Settings: overrides, FromScratch: *fromScratch, Promote: *promote, SkipEvaluation: *noEvaluation}
	if *initModel != "" {
		if *fromScratch {
			return usageError{"--init-model and --from-scratch exclude each other"}
		}
		if req.InitModel, err = os.ReadFile(*initModel); err != nil {
			return fmt.Errorf("--init-model: %w", err)
		}
		req.InitModelName = filepath.Base(*initModel)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	st, p, err := openProject(ctx, *dataDir, *projectName)
	if err != nil {
		return err
	}
	defer st.Close()

	worker, err := trainingWorker()
	if err != nil {
		return err
	}
	progress := newProgressPrinter(stdout)
	trainer := job.NewTrainer(job.Config{Store: st, Publish: func(_ int64, e event.Event) { progress.event(e) },
		Worker: job.WorkerConfig{Command: worker, MemoryBudget: int64(memory)}})
	defer trainer.Close()
	out, err := trainer.Train(ctx, p.ID, req)
	progress.end()
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return fmt.Errorf("training cancelled (run %d); the active model is unchanged", out.Run.ID)
		}
		return err
	}
	printOutcome(stdout, out)
	return nil
}

// sizeFlag is a byte size such as 8GiB, 512MiB, 2G or 1048576.
type sizeFlag int64

func (f *sizeFlag) String() string { return strconv.FormatInt(int64(*f), 10) }

func (f *sizeFlag) Set(v string) error {
	n, err := parseSize(v)
	if err != nil {
		return err
	}
	*f = sizeFlag(n)
	return nil
}

// parseSize reads a positive byte count with an optional unit: KiB, MiB, GiB, TiB (or K, M, G, T, KB, MB,
// GB, TB, all powers of 1024).
func parseSize(v string) (int64, error) {
	s := strings.TrimSpace(v)
	num := strings.TrimRightFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	unit := strings.ToUpper(strings.TrimSpace(s[len(num):]))
	unit = strings.TrimSuffix(strings.TrimSuffix(unit, "B"), "I")
	shift, ok := map[string]uint{"": 0, "K": 10, "M": 20, "G": 30, "T": 40}[unit]
	n, err := strconv.ParseInt(num, 10, 64)
	if !ok || err != nil || n <= 0 || n > (1<<62)>>shift {
		return 0, fmt.Errorf("size %q: want a positive number with an optional unit, e.g. 8GiB or 512MiB", v)
	}
	return n << shift, nil
}

// trainOverrides turns the flags into setting overrides. --epochs alone lifts the time budget and --time alone
// lifts the epoch limit, so each flag means what it says; given together, the run ends at whichever comes first.
func trainOverrides(fs *flagSet, epochs int, budget time.Duration, arch, extra string) (json.RawMessage, error) {
	o := map[string]any{}
	if extra != "" {
		if err := json.Unmarshal([]byte(extra), &o); err != nil || o == nil {
			return nil, usageError{"--settings must be a JSON object of training settings"}
		}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["epochs"] {
		if epochs < 1 {
			return nil, usageError{"--epochs must be at least 1"}
		}
		o["epochs"] = epochs
		if !set["time"] {
			o["budget_seconds"] = 0
		}
	}
	if set["time"] {
		if budget <= 0 {
			return nil, usageError{"--time must be positive, e.g. 90s or 5m"}
		}
		o["budget_seconds"] = budget.Seconds()
		if !set["epochs"] {
			o["epochs"] = 0
		}
	}
	if arch != "" {
		o["arch"] = arch
	}
	if len(o) == 0 {
		return nil, nil
	}
	return json.Marshal(o)
}

// progressPrinter shows a training run's progress: one redrawn bar on a terminal, else a line every few
// seconds and at every validation, so logs stay readable.
type progressPrinter struct {
	w         io.Writer
	terminal  bool
	last      time.Time // last progress line (not on a terminal)
	lastEpoch time.Time
	drawn     bool
	classes   []string
}

func newProgressPrinter(w io.Writer) *progressPrinter {
	p := &progressPrinter{w: w}
	if f, ok := w.(*os.File); ok {
		if info, err := f.Stat(); err == nil && info.Mode()&os.ModeCharDevice != 0 {
			p.terminal = true
		}
	}
	return p
}

const progressEvery = 5 * time.Second

func (p *progressPrinter) event(ev event.Event) {
	switch e := ev.(type) {
	case event.Run:
		if e.Run.Status == store.RunRunning {
			var s job.RunSettings
			if json.Unmarshal(e.Run.Settings, &s) == nil {
				p.classes = s.Train.ClassNames
				from := "from scratch"
				switch {
				case s.InitModel != nil:
					from = fmt.Sprintf("fine-tuning %s (sha256 %.12s)", s.InitModel.Name, s.InitModel.SHA256)
				case s.WarmStartModelID != nil:
					from = fmt.Sprintf("warm start from model %d", *s.WarmStartModelID)
				}
				fmt.Fprintf(p.w, "run %d: %s, %s preset, %s, crop %dx%d, batch %d, lr %g %s, loss %s, %s\n", e.Run.ID,
					s.Train.Arch, s.Preset, limits(s), s.Train.CropW, s.Train.CropH, s.Train.BatchSize,
					s.Train.LearningRate, s.Train.Schedule, s.Train.Loss, from)
			}
		}
	case event.Epoch:
		// Small training sets make epochs of a step or two: report a validation every few seconds at most.
		if time.Since(p.lastEpoch) < progressEvery {
			return
		}
		p.lastEpoch = time.Now()
		p.clear()
		fmt.Fprintf(p.w, "epoch %d (iteration %d): train loss %.4f", e.Epoch, e.Iteration, e.TrainLoss)
		if e.ValLoss != nil {
			fmt.Fprintf(p.w, ", validation loss %.4f", *e.ValLoss)
		}
		for i, d := range e.ValDice {
			fmt.Fprintf(p.w, ", %s Dice %.3f", className(p.classes, i), d)
		}
		if e.Best {
			fmt.Fprint(p.w, " (best)")
		}
		fmt.Fprintln(p.w)
	case event.Iteration:
		if p.terminal {
			fmt.Fprintf(p.w, "\r%s", progressLine(e.Progress))
			p.drawn = true
		} else if time.Since(p.last) >= progressEvery {
			fmt.Fprintln(p.w, strings.TrimSpace(progressLine(e.Progress)))
			p.last = time.Now()
		}
	case event.Predictions:
		p.clear()
		fmt.Fprintf(p.w, "model %d: predicted %d unlabelled slices\n", e.ModelID, e.Slices)
	case event.Evaluation:
		switch {
		case e.Status == event.EvaluationRunning && e.Fold == 0:
			fmt.Fprintf(p.w, "model %d: evaluating it with %d fold models (%s), each trained as long on the other folds' slices; Ctrl-C stops only this\n",
				e.ModelID, e.Folds, strings.TrimPrefix(e.Method, "k-fold-"))
		case e.Status == event.EvaluationRunning:
			line := fmt.Sprintf("cross-validation: fold %d of %d, ETA %s", e.Fold, e.Folds, (time.Duration(max(e.ETA, 0)) * time.Second).String())
			if p.terminal {
				fmt.Fprintf(p.w, "\r\033[K%s", line)
				p.drawn = true
			} else if time.Since(p.last) >= progressEvery {
				fmt.Fprintln(p.w, line)
				p.last = time.Now()
			}
		default:
			p.clear()
		}
	}
}

func (p *progressPrinter) clear() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
}

func (p *progressPrinter) end() { p.clear() }

// limits says when a run ends, e.g. "20 epochs or 2m0s budget".
func limits(s job.RunSettings) string {
	var parts []string
	if s.Train.Epochs > 0 {
		parts = append(parts, fmt.Sprintf("%d epochs", s.Train.Epochs))
	}
	if s.Train.BudgetSeconds > 0 {
		parts = append(parts, fmt.Sprintf("%s budget", time.Duration(s.Train.BudgetSeconds*float64(time.Second))))
	}
	return strings.Join(parts, " or ")
}

func className(names []string, i int) string {
	if i < len(names) {
		return names[i]
	}
	return fmt.Sprintf("class %d", i+1)
}

// progressLine is a 20-character bar with the iteration, loss, speed and time left.
func progressLine(e event.Progress) string {
	frac := 0.0
	if e.ETA >= 0 && e.Elapsed+e.ETA > 0 {
		frac = e.Elapsed / (e.Elapsed + e.ETA)
	}
	filled := int(frac * 20)
	eta := "?"
	if e.ETA >= 0 {
		eta = (time.Duration(e.ETA) * time.Second).String()
	}
	return fmt.Sprintf("[%s%s] %3.0f%% iteration %d epoch %d loss %.4f %.2f s/it ETA %s ",
		strings.Repeat("#", filled), strings.Repeat(".", 20-filled), 100*frac, e.Iteration, e.Epoch, e.TrainLoss,
		e.SecondsPerIteration, eta)
}

// printOutcome reports the finished run: time, model and whether it was promoted, and the evaluation metrics
// per class.
func printOutcome(w io.Writer, out job.Outcome) {
	m := out.Metrics
	state := "is active"
	if out.Model.Candidate {
		state = "is a candidate: the active model is unchanged (a reviewer can promote it in the app; --promote forces a run's model in)"
	}
	fmt.Fprintf(w, "run %d done: %d iterations, %d epochs in %.1f s (stopped by %s); model %d %s\n",
		out.Run.ID, m.Iterations, m.Epochs, m.TrainSeconds, m.Stopped, out.Model.ID, state)
	if pr := out.Promotion; pr != nil {
		fmt.Fprintf(w, "%s\n", pr.Rule)
		if pr.Areas.Flagged > 0 {
			fmt.Fprintf(w, "area check: %d of %d predicted slices have outlier areas (the active model: %d of %d)\n",
				pr.Areas.Flagged, pr.Areas.Slices, pr.Areas.ActiveFlagged, pr.Areas.ActiveSlices)
		}
	}
	if out.PeakMemory > 0 {
		fmt.Fprintf(w, "the training process used at most %d MiB of memory\n", (out.PeakMemory+(1<<20)-1)>>20)
	}
	if len(m.Classes) == 0 {
		switch {
		case m.EvaluationStopped != "":
			fmt.Fprintf(w, "not evaluated: the evaluation %s; the model trained on all %d labelled slices\n", m.EvaluationStopped, m.TrainSlices)
		case m.ValSlices == 0 && m.TrainSlices > 1:
			fmt.Fprintf(w, "not evaluated (--no-evaluation); the model trained on all %d labelled slices\n", m.TrainSlices)
		default:
			fmt.Fprintln(w, "no evaluation slices (label more slices to get metrics)")
		}
		return
	}
	if ev := m.Evaluation; ev.CrossValidated() {
		fmt.Fprintf(w, "evaluation: %s; the model trained on all %d, each was scored by a fold model trained without it:\n", ev, m.TrainSlices)
	} else {
		fmt.Fprintf(w, "evaluation on %d held-out labelled slices (best model by validation loss, iteration %d):\n", m.EvalSlices, m.BestIteration)
	}
	fmt.Fprintf(w, "  %-12s %6s %7s %9s %6s %11s %13s %14s\n", "class", "Dice", "Jaccard", "precision", "recall", "specificity", "Hausdorff mm", "mean surf. mm")
	for _, c := range m.Classes {
		fmt.Fprintf(w, "  %-12s %6.3f %7.3f %9.3f %6.3f %11.4f %13.2f %14.2f\n", c.Name, c.Dice, c.Jaccard,
			c.Precision, c.Recall, c.Specificity, c.HausdorffMM, c.MeanSurfaceMM)
	}
}
