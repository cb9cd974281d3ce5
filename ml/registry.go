package ml

import (
	"fmt"
	"sort"
	"sync"
)

// Network is an architecture the engine can train: a graph of layers on buffers it owns.
// Inputs and logits are channel-major (C, N, H, W); Model converts from and to the
// sample-major (N, C, H, W) order callers use.
type Network interface {
	// Params lists the trainable tensors, Buffers the non-trainable state (batch-norm
	// running statistics), each in a stable order with stable names.
	Params() []*Param
	Buffers() []*Param
	// Config is the configuration the network was built with.
	Config() ArchConfig
	// SizeMultiple is the number both image sides must be a multiple of.
	SizeMultiple() int
	// SetDropout changes the dropout rate of every dropout layer.
	SetDropout(p float32)
	// SetDropoutInEval keeps dropout active in evaluation mode, for Monte-Carlo dropout:
	// batch norm still uses its running statistics.
	SetDropoutInEval(on bool)
	// Forward returns the logits of n samples of h x w; train selects batch statistics and
	// dropout. The result is valid until the next Forward.
	Forward(x []float32, n, h, w int, train bool) ([]float32, error)
	// Backward accumulates parameter gradients from the gradient w.r.t. the logits of the
	// last training Forward.
	Backward(dLogits []float32)
}

// ArchConfig configures a network.
type ArchConfig struct {
	InChannels int     // image channels (1 for MRI slices)
	Classes    int     // K named classes; the network outputs K+1 channels, or 1 when K == 1
	DropRate   float32 // Dropout2d probability (the pipeline uses 0.3)
	BNMomentum float32 // batch-norm momentum (0.1)
	Seed       uint64  // initial weights and dropout masks
	// Width is the number of filters of the first level (UNet, SegNet) or of every
	// convolution (NoPoolASPP); deeper levels scale with it. 0 means the paper's 64.
	// SmallUNet has fixed widths and ignores it.
	Width int
}

// DefaultArchConfig is the pipeline's configuration for k classes.
func DefaultArchConfig(k int) ArchConfig {
	return ArchConfig{InChannels: 1, Classes: k, DropRate: 0.3, BNMomentum: 0.1, Seed: 1}
}

// OutChannels is the number of output channels: background plus K classes with a
// softmax, or a single sigmoid channel for one class.
func (c ArchConfig) OutChannels() int {
	if c.Classes == 1 {
		return 1
	}
	return c.Classes + 1
}

func (c ArchConfig) validate() error {
	switch {
	case c.InChannels < 1:
		return fmt.Errorf("in-channels %d: need at least 1", c.InChannels)
	case c.Classes < 1 || c.Classes > 254:
		return fmt.Errorf("classes %d: need 1 to 254", c.Classes)
	case c.DropRate < 0 || c.DropRate >= 1:
		return fmt.Errorf("dropout rate %g: need [0, 1)", c.DropRate)
	case c.BNMomentum < 0 || c.BNMomentum > 1:
		return fmt.Errorf("batch-norm momentum %g: need [0, 1]", c.BNMomentum)
	case c.Width < 0:
		return fmt.Errorf("width %d: need 0 (the paper's) or more", c.Width)
	}
	return nil
}

// ArchBuilder builds a network for a configuration on a backend.
type ArchBuilder func(cfg ArchConfig, be Backend) (Network, error)

var (
	archMu sync.RWMutex
	archs  = map[string]ArchBuilder{}
)

// RegisterArch makes an architecture available to NewNetwork under name. It panics on a
// duplicate name, which is a programming error.
func RegisterArch(name string, build ArchBuilder) {
	archMu.Lock()
	defer archMu.Unlock()
	if _, dup := archs[name]; dup {
		panic("ml: architecture registered twice: " + name)
	}
	archs[name] = build
}

// Archs lists the registered architecture names, sorted.
func Archs() []string {
	archMu.RLock()
	defer archMu.RUnlock()
	names := make([]string, 0, len(archs))
	for n := range archs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// NewNetwork builds the architecture called name; be nil means DefaultBackend.
func NewNetwork(name string, cfg ArchConfig, be Backend) (Network, error) {
	archMu.RLock()
	build, ok := archs[name]
	archMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("unknown architecture %q (have %v)", name, Archs())
	}
	if be == nil {
		be = DefaultBackend
	}
	return build(cfg, be)
}

// width returns cfg.Width, or def (the paper's width) when it is 0.
func (c ArchConfig) width(def int) int {
	if c.Width == 0 {
		return def
	}
	return c.Width
}
