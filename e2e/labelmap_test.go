package e2e

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mriworkbench/workbench/internal/ingest"
	"github.com/mriworkbench/workbench/nifti"
	"github.com/mriworkbench/workbench/store"
)

// labelMapFixture is a file of internal/ingest/testdata/labelmaps (nibabel-written image and label maps).
func labelMapFixture(name string) string {
	return filepath.Join("..", "internal", "ingest", "testdata", "labelmaps", name)
}

// "Upload label map…" on a volume row: a bad map shows the server's one-line reason and stores nothing, a
// good one labels every slice, and uploading it again asks before replacing.
func TestUploadLabelMapFromProjectPage(t *testing.T) {
	chromium := requireBrowserApp(t)
	srv, st := newAppServer(t)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	ctx := context.Background()
	p, err := st.CreateProject(ctx, "maps", []store.Class{{Name: "a", Color: "#ff0000"}, {Name: "b", Color: "#00ff00"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(labelMapFixture("image.nii.gz"))
	if err != nil {
		t.Fatal(err)
	}
	dec, err := ingest.Decode("image.nii.gz", data, nifti.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v, _, err := ingest.Import(ctx, st, p.ID, "image.nii.gz", data, dec, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	labelled := func() int {
		labels, err := st.Labels(ctx, v.ID)
		if err != nil {
			t.Fatal(err)
		}
		return len(labels)
	}

	browserCtx := newBrowser(t, chromium)
	tab1 := &tab{t: t, ctx: browserCtx, name: "tab1"}
	csp := watchCSP(t, browserCtx)
	tab1.do(chromedp.Navigate(fmt.Sprintf("%s/projects/%d", ts.URL, p.ID)))
	tab1.waitJS(`document.querySelector("tr.volume button.upload-labelmap") !== null`, 10*time.Second)
	if got := eval[string](tab1, `document.querySelector("tr.volume button.upload-labelmap").textContent`); got != "Upload label map…" {
		t.Fatalf("button reads %q", got)
	}

	abs := func(name string) string {
		path, err := filepath.Abs(labelMapFixture(name))
		if err != nil {
			t.Fatal(err)
		}
		return path
	}
	tab1.setUploadFiles("tr.volume input.labelmap-input", abs("fractional.nii.gz"))
	tab1.waitJS(`document.querySelector(".uploads li.labelmap.failed") !== null`, 10*time.Second)
	reason := eval[string](tab1, `document.querySelector(".uploads li.labelmap.failed .state").textContent`)
	if reason != "label map fractional.nii.gz: value 1.5 at voxel (1,2,3) is not an integer" {
		t.Fatalf("refusal shown as %q", reason)
	}
	if n := labelled(); n != 0 {
		t.Fatalf("a refused map stored %d labels", n)
	}

	tab1.setUploadFiles("tr.volume input.labelmap-input", abs("labels.nii.gz"))
	tab1.waitJS(`document.querySelectorAll(".uploads li.labelmap.done").length === 1`, 10*time.Second)
	if got := eval[string](tab1, `document.querySelector(".uploads li.labelmap.done .state").textContent`); got != "done; 4 slices labelled (0–3)" {
		t.Fatalf("outcome shown as %q", got)
	}
	tab1.waitJS(`document.querySelector("tr.volume .count.labelled")?.textContent === "4"`, 10*time.Second)

	// Again: the 409 becomes a question; confirming writes new versions.
	tab1.setUploadFiles("tr.volume input.labelmap-input", abs("labels.nii.gz"))
	tab1.waitJS(`document.querySelector("dialog.confirm[open]") !== null`, 10*time.Second)
	question := eval[string](tab1, `document.querySelector("dialog.confirm p").textContent`)
	if !strings.HasPrefix(question, "Slices 0, 1, 2, 3 already have labels. Replace them") {
		t.Fatalf("the question says %q", question)
	}
	tab1.do(chromedp.Click(chromedp.CSS("dialog.confirm button.danger")))
	tab1.waitJS(`document.querySelectorAll(".uploads li.labelmap.done").length === 2`, 10*time.Second)
	if got := eval[string](tab1, `document.querySelectorAll(".uploads li.labelmap.done .state")[1].textContent`); !strings.Contains(got, "4 replaced") {
		t.Fatalf("replacing shown as %q", got)
	}
	l, err := st.Label(ctx, v.ID, 2)
	if err != nil || l.Version != 2 {
		t.Fatalf("slice 2 after replacing: %+v (%v), want version 2", l, err)
	}
	csp.check(t, "tab1")
}
