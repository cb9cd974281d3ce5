package workbench_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The rules below hold the layering of ../shared/DESIGN.md: data flows one way, the engine (ml/...) and the
// NIfTI reader stay pure, and only the job meets stored labels and the engine. Packages are named relative to
// the module; "" is the root package and "ml/..." is ml and every package below it.
const module = "github.com/mriworkbench/workbench"

type layoutRule struct {
	pkg  string   // a package, or a pattern ending in "/..."
	may  []string // project packages its production files may import; "..." is any
	pure bool     // standard library only, no third-party code
	cgo  bool     // a pure package that may still import "C"
	skip bool     // not checked (test files only)
}

// Every project package has a row: a new package fails the test until it is added.
var layout = []layoutRule{
	{pkg: ""},
	{pkg: "nifti", pure: true},
	{pkg: "ml/...", may: []string{"ml/..."}, pure: true, cgo: true},
	{pkg: "internal/atomicfile", pure: true},
	{pkg: "internal/agreement", pure: true},
	{pkg: "internal/interp", pure: true},
	{pkg: "internal/drafts", may: []string{"store", "internal/interp"}},
	{pkg: "internal/testenv"},
	{pkg: "internal/auth"},
	{pkg: "store", may: []string{"nifti", "internal/atomicfile"}},
	{pkg: "internal/event", may: []string{"store"}},
	{pkg: "internal/ingest", may: []string{"nifti", "store"}},
	{pkg: "internal/export", may: []string{"nifti", "store", "internal/atomicfile"}},
	{pkg: "internal/job", may: []string{"store", "nifti", "ml/...", "internal/event", "internal/ingest", "internal/atomicfile"}},
	{pkg: "server", may: []string{"store", "nifti", "internal/event", "internal/ingest", "internal/export", "internal/job", "internal/auth", "internal/drafts", "internal/agreement", ""}},
	{pkg: "cmd/workbench", may: []string{"..."}},
	{pkg: "e2e", skip: true},
}

// Third-party code kept to the one package that needs it: HTTP and websockets in server, SQL in store.
var thirdParty = []struct {
	imp  string // an import path and everything below it
	only string // the one project package that may import it
}{
	{"github.com/labstack/echo", "server"},
	{"github.com/gorilla", "server"},
	{"github.com/mattn/go-sqlite3", "store"},
	{"golang.org/x/crypto", "internal/auth"},
}

// Only the job meets stored labels and the engine.
var meeting = []struct{ a, b, only string }{
	{"store", "ml/train", "internal/job"},
}

// Within cmd/workbench only the serve subcommand starts the HTTP server.
var fileRules = []struct{ pkg, imp, file string }{
	{"cmd/workbench", "server", "cmd/workbench/serve.go"},
}

// Line limits of production .go files, most specific directory first; "" is the whole repository.
var sizeLimits = []struct {
	dir string
	max int
}{
	{"server/", 400},
	{"", 700},
}

// layoutPkg is a project package as the rules see it: its path relative to the module and the imports of
// each production file, by file path relative to the repository root.
type layoutPkg struct {
	path  string
	files map[string][]string
}

func TestLayout(t *testing.T) {
	pkgs := loadPackages(t)
	lines := countLines(t, ".")
	for _, msg := range checkImports(pkgs) {
		t.Error(msg)
	}
	for _, msg := range checkSizes(lines) {
		t.Error(msg)
	}
}

