// Package testenv is what the test packages share to find the repository, the real MRI data beside it and the
// external tools some tests compare against (nibabel, Chromium).
//
// A test whose external input is absent skips with the reason, so a bare checkout still passes its own tests.
// CI sets WORKBENCH_REQUIRE_DATA=1, which turns those skips into failures: there the inputs are installed, and a
// test that quietly skipped would hide a broken path.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// RequireDataEnv names the environment variable that turns skips for absent external inputs into failures.
const RequireDataEnv = "WORKBENCH_REQUIRE_DATA"

// Python is the interpreter of Debian's python3-nibabel, python3-numpy and python3-scipy.
const Python = "/usr/bin/python3"

// Chromium is Debian's chromium, which the browser tests drive.
const Chromium = "/usr/bin/chromium"

// NibabelData is where Debian's python3-nibabel installs nibabel's own test images.
const NibabelData = "/usr/lib/python3/dist-packages/nibabel/tests/data"

// DataRequired reports whether absent external inputs fail tests instead of skipping them.
func DataRequired() bool { return os.Getenv(RequireDataEnv) == "1" }

// Missing ends the test because an external input is absent: a skip with the reason, or a failure when
// WORKBENCH_REQUIRE_DATA=1.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if DataRequired() {
		t.Fatalf(format+" ("+RequireDataEnv+"=1: required)", args...)
		return
	}
	t.Skipf(format, args...)
}

// RepoRoot walks up from the test's package directory to the directory holding go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's package directory")
		}
		dir = parent
	}
}

// SharedData returns <repo root>/../shared/data joined with parts (each may hold slash-separated elements),
// ending the test through Missing when that path does not exist.
func SharedData(t testing.TB, parts ...string) string {
	t.Helper()
	elems := []string{RepoRoot(t), "..", "shared", "data"}
	for _, p := range parts {
		elems = append(elems, filepath.FromSlash(p))
	}
	path := filepath.Join(elems...)
	if _, err := os.Stat(path); err != nil {
		Missing(t, "real MRI data absent: %v (tests expect ../shared/data beside the repository)", err)
	}
	return path
}

// RequireNibabel ends the test through Missing unless Python can import nibabel and numpy.
func RequireNibabel(t testing.TB) {
	t.Helper()
	if out, err := exec.Command(Python, "-c", "import nibabel, numpy").CombinedOutput(); err != nil {
		Missing(t, "%s cannot import nibabel (apt-get install python3-nibabel; make test installs it): %v: %s",
			Python, err, strings.TrimSpace(string(out)))
	}
}

// NibabelFile returns one of nibabel's own test images, ending the test through Missing when it is absent.
func NibabelFile(t testing.TB, name string) string {
	t.Helper()
	path := filepath.Join(NibabelData, name)
	if _, err := os.Stat(path); err != nil {
		Missing(t, "nibabel's test data absent (apt-get install python3-nibabel): %v", err)
	}
	return path
}

// RequireChromium returns the Chromium binary, ending the test through Missing when it is not installed.
func RequireChromium(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(Chromium); err != nil {
		Missing(t, "browser tests need Debian chromium at %s (make test installs it): %v", Chromium, err)
	}
	return Chromium
}

// RunPython runs Python with args in the test's package directory and returns its combined output, failing
// the test with that output when the script exits non-zero.
func RunPython(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(Python, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", Python, strings.Join(args, " "), err, out)
	}
	return string(out)
}
