package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// recorder is a testing.TB that records how the test would have ended instead of ending it.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Skipf(format string, args ...any) { r.skipped = fmt.Sprintf(format, args...) }

func (r *recorder) Fatalf(format string, args ...any) { r.failed = fmt.Sprintf(format, args...) }

func TestRepoRootHoldsThisPackage(t *testing.T) {
	root := RepoRoot(t)
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "internal", "testenv", "testenv.go")); err != nil {
		t.Fatalf("repo root %s does not hold internal/testenv: %v", root, err)
	}
}

func TestMissingSkipsUnlessDataIsRequired(t *testing.T) {
	for _, c := range []struct {
		env        string
		skip, fail bool
	}{
		{"", true, false},
		{"0", true, false},
		{"1", false, true},
	} {
		t.Run("env="+c.env, func(t *testing.T) {
			t.Setenv(RequireDataEnv, c.env)
			r := &recorder{TB: t}
			path := SharedData(r, "no-such-data-set", "x/y.nii.gz")
			if want := filepath.Join(RepoRoot(t), "..", "shared", "data", "no-such-data-set", "x", "y.nii.gz"); path != want {
				t.Errorf("path %q, want %q", path, want)
			}
			if (r.skipped != "") != c.skip || (r.failed != "") != c.fail {
				t.Fatalf("skipped %q, failed %q; want skip %v, fail %v", r.skipped, r.failed, c.skip, c.fail)
			}
		})
	}
}

func TestRunPythonReturnsOutputAndFailsOnError(t *testing.T) {
	if _, err := os.Stat(Python); err != nil {
		Missing(t, "%s absent: %v", Python, err)
	}
	if got := RunPython(t, "-c", "print(6 * 7)"); got != "42\n" {
		t.Fatalf("output %q, want 42", got)
	}
	r := &recorder{TB: t}
	RunPython(r, "-c", "import sys; print('boom'); sys.exit(3)")
	if r.failed == "" {
		t.Fatal("a failing script did not fail the test")
	}
}
