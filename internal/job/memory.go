package job

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/mriworkbench/workbench/ml/train"
	"github.com/mriworkbench/workbench/store"
)

// Memory budget bounds: the default is half of the machine's memory (or of its cgroup's limit, when lower),
// within these.
const (
	minDefaultBudget = 1 << 30
	maxDefaultBudget = 64 << 30
	// unknownMemoryBudget is the default where the machine's memory cannot be read.
	unknownMemoryBudget = 4 << 30
)

// DefaultMemoryBudget is the memory a training run may use by default: half of the machine's memory, or of the
// cgroup's limit when that is lower, kept between 1 GiB and 64 GiB, so that the server, the browser and the
// rest of the machine keep the other half.
func DefaultMemoryBudget() int64 {
	total := memTotal()
	if limit := cgroupMemoryLimit(); limit > 0 && (total == 0 || limit < total) {
		total = limit
	}
	if total <= 0 {
		return unknownMemoryBudget
	}
	return min(max(total/2, minDefaultBudget), maxDefaultBudget)
}

// memTotal reads MemTotal from /proc/meminfo in bytes, 0 where unknown.
func memTotal() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == "MemTotal:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// cgroupMemoryLimit is the memory limit of this process's cgroup (v2 memory.max, else v1
// memory.limit_in_bytes) in bytes, 0 when there is none or it cannot be read.
func cgroupMemoryLimit() int64 {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		// "0::/path" (v2) or "N:memory:/path" (v1).
		parts := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(parts) != 3 {
			continue
		}
		var file string
		switch {
		case parts[0] == "0" && parts[1] == "":
			file = "/sys/fs/cgroup" + parts[2] + "/memory.max"
		case strings.Contains(","+parts[1]+",", ",memory,"):
			file = "/sys/fs/cgroup/memory" + parts[2] + "/memory.limit_in_bytes"
		default:
			continue
		}
		raw, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		// "max", or a huge number for no limit.
		if n, err := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64); err == nil && n > 0 && n < 1<<60 {
			return n
		}
	}
	return 0
}

// memoryModel is one architecture's fitted peak memory at the paper's width (64): the bytes that grow with
// the width squared (the parameters, their gradients and Adam's moments, the best checkpoint, the model file),
// and the bytes per pixel, growing with the width, of a training batch (batch_size x crop) and of an inference
// pass (inferenceSlices whole slices). SmallUNet's widths are fixed.
type memoryModel struct {
	params            int64
	trainPerPixel     float64
	inferencePerPixel float64
	scalesWithWidth   bool
}

// processBytes is a worker's own footprint (the Go runtime, the BLAS library and their buffers).
const processBytes = 60 << 20

// memoryModels are fitted to the worker's measured peak resident memory (VmHWM) at batch and crop settings of
// each architecture, on small (49x54) and large (256x192) slices: see BenchmarkWorkerPeakMemory and the table
// in README.md. Every measured peak is below its estimate before the margin.
var memoryModels = map[string]memoryModel{
	"smallunet":  {params: 40 << 20, trainPerPixel: 3450, inferencePerPixel: 2600},
	"unet":       {params: 880 << 20, trainPerPixel: 9200, inferencePerPixel: 3350, scalesWithWidth: true},
	"segnet":     {params: 1180 << 20, trainPerPixel: 6050, inferencePerPixel: 1700, scalesWithWidth: true},
	"nopoolaspp": {params: 0, trainPerPixel: 10650, inferencePerPixel: 13250, scalesWithWidth: true},
}

// memoryMargin is the safety factor over the fitted estimate: garbage collection makes peaks vary.
const memoryMargin = 1.25

// inferenceSlices is the number of whole slices (or tiles) in one inference pass (train.PredictOptions'
// default batch).
const inferenceSlices = 4

// MemoryEstimate is a run's expected peak memory, as a linear model the settings form can evaluate itself:
// Bytes = Fixed[arch] + PerCropPixel[arch] * batch_size * crop_w * crop_h.
type MemoryEstimate struct {
	Bytes  int64 `json:"bytes"`  // for the resolved settings
	Budget int64 `json:"budget"` // the trainer's budget: runs estimated above it are refused
	// Fixed and PerCropPixel are by architecture, for this project's slices and the resolved width.
	Fixed        map[string]int64   `json:"fixed"`
	PerCropPixel map[string]float64 `json:"perCropPixel"`
}

// memoryShape is what a run's memory depends on besides its settings: the slices it trains on and predicts.
type memoryShape struct {
	labelledPixels int64  // pixels of the labelled slices, held as samples
	largestSlice   [2]int // the largest slice's width and height, predicted whole
}