// loadPackages lists the module's packages with `go list`, run in the repository root (the test's working
// directory), and reads the imports of their production files.
func loadPackages(t *testing.T) []layoutPkg {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the layout test runs `go list` but go is not on PATH: %v", err)
	}
	cmd := exec.Command(goTool, "list", "-e", "-json", "./...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -e -json ./...: %v\n%s", err, stderr.Bytes())
	}
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	var pkgs []layoutPkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			ImportPath        string
			Dir               string
			Standard          bool
			GoFiles, CgoFiles []string
			Error             *struct{ Err string }
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decoding go list output: %v", err)
		}
		rel, ok := relPath(p.ImportPath)
		if p.Standard || !ok {
			continue
		}
		if p.Error != nil {
			t.Errorf("package %s does not load: %s", p.ImportPath, p.Error.Err)
		}
		lp := layoutPkg{path: rel, files: map[string][]string{}}
		for _, name := range slices.Concat(p.GoFiles, p.CgoFiles) {
			file := filepath.Join(p.Dir, name)
			f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ImportsOnly)
			if err != nil {
				t.Errorf("parsing %s: %v", file, err)
				continue
			}
			relFile, err := filepath.Rel(root, file)
			if err != nil {
				t.Fatal(err)
			}
			var imps []string
			for _, spec := range f.Imports {
				imp, err := strconv.Unquote(spec.Path.Value)
				if err != nil {
					t.Fatalf("%s: import %s: %v", relFile, spec.Path.Value, err)
				}
				imps = append(imps, imp)
			}
			lp.files[filepath.ToSlash(relFile)] = imps
		}
		pkgs = append(pkgs, lp)
	}
	return pkgs
}

// countLines counts the lines of every production .go file under root, outside node_modules and testdata.
func countLines(t *testing.T, root string) map[string]int {
	t.Helper()
	lines := map[string]int{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (name == "node_modules" || name == "testdata" || strings.HasPrefix(name, ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		n := bytes.Count(data, []byte("\n"))
		if len(data) > 0 && data[len(data)-1] != '\n' {
			n++
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		lines[filepath.ToSlash(rel)] = n
		return nil
	})
	if err != nil {
		t.Fatalf("counting lines: %v", err)
	}
	return lines
}

// checkImports applies the import rules to pkgs and returns one message per violation, in a stable order.
func checkImports(pkgs []layoutPkg) []string {
	pkgs = slices.Clone(pkgs)
	slices.SortFunc(pkgs, func(a, b layoutPkg) int { return strings.Compare(a.path, b.path) })
	var msgs []string
	for _, p := range pkgs {
		rule, ok := ruleFor(p.path)
		if !ok {
			msgs = append(msgs, fmt.Sprintf("package %s is not in the layout table; add it with its allowed imports", show(p.path)))
			continue
		}
		if rule.skip {
			continue
		}
		files := slices.Sorted(maps.Keys(p.files))
		byImport := map[string][]string{} // import path -> files importing it
		for _, file := range files {
			for _, imp := range p.files[file] {
				if !slices.Contains(byImport[imp], file) {
					byImport[imp] = append(byImport[imp], file)
				}
			}
		}
		imports := slices.Sorted(maps.Keys(byImport))
		for _, imp := range imports {
			in := " (in " + strings.Join(byImport[imp], ", ") + ")"
			bad := func(why string) { msgs = append(msgs, fmt.Sprintf("%s imports %s: %s%s", show(p.path), imp, why, in)) }
			rel, own := relPath(imp)
			switch {
			case own && !matchAny(rule.may, rel):
				bad(mayText(p.path, rule))
			case !own && rule.pure && !isStdlib(imp) && !(imp == "C" && rule.cgo):
				bad(mayText(p.path, rule))
			}
			for _, tp := range thirdParty {
				if (imp == tp.imp || strings.HasPrefix(imp, tp.imp+"/")) && p.path != tp.only {
					bad(fmt.Sprintf("only %s may import %s/...", show(tp.only), tp.imp))
				}
			}
		}
		for _, m := range meeting {
			if p.path != m.only && byImport[module+"/"+m.a] != nil && byImport[module+"/"+m.b] != nil {
				msgs = append(msgs, fmt.Sprintf("%s imports both %s and %s: only %s may import both, the one place stored labels meet the engine (%s in %s; %s in %s)",
					show(p.path), m.a, m.b, show(m.only),
					m.a, strings.Join(byImport[module+"/"+m.a], ", "), m.b, strings.Join(byImport[module+"/"+m.b], ", ")))
			}
		}
		for _, fr := range fileRules {
			if p.path != fr.pkg {
				continue
			}
			for _, file := range byImport[module+"/"+fr.imp] {
				if file != fr.file {
					msgs = append(msgs, fmt.Sprintf("%s imports %s/%s: only %s may import %s", file, module, fr.imp, fr.file, show(fr.imp)))
				}
			}
		}
	}
	return msgs
}

// checkSizes applies the line limits to the line counts of production files, by path.
func checkSizes(lines map[string]int) []string {
	var msgs []string
	for _, file := range slices.Sorted(maps.Keys(lines)) {
		for _, lim := range sizeLimits {
			if !strings.HasPrefix(file, lim.dir) {
				continue
			}
			if n := lines[file]; n > lim.max {
				where := "production .go files"
				if lim.dir != "" {
					where += " under " + lim.dir
				}
				msgs = append(msgs, fmt.Sprintf("%s has %d lines: %s have at most %d", file, n, where, lim.max))
			}
			break
		}
	}
	return msgs
}

// ruleFor finds the rule of a package: its own row, else the first pattern covering it.
func ruleFor(pkg string) (layoutRule, bool) {
	for _, r := range layout {
		if r.pkg == pkg {
			return r, true
		}
	}
	for _, r := range layout {
		if strings.HasSuffix(r.pkg, "/...") && match(r.pkg, pkg) {
			return r, true
		}
	}
	return layoutRule{}, false
}

// match reports whether pkg is pattern, or lies under it when pattern ends in "/..."; "..." matches anything.
func match(pattern, pkg string) bool {
	if pattern == "..." {
		return true
	}
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return pkg == base || strings.HasPrefix(pkg, base+"/")
	}
	return pkg == pattern
}

func matchAny(patterns []string, pkg string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return match(p, pkg) })
}

