package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/mriworkbench/workbench/nifti"
	"github.com/mriworkbench/workbench/server"
	"github.com/mriworkbench/workbench/store"
)

const importUsage = "import --project P [--classes wm,gm] [--data DIR] IMAGE [--mask CLASS=FILE]... [--slices 0,3,7]"

// palette gives new projects' classes distinct colours, in order.
var palette = []string{"#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6", "#bcf60c", "#fabebe"}

// maskFlag collects repeated --mask CLASS=FILE in order: where masks overlap, the later class wins.
type maskFlag []classMask

type classMask struct{ class, path string }

func (m *maskFlag) String() string { return fmt.Sprint(*m) }

func (m *maskFlag) Set(v string) error {
	class, path, ok := strings.Cut(v, "=")
	if !ok || class == "" || path == "" {
		return fmt.Errorf("want CLASS=FILE, got %q", v)
	}
	*m = append(*m, classMask{class, path})
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
	if *sliceList != "" && len(masks) == 0 {
		return usageError{"--slices needs at least one --mask"}
	}
	imagePath := positional[0]
	classes, err := parseClassList(*classList)
	if err != nil {
		return err
	}
	if !importable(imagePath) {
		return fmt.Errorf("%s: only .nii and .nii.gz files can be imported (convert a .hdr/.img pair to .nii first)", imagePath)
	}

	st, err := openStore(*dataDir)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()

	// Everything that can be refused is checked before a new project is created, so a refused import leaves
	// nothing behind; the store has no project deletion to undo one.
	project, exists, err := findProject(ctx, st, *projectName, classes)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(imagePath)
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	img, err := nifti.ReadBytes(imagePath, data)
	if err != nil {
		return fmt.Errorf("%s: %w", imagePath, err)
	}
	labels, err := maskLabels(img, project.Classes, masks, *sliceList)
	if err != nil {
		return err
	}
	if !exists {
		if project, err = st.CreateProject(ctx, project.Name, project.Classes, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created project %q with classes %s\n", project.Name, strings.Join(classNames(project.Classes), ","))
	}
	fmt.Fprintf(stdout, "importing %s into project %q (%d labelled slices)\n", imagePath, project.Name, len(labels))
	meta, err := server.ImportImage(ctx, st, project.ID, imagePath, data, img, labels, *author)
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

// importable reports whether the store can keep the file as a volume's original: one file holding the whole
// image, so not half of an Analyze/NIfTI pair.
func importable(path string) bool {
	lower := strings.ToLower(path)
	return strings.HasSuffix(lower, ".nii") || strings.HasSuffix(lower, ".nii.gz")
}

// findProject returns the named project, checking that given classes match its own; when it does not exist and
// classes are given, it returns the project to create (exists false), which the caller creates once the import
// has passed its checks.
func findProject(ctx context.Context, st *store.Store, name string, classes []string) (p store.Project, exists bool, err error) {
	p, err = st.ProjectByName(ctx, name)
	switch {
	case err == nil:
		if classes != nil && !slices.Equal(classNames(p.Classes), classes) {
			return p, true, fmt.Errorf("project %q has classes %s, not %s", name,
				strings.Join(classNames(p.Classes), ","), strings.Join(classes, ","))
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

func classNames(classes []store.Class) []string {
	names := make([]string, len(classes))
	for i, c := range classes {
		names[i] = c.Name
	}
	return names
}

// maskLabels merges per-class binary masks (in the image's source grid) into one class-index map, puts it on
// the canonical grid as the image is, and cuts the chosen axial slices.
func maskLabels(img *nifti.Image, classes []store.Class, masks maskFlag, sliceList string) ([]store.SliceMask, error) {
	if len(masks) == 0 {
		return nil, nil
	}
	srcShape := img.Header.Shape()
	affine := img.Affine()
	orientation := img.Orientation()
	merged := make([]uint8, srcShape[0]*srcShape[1]*srcShape[2])
	for _, m := range masks {
		class := classIndex(classes, m.class)
		if class == 0 {
			return nil, fmt.Errorf("--mask %s: unknown class %q (project classes: %s)", m.path, m.class, strings.Join(classNames(classes), ","))
		}
		mask, err := nifti.Read(m.path)
		if err != nil {
			return nil, fmt.Errorf("mask %s: %w", m.path, err)
		}
		if got := mask.Header.Shape(); got != srcShape {
			return nil, fmt.Errorf("mask %s: shape %v differs from the image's %v", m.path, got, srcShape)
		}
		if d := maxAbsDiff(mask.Affine(), affine); d > 1e-3 {
			return nil, fmt.Errorf("mask %s: affine differs from the image's (by up to %.3g mm)", m.path, d)
		}
		for i, v := range mask.Data {
			if v >= 0.5 { // binary masks; a probabilistic one is thresholded at one half
				merged[i] = class
			}
		}
	}
	canonicalShape := orientation.CanonicalShape(srcShape)
	canonical := orientation.ToCanonical(merged, srcShape)
	slices, err := parseSlices(sliceList, canonicalShape[2])
	if err != nil {
		return nil, err
	}
	plane := canonicalShape[0] * canonicalShape[1]
	labels := make([]store.SliceMask, len(slices))
	for i, z := range slices {
		labels[i] = store.SliceMask{Slice: z, Mask: canonical[z*plane : (z+1)*plane]}
	}
	return labels, nil
}

func classIndex(classes []store.Class, name string) uint8 {
	for i, c := range classes {
		if c.Name == name {
			return uint8(i + 1)
		}
	}
	return 0
}

func maxAbsDiff(a, b [4][4]float64) float64 {
	var d float64
	for i := range a {
		for j := range a[i] {
			d = math.Max(d, math.Abs(a[i][j]-b[i][j]))
		}
	}
	return d
}

// parseSlices reads "0,3,7" (empty: every slice), checking each index is an axial slice of the volume.
func parseSlices(list string, n int) ([]int, error) {
	if list == "" {
		all := make([]int, n)
		for i := range all {
			all[i] = i
		}
		return all, nil
	}
	seen := map[int]bool{}
	var out []int
	for _, f := range strings.Split(list, ",") {
		z, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, usageError{fmt.Sprintf("--slices: %q is not a slice index", f)}
		}
		if z < 0 || z >= n {
			return nil, usageError{fmt.Sprintf("--slices: %d is outside the volume's axial slices 0..%d", z, n-1)}
		}
		if !seen[z] {
			seen[z] = true
			out = append(out, z)
		}
	}
	sort.Ints(out)
	return out, nil
}
