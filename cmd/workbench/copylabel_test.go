package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/mriworkbench/workbench/store"
)

// interpolate --copy-from Z --into Z2 drafts (and with --accept stores) slice Z's label as slice Z2's.
func TestInterpolateCopyFrom(t *testing.T) {
	data, vol := importT2sOn(t, "0,4")
	out := mustRun(t, "interpolate", "--data", data, "--project", "p", vol, "--copy-from", "4", "--into", "5")
	if !strings.Contains(out, "slice 5: wm ") || !strings.Contains(out, "1 drafts for volume \"t2s\", not stored") {
		t.Fatalf("dry copy: %q", out)
	}
	before := currentLabels(t, data)
	if _, ok := before[5]; ok {
		t.Fatal("a dry copy stored slice 5")
	}
	mustRun(t, "interpolate", "--data", data, "--project", "p", vol, "--copy-from", "4", "--into", "5", "--accept", "--author", "bot")
	after := currentLabels(t, data)
	if l := after[5]; !bytes.Equal(l.Mask, before[4].Mask) || l.Origin != store.OriginInterpolated || l.Author != "bot" {
		t.Fatalf("slice 5 after the copy: origin %q author %q, equal to slice 4: %v", l.Origin, l.Author, bytes.Equal(l.Mask, before[4].Mask))
	}

	for _, c := range []struct {
		args   []string
		reason string
	}{
		{[]string{"--copy-from", "4"}, "--copy-from and --into go together"},
		{[]string{"--into", "4"}, "--copy-from and --into go together"},
		{[]string{"--copy-from", "2", "--into", "3"}, "2"},
		{[]string{"--copy-from", "4", "--into", "99"}, "99"},
		{[]string{"--copy-from", "0", "--into", "1", "--slices", "0,4"}, "slices"},
	} {
		r := invoke(t, append([]string{"interpolate", "--data", data, "--project", "p", vol}, c.args...)...)
		msg := strings.TrimSpace(r.stderr)
		if r.code == 0 || !strings.Contains(msg, c.reason) || strings.Count(msg, "\n") > 0 {
			t.Errorf("%v: exit %d, stderr %q; want one line naming %q", c.args, r.code, msg, c.reason)
		}
	}
	if len(currentLabels(t, data)) != len(after) {
		t.Fatal("a refused copy stored a label")
	}
}
