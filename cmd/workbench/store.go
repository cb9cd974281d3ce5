package main

import (
	"errors"
	"fmt"

	workbench "github.com/mriworkbench/workbench"
	"github.com/mriworkbench/workbench/store"
)

// dataFlag registers the --data flag every subcommand that touches the store shares.
func dataFlag(fs *flagSet) *string {
	return fs.String("data", "./data", "data directory (SQLite database, volumes, models)")
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
