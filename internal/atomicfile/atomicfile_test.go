package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteReplacesTheFileWhole(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "areas.csv")
	for _, content := range []string{"first\n", "second, longer\n"} {
		if err := Write(path, 0o644, func(w io.Writer) error {
			_, err := io.WriteString(w, content)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Fatalf("content %q, %v; want %q", got, err, content)
		}
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v, %v", info.Mode(), err)
	}
	assertOnly(t, dir, "areas.csv")
}

// A failing writer leaves the previous file as it was and no temporary file.
func TestWriteFailureKeepsThePreviousFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("encoder failed")
	err := Write(path, 0o644, func(w io.Writer) error {
		io.WriteString(w, "half")
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("error %v, want the writer's", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "old" {
		t.Fatalf("content %q after a failed write", got)
	}
	assertOnly(t, dir, "model")

	if err := Write(filepath.Join(dir, "missing", "x"), 0o644, func(io.Writer) error { return nil }); err == nil {
		t.Fatal("writing into a missing directory succeeded")
	}
}

func TestWriteTempThenRename(t *testing.T) {
	dir := t.TempDir()
	tmp, err := WriteTemp(dir, ".partial-*", 0o444, func(w io.Writer) error {
		_, err := io.WriteString(w, "scan")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(tmp); err != nil || info.Mode().Perm() != 0o444 {
		t.Fatalf("temporary file %v, %v", info, err)
	}
	final := filepath.Join(dir, "1.nii.gz")
	if err := Rename(tmp, final); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(final); err != nil || string(got) != "scan" {
		t.Fatalf("renamed file %q, %v", got, err)
	}
	assertOnly(t, dir, "1.nii.gz")
}

func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if len(got) != len(names) {
		t.Fatalf("directory holds %v, want %v", got, names)
	}
	for i := range names {
		if got[i] != names[i] {
			t.Fatalf("directory holds %v, want %v", got, names)
		}
	}
}