// mayText says what a package may import, for messages.
func mayText(pkg string, r layoutRule) string {
	var allowed []string
	for _, m := range r.may {
		allowed = append(allowed, show(m))
	}
	list := strings.Join(allowed, ", ")
	switch {
	case r.pure:
		what := "the standard library"
		if r.cgo {
			what += `, "C"`
		}
		if list != "" {
			what += " and " + list
		}
		return fmt.Sprintf("%s may import only %s", show(pkg), what)
	case list != "":
		return fmt.Sprintf("%s may import, of the project's packages, only %s", show(pkg), list)
	default:
		return fmt.Sprintf("%s may import none of the project's packages", show(pkg))
	}
}

// relPath returns an import path relative to the module, and whether it is the module's.
func relPath(imp string) (string, bool) {
	if imp == module {
		return "", true
	}
	rel, ok := strings.CutPrefix(imp, module+"/")
	return rel, ok
}

// isStdlib reports whether imp is in the standard library: its first element has no dot, as cmd/go decides.
func isStdlib(imp string) bool {
	first, _, _ := strings.Cut(imp, "/")
	return imp != "C" && !strings.Contains(first, ".")
}

// show names a project package in messages.
func show(pkg string) string {
	if pkg == "" {
		return "the root package"
	}
	return pkg
}

