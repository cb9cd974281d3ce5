package main

import (
	"context"
	"errors"
	"fmt"

	workbench "github.com/mriworkbench/workbench"
	"github.com/mriworkbench/workbench/store"
)

// dataFlag registers the --data flag every subcommand that touches the store shares.
func dataFlag(fs *flagSet) *string {
	return fs.String("data", "./data", "data directory (SQLite database, volumes, models)")
}

// openProject opens the store and finds the named project; the caller closes the store.
func openProject(ctx context.Context, dataDir, name string) (*store.Store, store.Project, error) {
	st, err := openStore(dataDir)
	if err != nil {
		return nil, store.Project{}, err
	}
	p, err := st.ProjectByName(ctx, name)
	if err != nil {
		st.Close()
		return nil, store.Project{}, err // the store names the project
	}
	return st, p, nil
}

// noArguments refuses positional arguments for subcommands that take flags only.
func (fs *flagSet) noArguments() error {
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

func openStore(dataDir string) (*store.Store, error) {
	return store.Open(dataDir, workbench.Migrations())
}

// parseInterspersed parses flags that may come before and after positional arguments
// (`import --project P IMAGE --mask gm=F`), which the flag package alone stops at.
func parseInterspersed(fs *flagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

var errNoProject = errors.New("--project is required")

// listFlag collects a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string { return fmt.Sprint([]string(*l)) }

func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}
