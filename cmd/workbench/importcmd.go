package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/mriworkbench/workbench/internal/ingest"
	"github.com/mriworkbench/workbench/nifti"
	"github.com/mriworkbench/workbench/store"
)

const importUsage = "import --project P [--classes wm,gm] [--data DIR] IMAGE [--mask CLASS=FILE]... | [--labels FILE] [--slices 0,3,7]"

// palette gives new projects' classes distinct colours, in order.
var palette = []string{"#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6", "#bcf60c", "#fabebe"}

// maskFlag collects repeated --mask CLASS=FILE in order: where masks overlap, the later class wins.
type maskFlag []ingest.ClassMask

func (m *maskFlag) String() string { return fmt.Sprint(*m) }

func (m *maskFlag) Set(v string) error {
	class, path, ok := strings.Cut(v, "=")
	if !ok || class == "" || path == "" {
		return fmt.Errorf("want CLASS=FILE, got %q", v)
	}
	*m = append(*m, ingest.ClassMask{Class: class, Path: path})
	return nil
}

func runImport(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("import", importUsage, stderr)
	dataDir := dataFlag(fs)
	projectName := fs.String("project", "", "project name (created when --classes is given and it does not exist)")
	classList := fs.String("classes", "", "comma-separated class names, e.g. wm,gm (background is implicit)")
	sliceList := fs.String("slices", "", "axial slices of the canonical grid to mark labelled (0 = most inferior); default all")
	author := fs.String("author", "cli", "author recorded with the imported labels")
	var masks maskFlag
	fs.Var(&masks, "mask", "CLASS=FILE binary mask of one class, same grid as the image (repeatable; later wins on overlap)")
	labelMap := fs.String("labels", "", "FILE: one integer label map on the image's grid, value k = the project's k-th class (not with --mask)")
	positional, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if *projectName == "" {
		return usageError{errNoProject.Error()}
	}
	if len(positional) != 1 {
		return usageError{fmt.Sprintf("want exactly one IMAGE, got %d (usage: workbench %s)", len(positional), importUsage)}
	}
	if *labelMap != "" && len(masks) > 0 {
		return usageError{"--labels and --mask are exclusive: give one label map or per-class masks"}
	}
	if *sliceList != "" && len(masks) == 0 && *labelMap == "" {
		return usageError{"--slices needs --labels or at least one --mask"}
	}
	imagePath := positional[0]
	classes, err := parseClassList(*classList)
	if err != nil {
		return err
	}
	if err := ingest.CheckFileName(imagePath); err != nil {
		return err
	}

	st, err := openStore(*dataDir)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()

	// Everything that can be refused is checked before a new project is created, so a refused import leaves
	// nothing behind.
	project, exists, err := findProject(ctx, st, *projectName, classes)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(imagePath)
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	dec, err := ingest.Decode(imagePath, data, nifti.ReadOptions{})
	if err != nil {
		return err
	}
	var labels []store.SliceMask
	if *labelMap != "" {
		labels, err = labelMapLabels(dec.Image, project, *labelMap, *sliceList)
	} else {
		labels, err = maskLabels(dec.Image, project, masks, *sliceList)
	}
	if err != nil {
		return err
	}
	if !exists {
		if project, err = st.CreateProject(ctx, project.Name, project.Classes, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created project %q with classes %s\n", project.Name, strings.Join(project.ClassNames(), ","))
	}
	fmt.Fprintf(stdout, "importing %s into project %q (%d labelled slices)\n", imagePath, project.Name, len(labels))
	meta, _, err := ingest.Import(ctx, st, project.ID, imagePath, data, dec, labels, *author)
	if err != nil {
		if !exists {
			// Nothing half-imported stays: the project this command created goes with the failed volume.
			if derr := st.DeleteProject(ctx, project.ID); derr != nil {
				return fmt.Errorf("%w (and removing the new project %q failed: %v)", err, project.Name, derr)
			}
		}
		return err
	}
	fmt.Fprintf(stdout, "volume %d %q: canonical shape %dx%dx%d, spacing %.4gx%.4gx%.4g mm\n", meta.ID, meta.Name,
		meta.Shape[0], meta.Shape[1], meta.Shape[2], meta.Spacing[0], meta.Spacing[1], meta.Spacing[2])
	if notice := dec.NonFinite.String(); notice != "" {
		fmt.Fprintf(stdout, "volume %d %q: %s\n", meta.ID, meta.Name, notice)
	}
	return nil
}

// parseClassList reads --classes "wm, gm" as trimmed names; empty means none given.
func parseClassList(list string) ([]string, error) {
	if list == "" {
		return nil, nil
	}
	names := strings.Split(list, ",")
	for i, n := range names {
		names[i] = strings.TrimSpace(n)
		if names[i] == "" {
			return nil, usageError{fmt.Sprintf("--classes %q: empty class name", list)}
		}
	}
	return names, nil
}

// findProject returns the named project, checking that given classes match its own; when it does not exist and
// classes are given, it returns the project to create (exists false), which the caller creates once the import
// has passed its checks.
func findProject(ctx context.Context, st *store.Store, name string, classes []string) (p store.Project, exists bool, err error) {
	p, err = st.ProjectByName(ctx, name)
	switch {
	case err == nil:
		if classes != nil && !slices.Equal(p.ClassNames(), classes) {
			return p, true, fmt.Errorf("project %q has classes %s, not %s", name,
				strings.Join(p.ClassNames(), ","), strings.Join(classes, ","))
		}
		return p, true, nil
	case !errors.Is(err, store.ErrNotFound):
		return p, false, err
	case classes == nil:
		return p, false, fmt.Errorf("project %q does not exist; give --classes to create it", name)
	case len(classes) > len(palette):
		return p, false, fmt.Errorf("at most %d classes, got %d", len(palette), len(classes))
	}
	p = store.Project{Name: name, Classes: make([]store.Class, len(classes))}
	for i, n := range classes {
		p.Classes[i] = store.Class{Name: n, Color: palette[i]}
	}
	return p, false, nil
}

// maskLabels merges per-class binary masks (in the image's source grid) into one class-index map on the
// canonical grid and cuts the chosen axial slices.
func maskLabels(img *nifti.Image, p store.Project, masks maskFlag, sliceList string) ([]store.SliceMask, error) {
	if len(masks) == 0 {
		return nil, nil
	}
	classMap, err := ingest.MergeMasks(img, p, masks)
	if err != nil {
		return nil, err
	}
	shape := img.Orientation().CanonicalShape(img.Header.Shape())
	chosen, err := parseSlices(sliceList, shape[2])
	if err != nil {
		return nil, err
	}
	return ingest.SliceLabels(classMap, shape, chosen), nil
}

// labelMapLabels reads an integer label map (in the image's source grid) and cuts the chosen axial slices of
// its canonical class map.
func labelMapLabels(img *nifti.Image, p store.Project, path, sliceList string) ([]store.SliceMask, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("label map: %w", err)
	}
	labels, err := ingest.ReadLabelMap(path, data, nifti.ReadOptions{})
	if err != nil {
		return nil, err
	}
	classMap, err := ingest.LabelMap(img, path, labels, p)
	if err != nil {
		return nil, err
	}
	shape := img.Orientation().CanonicalShape(img.Header.Shape())
	chosen, err := parseSlices(sliceList, shape[2])
	if err != nil {
		return nil, err
	}
	return ingest.SliceLabels(classMap, shape, chosen), nil
}

// parseSlices reads --slices "0,3,7" (empty: every slice), checking each index is an axial slice of the volume.
func parseSlices(list string, n int) ([]int, error) {
	chosen, err := ingest.ParseSlices(list, n)
	if err != nil {
		return nil, usageError{"--" + err.Error()}
	}
	return chosen, nil
}
