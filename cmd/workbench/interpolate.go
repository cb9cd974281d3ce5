package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/mriworkbench/workbench/internal/drafts"
	"github.com/mriworkbench/workbench/store"
)

const interpolateUsage = "interpolate --project P [--data DIR] VOLUME [--slices 0,4,8 | --copy-from Z --into Z2] [--class K] [--align] [--accept [--overwrite]] [--author A]"

func runInterpolate(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("interpolate", interpolateUsage, stderr)
	dataDir := dataFlag(fs)
	projectName := fs.String("project", "", "project name")
	sliceList := fs.String("slices", "", "labelled axial slices to interpolate between; default every labelled slice")
	className := fs.String("class", "", "only this class, by name or number (1 = the first class); default every class. Its drafts hold only that class")
	align := fs.Bool("align", false, "move the shapes onto their common path before blending (for structures that shift between slices)")
	accept := fs.Bool("accept", false, "store the drafts as labels with origin interpolated")
	overwrite := fs.Bool("overwrite", false, "with --accept, also replace slices that already have a label")
	author := fs.String("author", "cli", "author recorded with accepted drafts")
	copyFrom := fs.Int("copy-from", -1, "instead of interpolating, draft slice Z's label for the slice --into names (copy from the slice above/below)")
	into := fs.Int("into", -1, "with --copy-from, the slice that gets the copy")
	positional, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if *projectName == "" {
		return usageError{errNoProject.Error()}
	}
	if len(positional) != 1 {
		return usageError{fmt.Sprintf("want exactly one VOLUME (its name in the project), got %d (usage: workbench %s)", len(positional), interpolateUsage)}
	}
	if *overwrite && !*accept {
		return usageError{"--overwrite only makes sense with --accept"}
	}
	ctx := context.Background()
	st, p, err := openProject(ctx, *dataDir, *projectName)
	if err != nil {
		return err
	}
	defer st.Close()
	v, err := volumeByName(ctx, st, p, positional[0])
	if err != nil {
		return err
	}
	req := drafts.Request{Align: *align}
	if *copyFrom >= 0 || *into >= 0 {
		if *copyFrom < 0 || *into < 0 {
			return usageError{"--copy-from and --into go together"}
		}
		// drafts.Make refuses a copy mixed with --slices or --align, and slices outside the volume, in one line.
		req.CopyFrom, req.Into = copyFrom, into
	}
	if *sliceList != "" {
		if req.Slices, err = parseSlices(*sliceList, v.Shape[2]); err != nil {
			return err
		}
	}
	if *className != "" {
		if req.Class, err = classIndex(p, *className); err != nil {
			return err
		}
	}
	res, err := drafts.Make(ctx, st, v.ID, req)
	if err != nil {
		return err
	}

	stored, skipped := 0, 0
	for _, d := range res.Drafts {
		line := fmt.Sprintf("slice %d: %s", d.Slice, classAreas(p, d.Mask))
		if d.Existing != nil {
			line += fmt.Sprintf("; has a %s label (version %d%s)", d.Existing.Origin, d.Existing.Version, verifiedNote(d.Existing.Verified))
		}
		switch {
		case !*accept:
		case d.Existing != nil && !*overwrite:
			line += ", skipped (--overwrite replaces it)"
			skipped++
		default:
			l, err := st.SaveLabel(ctx, store.LabelWrite{VolumeID: v.ID, Slice: d.Slice, BaseVersion: d.BaseVersion,
				Mask: d.Mask, Author: *author, Origin: store.OriginInterpolated})
			if err != nil {
				return fmt.Errorf("slice %d: %w (%d drafts stored before it)", d.Slice, err, stored)
			}
			line += fmt.Sprintf(", stored as version %d", l.Version)
			stored++
		}
		fmt.Fprintln(stdout, line)
	}
	if *accept {
		fmt.Fprintf(stdout, "%d drafts for volume %q: %d stored with origin interpolated, %d skipped\n", len(res.Drafts), v.Name, stored, skipped)
	} else {
		fmt.Fprintf(stdout, "%d drafts for volume %q, not stored (--accept stores them)\n", len(res.Drafts), v.Name)
	}
	return nil
}

// volumeByName finds a project's volume by its name.
func volumeByName(ctx context.Context, st *store.Store, p store.Project, name string) (store.VolumeMeta, error) {
	volumes, err := st.Volumes(ctx, p.ID)
	if err != nil {
		return store.VolumeMeta{}, err
	}
	names := make([]string, len(volumes))
	for i, v := range volumes {
		if v.Name == name {
			return v.VolumeMeta, nil
		}
		names[i] = strconv.Quote(v.Name)
	}
	return store.VolumeMeta{}, fmt.Errorf("project %q has no volume %q (it has %s)", p.Name, name, orNone(strings.Join(names, ", ")))
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// classIndex reads a class given by name or by number (1-based, as in masks).
func classIndex(p store.Project, s string) (int, error) {
	names := p.ClassNames()
	for i, n := range names {
		if n == s {
			return i + 1, nil
		}
	}
	if k, err := strconv.Atoi(s); err == nil && k >= 1 && k <= len(names) {
		return k, nil
	}
	return 0, usageError{fmt.Sprintf("--class %q is neither a class of project %q (%s) nor a number 1..%d", s, p.Name, strings.Join(names, ","), len(names))}
}

// classAreas lists the voxels of each class in a mask, e.g. "wm 104 voxels, gm 25 voxels".
func classAreas(p store.Project, mask []uint8) string {
	parts := make([]string, 0, len(p.Classes))
	for i, name := range p.ClassNames() {
		parts = append(parts, fmt.Sprintf("%s %d voxels", name, bytes.Count(mask, []byte{uint8(i + 1)})))
	}
	return strings.Join(parts, ", ")
}

func verifiedNote(verified bool) string {
	if verified {
		return ", verified"
	}
	return ""
}
