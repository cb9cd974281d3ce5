// Package drafts makes label drafts for a stored volume's axial slices: shape-based interpolation between
// labelled slices (internal/interp) or a copy of a neighbouring slice's label. Drafts are never stored here;
// a caller accepts one by saving it as a label with origin store.OriginInterpolated, based on the draft's
// BaseVersion. The HTTP API (POST /api/volumes/{vid}/interpolate) and the CLI (workbench interpolate) share it.
package drafts

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/mriworkbench/workbench/internal/interp"
	"github.com/mriworkbench/workbench/store"
)

// Request says which drafts to make. Zero values mean "all": every labelled slice, every class, every gap.
type Request struct {
	// Slices are the labelled slices to interpolate between (at least two); nil: every labelled slice.
	Slices []int
	// Class, when non-zero, drafts only that class (1-based, as in masks).
	Class int
	// From and To, when set, limit the drafts to slices in [From, To].
	From, To *int
	// Align moves the shapes onto their common path first (interp.Options.Align).
	Align bool
	// CopyFrom and Into, set together, ask instead for slice CopyFrom's label as the draft for slice Into
	// (with Class set, only that class of it).
	CopyFrom, Into *int
}

// Existing is a live label a draft would replace.
type Existing struct {
	Version  int    `json:"version"`
	Origin   string `json:"origin"`
	Verified bool   `json:"verified"`
}

// Draft is a proposed label for one slice.
type Draft struct {
	Slice int
	Mask  []uint8 // Width*Height class indices, x fastest
	// Existing is the slice's live label, nil when it has none.
	Existing *Existing
	// BaseVersion is the version a save of this draft is based on: the live label's, a deletion's, or 0 for
	// a slice never labelled.
	BaseVersion int
}

// Result is the drafts of one volume, by slice.
type Result struct {
	Width, Height int
	Drafts        []Draft
}

// Make computes the drafts the request asks for. Bad requests are *store.ValidationError (one line); an
// unknown volume is store.ErrNotFound.
func Make(ctx context.Context, st *store.Store, volumeID int64, req Request) (Result, error) {
	v, err := st.Volume(ctx, volumeID)
	if err != nil {
		return Result{}, err
	}
	p, err := st.Project(ctx, v.ProjectID)
	if err != nil {
		return Result{}, err
	}
	depth := v.Shape[2]
	if err := check(req, depth, len(p.Classes)); err != nil {
		return Result{}, err
	}
	states, err := st.SliceStates(ctx, volumeID)
	if err != nil {
		return Result{}, err
	}
	labels, err := st.Labels(ctx, volumeID)
	if err != nil {
		return Result{}, err
	}
	masks := make(map[int][]uint8, len(labels))
	for _, l := range labels {
		masks[l.Slice] = l.Mask
	}

	var proposed map[int][]uint8
	if req.CopyFrom != nil {
		mask, ok := masks[*req.CopyFrom]
		if !ok {
			return Result{}, invalid("slice %d has no label to copy", *req.CopyFrom)
		}
		proposed = map[int][]uint8{*req.Into: onlyClass(mask, req.Class)}
	} else {
		proposed, err = interpolate(v, len(p.Classes), masks, req)
		if err != nil {
			return Result{}, err
		}
	}

	out := Result{Width: v.Shape[0], Height: v.Shape[1]}
	for _, z := range slices.Sorted(maps.Keys(proposed)) {
		state := states[z]
		d := Draft{Slice: z, Mask: proposed[z], BaseVersion: state.LabelVersion}
		if state.Labelled() {
			d.Existing = &Existing{Version: state.LabelVersion, Origin: state.Origin, Verified: state.Verified}
		}
		out.Drafts = append(out.Drafts, d)
	}
	return out, nil
}

func interpolate(v store.VolumeMeta, classes int, masks map[int][]uint8, req Request) (map[int][]uint8, error) {
	labelled := masks
	if req.Slices != nil {
		labelled = make(map[int][]uint8, len(req.Slices))
		for _, z := range req.Slices {
			mask, ok := masks[z]
			if !ok {
				return nil, invalid("slice %d has no label to interpolate from", z)
			}
			labelled[z] = mask
		}
	}
	if len(labelled) < 2 {
		return nil, invalid("interpolation needs at least two labelled slices; %s %d", which(req), len(labelled))
	}
	opts := interp.Options{Class: req.Class, Align: req.Align}
	if req.From != nil || req.To != nil {
		r := interp.Range{From: 0, To: v.Shape[2] - 1}
		if req.From != nil {
			r.From = *req.From
		}
		if req.To != nil {
			r.To = *req.To
		}
		opts.Slices = &r
	}
	g := interp.Grid{Width: v.Shape[0], Height: v.Shape[1], Depth: v.Shape[2], SpacingX: v.Spacing[0], SpacingY: v.Spacing[1]}
	drafts, err := interp.Fill(g, labelled, classes, opts)
	if err != nil {
		return nil, invalid("%s", err.Error())
	}
	return drafts, nil
}

func which(req Request) string {
	if req.Slices != nil {
		return "the request names"
	}
	return "the volume has"
}

// check validates the request against the volume's depth and the project's classes.
func check(req Request, depth, classes int) error {
	inVolume := func(name string, z *int) error {
		if z != nil && (*z < 0 || *z >= depth) {
			return invalid("%s %d is outside the volume's slices 0..%d", name, *z, depth-1)
		}
		return nil
	}
	if req.Class < 0 || req.Class > classes {
		return invalid("class %d is not one of the project's classes 1..%d", req.Class, classes)
	}
	for _, f := range []struct {
		name string
		z    *int
	}{{"from", req.From}, {"to", req.To}, {"copyFrom", req.CopyFrom}, {"into", req.Into}} {
		if err := inVolume(f.name, f.z); err != nil {
			return err
		}
	}
	if req.From != nil && req.To != nil && *req.From > *req.To {
		return invalid("from %d is after to %d", *req.From, *req.To)
	}
	copying := req.CopyFrom != nil || req.Into != nil
	switch {
	case copying && (req.CopyFrom == nil || req.Into == nil):
		return invalid("copyFrom and into go together: the slice to copy and the slice to draft")
	case copying && (req.Slices != nil || req.From != nil || req.To != nil || req.Align):
		return invalid("copyFrom/into copies one slice; slices, from, to and align are for interpolation")
	case copying && *req.CopyFrom == *req.Into:
		return invalid("copyFrom and into are both slice %d", *req.Into)
	}
	seen := map[int]bool{}
	for _, z := range req.Slices {
		if err := inVolume("slice", &z); err != nil {
			return err
		}
		if seen[z] {
			return invalid("slice %d is listed twice", z)
		}
		seen[z] = true
	}
	return nil
}

// onlyClass is mask with every class but k cleared (k = 0: mask itself, copied).
func onlyClass(mask []uint8, k int) []uint8 {
	out := slices.Clone(mask)
	if k == 0 {
		return out
	}
	for i, v := range out {
		if int(v) != k {
			out[i] = 0
		}
	}
	return out
}

func invalid(format string, args ...any) error {
	return &store.ValidationError{Msg: fmt.Sprintf(format, args...)}
}
