package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/mriworkbench/workbench/internal/atomicfile"
	"github.com/mriworkbench/workbench/internal/export"
	"github.com/mriworkbench/workbench/internal/ingest"
	"github.com/mriworkbench/workbench/internal/job"
	"github.com/mriworkbench/workbench/nifti"
	"github.com/mriworkbench/workbench/store"
)

const simulateUsage = "simulate --from-project P --out DIR [--order spread|uncertainty|random] [--seed N] [--start 2] [--k 2] [--rounds 4] [--time 40s | --epochs N] [--settings JSON] [--data DIR]"

// Orders a simulated annotator can follow: the review queue's (store.QueueSpread, store.QueueUncertainty) or
// a seeded random one.
const orderRandom = "random"

// simulation is a simulated-annotator benchmark: the expert labels of a source project stand in for an
// annotator who, each round, labels the K slices that an order picks, after which the model retrains warm.
type simulation struct {
	Order    string           `json:"order"`
	Seed     uint64           `json:"seed"`
	K        int              `json:"k"`
	Settings json.RawMessage  `json:"settings,omitempty"`
	Classes  []string         `json:"classes"`
	Rounds   []simulatedRound `json:"rounds"`

	src, st *store.Store
	project store.Project
	volumes []simVolume
	out     string
	rng     *rand.Rand
}

// simVolume is a volume of the simulation with the expert labels of its source.
type simVolume struct {
	ID    int64           `json:"-"`
	Name  string          `json:"name"`
	Truth map[int][]uint8 `json:"-"` // canonical slice -> expert class mask: the pool the annotator labels from
	// TruthFile is the source project's manual-only export of the volume, in the source file's grid.
	TruthFile string `json:"truth"`
	Expert    []int  `json:"expert"` // the canonical slices with an expert label, sorted
}

// simulatedRound is one round: the model trained on Labelled slices, its segmentation of every volume
// exported, and the slices still to label (the remainder, where it is scored).
type simulatedRound struct {
	Round    int           `json:"round"`
	Labelled int           `json:"labelled"`
	ModelID  int64         `json:"modelId"`
	Seconds  float64       `json:"trainSeconds"`
	Iters    int           `json:"iterations"`
	Dice     []float64     `json:"dice"` // pooled over the remainder, per class, by the workbench (dice.py checks)
	Volumes  []roundVolume `json:"volumes"`
	Picked   []pickedSlice `json:"picked,omitempty"` // labelled after this round
	Finished time.Time     `json:"finished"`
}

type roundVolume struct {
	Name      string `json:"name"`
	Seg       string `json:"seg"`       // NAME_seg.nii.gz of this round, relative to the output directory
	Remainder []int  `json:"remainder"` // canonical slices with an expert label not yet given to the model
}

type pickedSlice struct {
	Volume string `json:"volume"`
	Slice  int    `json:"slice"`
}

