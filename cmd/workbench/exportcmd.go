package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/mriworkbench/workbench/internal/export"
)

const exportUsage = "export --project P --out DIR [--manual-only] [--data DIR]"

func runExport(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("export", exportUsage, stderr)
	dataDir := dataFlag(fs)
	projectName := fs.String("project", "", "project name")
	outDir := fs.String("out", "", "directory to write NAME/NAME_seg.nii.gz, NAME/NAME_CLASS_seg.nii.gz and NAME/NAME_areas.csv into, per volume")
	manualOnly := fs.Bool("manual-only", false, "export manual labels only, leaving out model predictions")
	if err := fs.parse(args); err != nil {
		return err
	}
	if *projectName == "" || *outDir == "" {
		return usageError{"--project and --out are required (usage: workbench " + exportUsage + ")"}
	}
	if err := fs.noArguments(); err != nil {
		return err
	}
	ctx := context.Background()
	st, p, err := openProject(ctx, *dataDir, *projectName)
	if err != nil {
		return err
	}
	defer st.Close()
	volumes, err := st.Volumes(ctx, p.ID)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*outDir, 0o755); err != nil {
		return err
	}
	for i, v := range volumes {
		paths, err := export.Volume(ctx, st, v.ID, *outDir, *manualOnly)
		if err != nil {
			return fmt.Errorf("volume %q: %w", v.Name, err)
		}
		fmt.Fprintf(stdout, "[%d/%d] %s: %d files\n", i+1, len(volumes), v.Name, len(paths))
		for _, path := range paths {
			fmt.Fprintf(stdout, "  %s\n", path)
		}
	}
	fmt.Fprintf(stdout, "exported %d volumes of project %q to %s\n", len(volumes), p.Name, *outDir)
	return nil
}
