// Command workbench is the segmentation workbench: one binary that serves the web app and runs batch work.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/mriworkbench/workbench/store"
)

// command is one subcommand; run gets the arguments after the subcommand's name.
type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{
	"serve":          {"serve the web app and API", runServe},
	"import":         {"import a NIfTI image, optionally with per-class masks or a label map", runImport},
	"import-dataset": {"import an MSD / nnU-Net dataset folder (imagesTr, labelsTr, imagesTs, dataset.json)", runImportDataset},
	"export":         {"write segmentations as NIfTI in each source's grid", runExport},
	"interpolate":    {"draft labels between labelled slices (shape-based); --accept stores them", runInterpolate},
	"train":          {"train a model on the project's labelled slices, then predict the rest", runTrain},
	"predict":        {"predict every unlabelled slice with the project's active model", runPredict},
	"segment":        {"segment a NIfTI image with a model file, without a project", runSegment},
	"simulate":       {"benchmark review orders with a simulated annotator who labels from expert masks", runSimulate},
	"worker":         {"internal: the training process that serve and train start (not for direct use)", runWorker},
	"backup":         {"write a backup archive of a data directory, while the server runs", runBackup},
	"restore":        {"restore a backup archive into a new data directory", runRestore},
	"user":           {"manage accounts: add, list, passwd, role, remove, token", runUser},
}

// usageError marks errors caused by how the command was called (exit status 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "workbench: unknown command %q (try workbench --help)\n", args[0])
		return 2
	}
	err := cmd.run(args[1:], stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	}
	fmt.Fprintf(stderr, "workbench %s: %s\n", args[0], store.OneLine(err.Error()))
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: workbench COMMAND [flags]  (workbench COMMAND --help for its flags)")
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-14s %s\n", name, commands[name].summary)
	}
}

// flagSet reports its errors instead of exiting: parse errors become one-line reasons (run prints them), and
// the full usage is printed only for -h/--help.
type flagSet struct {
	*flag.FlagSet
	usage  string
	stderr io.Writer
	help   bool
}

func newFlagSet(name, usage string, stderr io.Writer) *flagSet {
	fs := &flagSet{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError), usage: usage, stderr: stderr}
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.BoolVar(&fs.help, "h", false, "show this help")
	fs.BoolVar(&fs.help, "help", false, "show this help")
	return fs
}

// parse parses args, turning flag errors into usage errors and -h/--help into flag.ErrHelp.
func (fs *flagSet) parse(args []string) error {
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.help {
		fs.SetOutput(fs.stderr)
		fmt.Fprintf(fs.stderr, "usage: workbench %s\n", fs.usage)
		fs.PrintDefaults()
		return flag.ErrHelp
	}
	return nil
}