func runSimulate(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("simulate", simulateUsage, stderr)
	dataDir := dataFlag(fs)
	from := fs.String("from-project", "", "project whose labels are the expert's (left unchanged)")
	out := fs.String("out", "", "new directory for the simulation's data directory, exports and curve.json")
	order := fs.String("order", store.QueueSpread, `which slices the annotator labels next: "spread" (the review queue), "uncertainty" or "random"`)
	seed := fs.Uint64("seed", 1, "seed of the random order and of training")
	start := fs.Int("start", 2, "labelled slices before the first round, spread over the volumes and along each structure")
	k := fs.Int("k", 2, "slices labelled per round")
	rounds := fs.Int("rounds", 4, "rounds of labelling after the first training")
	budget := fs.Duration("time", 0, "training time per round (default 40s unless --epochs)")
	epochs := fs.Int("epochs", 0, "training epochs per round, instead of a time budget")
	extra := fs.String("settings", "", "more training setting overrides as a JSON object")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := fs.noArguments(); err != nil {
		return err
	}
	switch {
	case *from == "":
		return usageError{"--from-project is required: the project whose labels play the expert"}
	case *out == "":
		return usageError{"--out is required"}
	case *order != store.QueueSpread && *order != store.QueueUncertainty && *order != orderRandom:
		return usageError{fmt.Sprintf("--order %q must be spread, uncertainty or random", *order)}
	case *start < 1 || *k < 1 || *rounds < 0:
		return usageError{"--start and --k must be at least 1, --rounds at least 0"}
	case *budget < 0 || *epochs < 0:
		return usageError{"--time and --epochs must be positive"}
	}
	settings, err := roundSettings(*budget, *epochs, *seed, *extra)
	if err != nil {
		return err
	}
	if _, err := os.Stat(*out); err == nil {
		return fmt.Errorf("--out %s exists: give a new directory", *out)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	src, p, err := openProject(ctx, *dataDir, *from)
	if err != nil {
		return err
	}
	defer src.Close()
	worker, err := trainingWorker()
	if err != nil {
		return err
	}
	sim := &simulation{Order: *order, Seed: *seed, K: *k, Settings: settings, Classes: p.ClassNames(), src: src,
		out: *out, rng: rand.New(rand.NewPCG(*seed, 0x5eed))}
	return sim.run(ctx, p, worker, *start, *rounds, stdout)
}

// roundSettings are the training overrides of every round: the budget, and the seed (so two seeds of the
// random order also train differently).
func roundSettings(budget time.Duration, epochs int, seed uint64, extra string) (json.RawMessage, error) {
	o := map[string]any{}
	if extra != "" {
		if err := json.Unmarshal([]byte(extra), &o); err != nil || o == nil {
			return nil, usageError{"--settings must be a JSON object of training settings"}
		}
	}
	switch {
	case epochs > 0 && budget > 0:
		o["epochs"], o["budget_seconds"] = epochs, budget.Seconds()
	case epochs > 0:
		o["epochs"], o["budget_seconds"] = epochs, 0
	default:
		if budget == 0 {
			budget = 40 * time.Second
		}
		o["epochs"], o["budget_seconds"] = 0, budget.Seconds()
	}
	o["seed"] = seed
	return json.Marshal(o)
}

func (sim *simulation) run(ctx context.Context, p store.Project, worker job.WorkerCommand, start, rounds int, stdout io.Writer) error {
	defer func() {
		if sim.st != nil {
			sim.st.Close()
		}
	}()
	if err := sim.setUp(ctx, p, start, stdout); err != nil {
		return err
	}
	trainer := job.NewTrainer(job.Config{Store: sim.st, Worker: job.WorkerConfig{Command: worker}})
	defer trainer.Close()
	for r := 0; r <= rounds; r++ {
		out, err := trainer.Train(ctx, sim.project.ID, job.Request{Settings: sim.Settings, FromScratch: r == 0, SkipEvaluation: true})
		if err != nil {
			return fmt.Errorf("round %d: %w", r, err)
		}
		// The annotator reviews the newest model's predictions, whether or not it was made active.
		if err := sim.st.SetActiveModel(ctx, sim.project.ID, out.Model.ID); err != nil {
			return fmt.Errorf("round %d: %w", r, err)
		}
		round, err := sim.score(ctx, r, out)
		if err != nil {
			return fmt.Errorf("round %d: %w", r, err)
		}
		if r < rounds {
			if round.Picked, err = sim.label(ctx); err != nil {
				return fmt.Errorf("round %d: %w", r, err)
			}
		}
		sim.Rounds = append(sim.Rounds, round)
		fmt.Fprintf(stdout, "round %d: %d labelled, %d iterations in %.0f s, remainder Dice %s; next %s\n", r,
			round.Labelled, round.Iters, round.Seconds, formatDice(sim.Classes, round.Dice), formatPicked(round.Picked))
		if err := sim.save(); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "curve written to %s\n", filepath.Join(sim.out, "curve.json"))
	return nil
}

// setUp creates the simulation's data directory with a copy of the source project (classes, settings, every
// volume from its original file), exports the expert labels, and gives the annotator's first labels.
func (sim *simulation) setUp(ctx context.Context, p store.Project, start int, stdout io.Writer) error {
	if err := os.MkdirAll(sim.out, 0o755); err != nil {
		return err
	}
	st, err := openStore(filepath.Join(sim.out, "data"))
	if err != nil {
		return err
	}
	sim.st = st
	if sim.project, err = st.CreateProject(ctx, p.Name, p.Classes, p.Settings); err != nil {
		return err
	}
	sources, err := sim.src.Volumes(ctx, p.ID)
	if err != nil {
		return err
	}
	for _, v := range sources {
		labels, err := sim.src.Labels(ctx, v.ID)
		if err != nil {
			return err
		}
		truth := map[int][]uint8{}
		for _, l := range labels {
			if !l.Deleted {
				truth[l.Slice] = l.Mask
			}
		}
		if len(truth) == 0 {
			continue // nothing to score or to label from
		}
		files, err := export.Volume(ctx, sim.src, v.ID, filepath.Join(sim.out, "truth"), true)
		if err != nil {
			return fmt.Errorf("export the expert labels of %q: %w", v.Name, err)
		}
		expert := slices.Sorted(maps.Keys(truth))
		sim.volumes = append(sim.volumes, simVolume{ID: v.ID, Name: v.Name, Truth: truth, TruthFile: sim.rel(files[0]), Expert: expert})
	}
	if len(sim.volumes) == 0 {
		return fmt.Errorf("project %q has no labelled slice to play the expert", p.Name)
	}
	first := startSlices(sim.volumes, start)
	for i := range sim.volumes {
		v := &sim.volumes[i]
		source := sources[slices.IndexFunc(sources, func(s store.VolumeSummary) bool { return s.ID == v.ID })].VolumeMeta
		data, err := os.ReadFile(sim.src.OriginalPath(source))
		if err != nil {
			return err
		}
		original := source.OriginalName
		dec, err := ingest.Decode(original, data, nifti.ReadOptions{})
		if err != nil {
			return err
		}
		var labels []store.SliceMask
		for _, z := range first[i] {
			labels = append(labels, store.SliceMask{Slice: z, Mask: v.Truth[z]})
		}
		meta, _, err := ingest.Import(ctx, sim.st, sim.project.ID, original, data, dec, labels, simulatedAuthor)
		if err != nil {
			return fmt.Errorf("volume %q: %w", v.Name, err)
		}
		v.ID, v.Name = meta.ID, meta.Name
	}
	fmt.Fprintf(stdout, "simulation of project %q: %d volumes, %d expert slices, %d labelled to start, order %s\n",
		p.Name, len(sim.volumes), sim.pool(), start, sim.Order)
	return nil
}

const simulatedAuthor = "simulated-annotator"

// startSlices are the first labels, as a user would give them: volumes in turn, each slice placed evenly
// along the volume's labelled structure (the slices whose expert mask is not all background; all expert
// slices where none has one). It returns each volume's slices.
func startSlices(volumes []simVolume, n int) [][]int {
	counts := make([]int, len(volumes))
	for i := range n {
		counts[i%len(volumes)]++
	}
	out := make([][]int, len(volumes))
	for i, v := range volumes {
		var structure, all []int
		for z, m := range v.Truth {
			all = append(all, z)
			if slices.ContainsFunc(m, func(c uint8) bool { return c != 0 }) {
				structure = append(structure, z)
			}
		}
		if len(structure) == 0 {
			structure = all
		}
		slices.Sort(structure)
		c := min(counts[i], len(structure))
		for j := range c {
			out[i] = append(out[i], structure[(2*j+1)*len(structure)/(2*c)])
		}
	}
	return out
}

// pool counts the expert slices.
func (sim *simulation) pool() int {
	n := 0
	for _, v := range sim.volumes {
		n += len(v.Truth)
	}
	return n
}

func (sim *simulation) rel(path string) string {
	if r, err := filepath.Rel(sim.out, path); err == nil {
		return r
	}
	return path
}

// score exports every volume's segmentation after a round's training and measures Dice on the remainder.
func (sim *simulation) score(ctx context.Context, r int, out job.Outcome) (simulatedRound, error) {
	round := simulatedRound{Round: r, ModelID: out.Model.ID, Seconds: out.Metrics.TrainSeconds, Iters: out.Metrics.Iterations}
	k := len(sim.Classes)
	inter, total := make([]float64, k+1), make([]float64, k+1)
	for _, v := range sim.volumes {
		states, err := sim.st.SliceStates(ctx, v.ID)
		if err != nil {
			return round, err
		}
		seg, err := sim.st.Segmentation(ctx, v.ID, false)
		if err != nil {
			return round, err
		}
		n := seg.Volume.SliceLen()
		rv := roundVolume{Name: v.Name}
		for z, st := range states {
			truth, expert := v.Truth[z]
			if st.Labelled() {
				round.Labelled++
				continue
			}
			if !expert {
				continue
			}
			rv.Remainder = append(rv.Remainder, z)
			for i, want := range truth {
				got := seg.Classes[z*n+i]
				if got == want && got != 0 {
					inter[got]++
				}
				total[got]++
				total[want]++
			}
		}
		files, err := export.Volume(ctx, sim.st, v.ID, filepath.Join(sim.out, fmt.Sprintf("round-%d", r)), false)
		if err != nil {
			return round, err
		}
		rv.Seg = sim.rel(files[0])
		round.Volumes = append(round.Volumes, rv)
	}
	for c := 1; c <= k; c++ {
		d := 1.0
		if total[c] > 0 {
			d = 2 * inter[c] / total[c]
		}
		round.Dice = append(round.Dice, d)
	}
	round.Finished = time.Now().UTC()
	return round, nil
}

// label has the annotator label the next K slices of the order with the expert's masks.
func (sim *simulation) label(ctx context.Context) ([]pickedSlice, error) {
	type key struct {
		volume int64
		slice  int
	}
	var candidates []key
	if sim.Order == orderRandom {
		for _, v := range sim.volumes {
			states, err := sim.st.SliceStates(ctx, v.ID)
			if err != nil {
				return nil, err
			}
			for z := range v.Truth {
				if !states[z].Labelled() {
					candidates = append(candidates, key{v.ID, z})
				}
			}
		}
		// Map order is random: sort first, so that the seed alone decides the order.
		slices.SortFunc(candidates, func(a, b key) int {
			return cmp.Or(cmp.Compare(a.volume, b.volume), cmp.Compare(a.slice, b.slice))
		})
		sim.rng.Shuffle(len(candidates), func(i, j int) { candidates[i], candidates[j] = candidates[j], candidates[i] })
	} else {
		queue, err := sim.st.ReviewQueueBy(ctx, sim.project.ID, 0, sim.Order)
		if err != nil {
			return nil, err
		}
		for _, q := range queue {
			candidates = append(candidates, key{q.VolumeID, q.Slice})
		}
	}
	var picked []pickedSlice
	for _, c := range candidates {
		if len(picked) == sim.K {
			break
		}
		i := slices.IndexFunc(sim.volumes, func(v simVolume) bool { return v.ID == c.volume })
		if i < 0 {
			continue
		}
		truth, ok := sim.volumes[i].Truth[c.slice]
		if !ok {
			continue // the expert did not label it: the annotator skips it, as nothing could score it
		}
		if _, err := sim.st.SaveLabel(ctx, store.LabelWrite{VolumeID: c.volume, Slice: c.slice, Mask: truth, Author: simulatedAuthor}); err != nil {
			return nil, err
		}
		picked = append(picked, pickedSlice{Volume: sim.volumes[i].Name, Slice: c.slice})
	}
	if len(picked) == 0 {
		return nil, errors.New("no slice is left to label")
	}
	return picked, nil
}

// save writes curve.json atomically, so a simulation stopped midway leaves the rounds it finished.
func (sim *simulation) save() error {
	body := struct {
		*simulation
		Volumes []simVolume `json:"volumes"`
	}{sim, sim.volumes}
	raw, err := json.MarshalIndent(body, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(sim.out, "curve.json"), 0o644, func(w io.Writer) error {
		_, err := w.Write(append(raw, '\n'))
		return err
	})
}

func formatDice(classes []string, dice []float64) string {
	parts := make([]string, len(dice))
	for i, d := range dice {
		parts[i] = fmt.Sprintf("%s %.3f", className(classes, i), d)
	}
	return strings.Join(parts, ", ")
}

func formatPicked(picked []pickedSlice) string {
	if len(picked) == 0 {
		return "none (last round)"
	}
	parts := make([]string, len(picked))
	for i, p := range picked {
		parts[i] = fmt.Sprintf("%s/%d", p.Volume, p.Slice)
	}
	return strings.Join(parts, " ")
}
