package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mriworkbench/workbench/internal/ingest"
	"github.com/mriworkbench/workbench/nifti"
	"github.com/mriworkbench/workbench/store"
)

const importDatasetUsage = "import-dataset DIR --project P [--data DIR] [--skip-existing] [--author NAME]"

func runImportDataset(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("import-dataset", importDatasetUsage, stderr)
	dataDir := dataFlag(fs)
	projectName := fs.String("project", "", "project name (created with the dataset's classes when it does not exist)")
	skipExisting := fs.Bool("skip-existing", false, "skip cases whose volume name the project already has (default: refuse the import)")
	author := fs.String("author", "cli", "author recorded with the imported labels")
	positional, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if *projectName == "" {
		return usageError{errNoProject.Error()}
	}
	if len(positional) != 1 {
		return usageError{fmt.Sprintf("want exactly one dataset DIR, got %d (usage: workbench %s)", len(positional), importDatasetUsage)}
	}
	ds, err := ingest.OpenDataset(positional[0])
	if err != nil {
		return err
	}
	st, err := openStore(*dataDir)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	project, exists, err := findProject(ctx, st, *projectName, ds.Classes)
	if err != nil {
		return err
	}
	cases, skipped, err := casesToImport(ctx, st, project, exists, ds.Cases, *skipExisting)
	if err != nil {
		return err
	}
	// Every case is checked before anything is stored, so that a bad label map anywhere stores nothing. The
	// decoded voxels are dropped between the passes: a dataset may not fit in memory at once.
	for _, c := range cases {
		if _, err := decodeCase(c, project); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "checked %d cases of %s (%s)\n", len(cases), ds.Dir, caseCounts(cases))
	if !exists {
		if project, err = st.CreateProject(ctx, project.Name, project.Classes, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created project %q with classes %s\n", project.Name, strings.Join(project.ClassNames(), ","))
	}
	for _, name := range skipped {
		fmt.Fprintf(stdout, "skipped %s: the project already has this volume\n", name)
	}
	var imported []int64
	for i, c := range cases {
		meta, labelled, err := importCase(ctx, st, project, c, *author)
		if err != nil {
			return undoImport(ctx, st, project, !exists, imported, fmt.Errorf("%s: %w", c.Name(), err))
		}
		imported = append(imported, meta.ID)
		fmt.Fprintf(stdout, "[%d/%d] %s: volume %d, %dx%dx%d, %d labelled slices\n", i+1, len(cases), c.Name(), meta.ID,
			meta.Shape[0], meta.Shape[1], meta.Shape[2], labelled)
	}
	fmt.Fprintf(stdout, "imported %d volumes into project %q (%d skipped)\n", len(cases), project.Name, len(skipped))
	return nil
}

// casesToImport leaves out, or refuses, the cases whose volume name the project has already (in any case:
// exported directories could not tell them apart).
func casesToImport(ctx context.Context, st *store.Store, p store.Project, exists bool, all []ingest.DatasetCase,
	skipExisting bool) (cases []ingest.DatasetCase, skipped []string, err error) {
	have := map[string]string{}
	if exists {
		volumes, err := st.Volumes(ctx, p.ID)
		if err != nil {
			return nil, nil, err
		}
		for _, v := range volumes {
			have[strings.ToLower(v.Name)] = v.Name
		}
	}
	for _, c := range all {
		name, ok := have[strings.ToLower(c.Name())]
		switch {
		case !ok:
			cases = append(cases, c)
		case skipExisting:
			skipped = append(skipped, c.Name())
		default:
			return nil, nil, fmt.Errorf("%w: project %q already has volume %q (from %s); give --skip-existing to skip such cases",
				store.ErrConflict, p.Name, name, c.Image)
		}
	}
	return cases, skipped, nil
}

// decodedCase is a case read and checked: the image's bytes and decoding, and its labels on every slice.
type decodedCase struct {
	data   []byte
	dec    *ingest.Decoded
	labels []store.SliceMask
}

func decodeCase(c ingest.DatasetCase, p store.Project) (decodedCase, error) {
	data, err := os.ReadFile(c.Image)
	if err != nil {
		return decodedCase{}, fmt.Errorf("image: %w", err)
	}
	dec, err := ingest.Decode(c.Image, data, nifti.ReadOptions{})
	if err != nil {
		return decodedCase{}, err
	}
	// What the store would refuse later (e.g. a zero voxel size) is refused now, before any case is stored.
	if err := store.ValidateGeometry(store.GeometryOf(dec.Volume, dec.Orientation)); err != nil {
		return decodedCase{}, fmt.Errorf("%s: %w", c.Image, err)
	}
	out := decodedCase{data: data, dec: dec}
	if c.Labels != "" {
		if out.labels, err = labelMapLabels(dec.Image, p, c.Labels, ""); err != nil {
			return decodedCase{}, err
		}
	}
	return out, nil
}

func importCase(ctx context.Context, st *store.Store, p store.Project, c ingest.DatasetCase, author string) (store.VolumeMeta, int, error) {
	d, err := decodeCase(c, p)
	if err != nil {
		return store.VolumeMeta{}, 0, err
	}
	meta, _, err := ingest.Import(ctx, st, p.ID, c.Image, d.data, d.dec, d.labels, author)
	return meta, len(d.labels), err
}

// undoImport removes what a failed import stored (its volumes, and the project when it created it) and
// returns err, with any failure to undo.
func undoImport(ctx context.Context, st *store.Store, p store.Project, created bool, volumes []int64, err error) error {
	var undo []error
	if created {
		undo = append(undo, st.DeleteProject(ctx, p.ID))
	} else {
		for _, id := range volumes {
			undo = append(undo, st.DeleteVolume(ctx, id))
		}
	}
	if uerr := errors.Join(undo...); uerr != nil {
		return fmt.Errorf("%w (and removing what this import stored failed: %v)", err, uerr)
	}
	return err
}

func caseCounts(cases []ingest.DatasetCase) string {
	labelled := 0
	for _, c := range cases {
		if c.Labels != "" {
			labelled++
		}
	}
	return fmt.Sprintf("%d with label maps, %d without", labelled, len(cases)-labelled)
}
