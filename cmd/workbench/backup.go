package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	workbench "github.com/mriworkbench/workbench"
	"github.com/mriworkbench/workbench/store"
)

const (
	backupUsage  = "backup --out FILE [--data DIR]"
	restoreUsage = "restore --from FILE [--data DIR]"
)

func runBackup(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("backup", backupUsage, stderr)
	dataDir := dataFlag(fs)
	out := fs.String("out", "", "archive to write (zip): a snapshot of the database, the IDENTITY and every stored file; "+
		"outside the data directory, replaced if it exists. The server may keep running")
	if err := fs.parse(args); err != nil {
		return err
	}
	if *out == "" {
		return usageError{"--out is required (usage: workbench " + backupUsage + ")"}
	}
	if err := fs.noArguments(); err != nil {
		return err
	}
	// Open would make a new workbench where there is none: a backup of nothing is a mistake.
	if _, err := os.Stat(filepath.Join(*dataDir, "workbench.db")); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s holds no workbench (no workbench.db): nothing to back up", *dataDir)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	st, err := openStore(*dataDir)
	if err != nil {
		return err
	}
	defer st.Close()
	start := time.Now()
	fmt.Fprintf(stdout, "backup of %s (data directory %s) to %s\n", st.DataDir(), st.Identity().ID, *out)
	m, err := st.Backup(ctx, *out, backupProgressPrinter(stdout, "backup"))
	if errors.Is(err, context.Canceled) {
		return errors.New("interrupted: no archive was written")
	}
	if err != nil {
		return err
	}
	size := int64(0)
	if info, err := os.Stat(*out); err == nil {
		size = info.Size()
	}
	fmt.Fprintf(stdout, "backup: wrote %s (%s; %s, %s, %s; %d files) in %s\n", *out, megabytes(size),
		count(m.Projects, "project"), count(m.Volumes, "volume"), count(m.Models, "model"), len(m.Files),
		time.Since(start).Round(time.Millisecond))
	return nil
}

func runRestore(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("restore", restoreUsage, stderr)
	dataDir := fs.String("data", "./data", "data directory to restore into: missing or empty")
	from := fs.String("from", "", "backup archive written by workbench backup")
	if err := fs.parse(args); err != nil {
		return err
	}
	if *from == "" {
		return usageError{"--from is required (usage: workbench " + restoreUsage + ")"}
	}
	if err := fs.noArguments(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	fmt.Fprintf(stdout, "restore of %s into %s\n", *from, *dataDir)
	m, err := store.Restore(ctx, *from, *dataDir, workbench.Migrations(), backupProgressPrinter(stdout, "restore"))
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("interrupted: nothing was restored into %s", *dataDir)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restore: %s is data directory %s as of %s: %s, %s, %s; integrity_check ok (%s)\n",
		*dataDir, m.Identity.ID, m.CreatedAt.Local().Format("2006-01-02 15:04:05"), count(m.Projects, "project"),
		count(m.Volumes, "volume"), count(m.Models, "model"), time.Since(start).Round(time.Millisecond))
	return nil
}

// backupProgressPrinter prints a line at each stage and, while files are copied, at most one a second.
func backupProgressPrinter(w io.Writer, verb string) func(store.BackupProgress) {
	var stage store.BackupStage
	var last time.Time
	return func(p store.BackupProgress) {
		switch {
		case p.Stage != stage:
			stage, last = p.Stage, time.Now()
			switch p.Stage {
			case store.StageSnapshot:
				fmt.Fprintf(w, "%s: taking a snapshot of the database\n", verb)
			case store.StageFiles:
				what := "stored files" // a backup copies the database apart
				if verb == "restore" {
					what = "files"
				}
				fmt.Fprintf(w, "%s: copying %d %s (%s)\n", verb, p.Files, what, megabytes(p.Bytes))
			case store.StageCheck:
				fmt.Fprintf(w, "%s: checking the restored database (integrity_check) and its files\n", verb)
			}
		case p.Stage == store.StageFiles && time.Since(last) >= time.Second:
			last = time.Now()
			fmt.Fprintf(w, "%s: %d/%d files, %s of %s\n", verb, p.FilesDone, p.Files, megabytes(p.BytesDone), megabytes(p.Bytes))
		}
	}
}

func megabytes(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }

// count says "1 volume", "3 volumes".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
