package testenv

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Tmpfs mounts a new tmpfs of the given size (as mount's size= option: "512k", "2m") on a new directory and
// returns it; it is unmounted when the test ends. A small one is a real full disk. Mounting needs root (or
// CAP_SYS_ADMIN): where it is not permitted the test ends through Missing.
func Tmpfs(t testing.TB, size string) string {
	t.Helper()
	dir := t.TempDir()
	mount(t, "-t", "tmpfs", "-o", "size="+size+",mode=0755", "tmpfs", dir)
	t.Cleanup(func() { unmount(t, dir) })
	return dir
}

// FillDisk writes a file in dir until its disk is full (ENOSPC) and returns the file's path: removing it frees
// the space again.
func FillDisk(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the disk: %v", err)
			}
			return path
		}
	}
}

// ReadOnlyBind mounts dir on itself read-only until the test ends, so that writing under it fails with EROFS
// as on a file system mounted read-only. Files opened for writing before the call would keep it from
// succeeding (the kernel refuses), so call it on a directory nothing writes to yet.
func ReadOnlyBind(t testing.TB, dir string) {
	t.Helper()
	mount(t, "--bind", dir, dir)
	t.Cleanup(func() { unmount(t, dir) })
	if out, err := exec.Command("mount", "-o", "remount,bind,ro", dir).CombinedOutput(); err != nil {
		t.Fatalf("remount %s read-only: %v: %s", dir, err, strings.TrimSpace(string(out)))
	}
}

// RemountReadOnly makes the file system mounted at dir (e.g. by Tmpfs) read-only: nothing under it may be
// open for writing.
func RemountReadOnly(t testing.TB, dir string) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", "remount,ro", dir).CombinedOutput(); err != nil {
		t.Fatalf("remount %s read-only: %v: %s", dir, err, strings.TrimSpace(string(out)))
	}
}

func mount(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command("mount", args...).CombinedOutput(); err != nil {
		Missing(t, "cannot mount (the test needs root): mount %s: %v: %s",
			strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
}

// unmount detaches the mount even when something still holds a file open in it (umount -l), so a failing
// test does not leave mounts behind.
func unmount(t testing.TB, dir string) {
	if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
		t.Errorf("umount %s: %v: %s", dir, err, strings.TrimSpace(string(out)))
	}
}