func TestLayoutRulesAcceptCompliantLayout(t *testing.T) {
	w := module + "/"
	pkgs := []layoutPkg{
		{"", map[string][]string{"embed.go": {"embed", "io/fs"}}},
		{"nifti", map[string][]string{"nifti/read.go": {"compress/gzip", "os"}}},
		{"ml", map[string][]string{"ml/blas.go": {"C", "unsafe"}}},
		{"ml/train", map[string][]string{"ml/train/train.go": {w + "ml", w + "ml/data", w + "ml/metrics"}}},
		{"internal/atomicfile", map[string][]string{"internal/atomicfile/atomicfile.go": {"os"}}},
		{"store", map[string][]string{"store/store.go": {"database/sql", "github.com/mattn/go-sqlite3", w + "nifti", w + "internal/atomicfile"}}},
		{"internal/event", map[string][]string{"internal/event/event.go": {w + "store"}}},
		{"internal/ingest", map[string][]string{"internal/ingest/ingest.go": {w + "nifti", w + "store"}}},
		{"internal/export", map[string][]string{"internal/export/export.go": {w + "nifti", w + "store", w + "internal/atomicfile"}}},
		{"internal/job", map[string][]string{"internal/job/train.go": {w + "store", w + "ml/train", w + "internal/event"}}},
		{"server", map[string][]string{
			"server/server.go": {"github.com/labstack/echo/v4", "github.com/labstack/echo/v4/middleware", module},
			"server/hub.go":    {"github.com/gorilla/websocket", w + "internal/event", w + "internal/job"},
		}},
		{"cmd/workbench", map[string][]string{
			"cmd/workbench/serve.go": {w + "server", w + "store"},
			"cmd/workbench/train.go": {w + "internal/job", w + "nifti"},
		}},
		{"e2e", map[string][]string{"e2e/doc.go": {w + "ml/train", w + "store", "github.com/gorilla/websocket"}}},
	}
	if msgs := checkImports(pkgs); len(msgs) > 0 {
		t.Errorf("compliant layout got violations:\n%s", strings.Join(msgs, "\n"))
	}
	sizes := map[string]int{"server/server.go": 400, "ml/cpu.go": 700}
	if msgs := checkSizes(sizes); len(msgs) > 0 {
		t.Errorf("compliant sizes got violations:\n%s", strings.Join(msgs, "\n"))
	}
}

func TestLayoutRulesReportViolations(t *testing.T) {
	w := module + "/"
	pkgs := []layoutPkg{
		{"nifti", map[string][]string{"nifti/read.go": {"os", "github.com/klauspost/compress", "C"}}},
		{"ml/data", map[string][]string{"ml/data/loader.go": {w + "store", w + "ml"}}},
		{"server", map[string][]string{
			"server/trainer.go": {w + "store", w + "ml/train"},
			"server/models.go":  {w + "ml/train"},
		}},
		{"cmd/workbench", map[string][]string{
			"cmd/workbench/serve.go": {w + "server"},
			"cmd/workbench/train.go": {w + "server", "github.com/gorilla/websocket"},
		}},
		{"internal/cache", map[string][]string{"internal/cache/cache.go": {"sync"}}},
	}
	want := []string{
		"cmd/workbench imports github.com/gorilla/websocket: only server may import github.com/gorilla/... (in cmd/workbench/train.go)",
		"cmd/workbench/train.go imports github.com/mriworkbench/workbench/server: only cmd/workbench/serve.go may import server",
		"package internal/cache is not in the layout table; add it with its allowed imports",
		"ml/data imports github.com/mriworkbench/workbench/store: ml/data may import only the standard library, \"C\" and ml/... (in ml/data/loader.go)",
		"nifti imports C: nifti may import only the standard library (in nifti/read.go)",
		"nifti imports github.com/klauspost/compress: nifti may import only the standard library (in nifti/read.go)",
		"server imports github.com/mriworkbench/workbench/ml/train: server may import, of the project's packages, only store, nifti, internal/event, internal/ingest, internal/export, internal/job, internal/auth, internal/drafts, internal/agreement, the root package (in server/models.go, server/trainer.go)",
		"server imports both store and ml/train: only internal/job may import both, the one place stored labels meet the engine (store in server/trainer.go; ml/train in server/models.go, server/trainer.go)",
	}
	checkMessages(t, checkImports(pkgs), want)

	sizes := map[string]int{"server/trainer.go": 752, "server/hub.go": 401, "store/volumes.go": 701, "ml/cpu.go": 700}
	checkMessages(t, checkSizes(sizes), []string{
		"server/hub.go has 401 lines: production .go files under server/ have at most 400",
		"server/trainer.go has 752 lines: production .go files under server/ have at most 400",
		"store/volumes.go has 701 lines: production .go files have at most 700",
	})
}

func checkMessages(t *testing.T, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("got messages:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