// estimate is the model's peak for the settings.
func (m memoryModel) estimate(s train.Settings, shape memoryShape) (fixed int64, perCropPixel float64) {
	width := 1.0
	if m.scalesWithWidth && s.Width > 0 {
		width = float64(s.Width) / 64
	}
	// Samples are held as float32 images and byte masks, plus the loader's normalised copies.
	samples := float64(shape.labelledPixels) * 9
	// An inference pass covers whole slices padded to a multiple of 32, tiled above train.MaxFullPixels.
	w, h := roundUp(shape.largestSlice[0], 32), roundUp(shape.largestSlice[1], 32)
	if w*h > train.MaxFullPixels {
		w, h = max(s.CropW, 256), max(s.CropH, 256)
	}
	inference := m.inferencePerPixel * width * float64(inferenceSlices*w*h)
	f := processBytes + float64(m.params)*width*width + samples + inference
	return int64(memoryMargin * f), memoryMargin * m.trainPerPixel * width
}

// estimateMemory is the run's estimated peak memory and its linear model by architecture.
func (t *Trainer) estimateMemory(ctx context.Context, s train.Settings, projectID int64) (MemoryEstimate, error) {
	shape, err := projectMemoryShape(ctx, t.cfg.Store, projectID)
	if err != nil {
		return MemoryEstimate{}, err
	}
	est := MemoryEstimate{Budget: t.cfg.Worker.MemoryBudget, Fixed: map[string]int64{}, PerCropPixel: map[string]float64{}}
	for arch, m := range memoryModels {
		fixed, per := m.estimate(s, shape)
		est.Fixed[arch], est.PerCropPixel[arch] = fixed, per
	}
	est.Bytes = est.Fixed[s.Arch] + int64(est.PerCropPixel[s.Arch]*float64(s.BatchSize)*float64(s.CropW)*float64(s.CropH))
	return est, nil
}

// projectMemoryShape reads the project's labelled pixels and largest slice.
func projectMemoryShape(ctx context.Context, st *store.Store, projectID int64) (memoryShape, error) {
	volumes, err := st.Volumes(ctx, projectID)
	if err != nil {
		return memoryShape{}, err
	}
	var shape memoryShape
	for _, v := range volumes {
		px := int64(v.Shape[0]) * int64(v.Shape[1])
		shape.labelledPixels += px * int64(v.Counts.Labelled+v.Counts.Verified)
		if px > int64(shape.largestSlice[0])*int64(shape.largestSlice[1]) {
			shape.largestSlice = [2]int{v.Shape[0], v.Shape[1]}
		}
	}
	return shape, nil
}

// checkMemory refuses a run whose estimate exceeds the budget with a *store.ValidationError that says which
// setting to lower.
func (t *Trainer) checkMemory(ctx context.Context, s train.Settings, projectID int64) error {
	est, err := t.estimateMemory(ctx, s, projectID)
	if err != nil {
		return err
	}
	if est.Bytes <= est.Budget {
		return nil
	}
	need := fmt.Sprintf("%s, batch_size %d at crop %dx%d needs about %s of memory, over the training budget of %s",
		s.Arch, s.BatchSize, s.CropW, s.CropH, formatBytes(est.Bytes), formatBytes(est.Budget))
	fixed, per := est.Fixed[s.Arch], est.PerCropPixel[s.Arch]
	if fixed >= est.Budget {
		hint := "predicting this project's largest slices alone takes it"
		if memoryModels[s.Arch].scalesWithWidth {
			hint = "lower width, or pick smallunet"
		}
		return &store.ValidationError{Msg: need + ": even one crop does not fit; " + hint}
	}
	room := float64(est.Budget - fixed)
	if maxBatch := int(room / (per * float64(s.CropW) * float64(s.CropH))); maxBatch >= 1 {
		return &store.ValidationError{Msg: fmt.Sprintf("%s: lower batch_size to %d or less at this crop, or lower crop_w and crop_h", need, maxBatch)}
	}
	side := int(math.Sqrt(room/(per*float64(s.BatchSize)))) / 8 * 8
	if side < 8 {
		return &store.ValidationError{Msg: need + ": lower batch_size, and crop_w and crop_h (not even 8x8 crops fit at this batch_size)"}
	}
	return &store.ValidationError{Msg: fmt.Sprintf("%s: lower crop_w and crop_h (to about %dx%d at this batch_size) or batch_size", need, side, side)}
}

// formatBytes writes a size in MiB, GiB or TiB, e.g. "1.5 GiB".
func formatBytes(n int64) string {
	if n >= 1<<40 {
		return fmt.Sprintf("%.1f TiB", float64(n)/(1<<40))
	}
	if n >= 1<<30 {
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	}
	return fmt.Sprintf("%d MiB", (n+(1<<20)-1)>>20)
}

func roundUp(n, k int) int { return (n + k - 1) / k * k }
