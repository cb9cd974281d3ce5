package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mriworkbench/workbench/store"
)

// The browser case for blind double reads: two annotators sign in in two browser contexts and label
// the same slice; neither sees the other's read; a reviewer opens the slice and sees both with their Dice,
// adjudicates one, and the training run that follows trains on that label alone. No CSP violation.
func TestBlindDoubleReads(t *testing.T) {
	chromium := requireBrowserApp(t)
	artifacts := "artifacts"
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	srv, st := newAppServer(t)
	ctx := context.Background()
	p, err := st.CreateProject(ctx, "double reads", []store.Class{{Name: "cord", Color: "#ffcc00"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	blind := store.ReadsBlind
	if _, err := st.UpdateProject(ctx, p.ID, store.ProjectUpdate{ReadsMode: &blind}); err != nil {
		t.Fatal(err)
	}
	v := importVolume(t, st, p.ID, volumeFile)
	addAccount(t, st, "ann", store.RoleAnnotator, "annotator password")
	addAccount(t, st, "bob", store.RoleAnnotator, "bob's password")
	addAccount(t, st, "rev", store.RoleReviewer, "reviewer password")
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	const z = 5
	page := fmt.Sprintf("%s/volumes/%d?z=%d", ts.URL, v.ID, z)

	// One browser, three contexts: separate cookie jars, as on three machines.
	browserCtx := newBrowser(t, chromium)
	open := func(name, password string, ctx context.Context) (*tab, *cspWatch) {
		b := &tab{t: t, ctx: ctx, name: name}
		w := watchCSP(t, ctx)
		b.do(chromedp.Navigate(page))
		b.signIn(name, password)
		b.waitViewer()
		return b, w
	}
	newContext := func() context.Context {
		c, cancel := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext())
		t.Cleanup(cancel)
		return c
	}
	ann, annCSP := open("ann", "annotator password", browserCtx)
	bob, bobCSP := open("bob", "bob's password", newContext())
	for _, b := range []*tab{ann, bob} {
		if got := eval[int](b, `workbench.slice()`); got != z {
			t.Fatalf("%s: viewer opened slice %d, want %d", b.name, got, z)
		}
	}
	ann.stroke(140, 150, 180, 150)
	ann.waitSaved()
	bob.stroke(150, 152, 190, 152)
	bob.waitSaved()
	if counts := eval[[]int](bob, fmt.Sprintf(`workbench.classCounts(%d)`, z)); len(counts) < 2 || counts[1] == 0 {
		t.Fatalf("bob's own read on screen: class counts %v", counts)
	}
	annRead, err := st.AnnotatorRead(ctx, v.ID, z, "ann")
	if err != nil {
		t.Fatal(err)
	}
	bobRead, err := st.AnnotatorRead(ctx, v.ID, z, "bob")
	if err != nil {
		t.Fatal(err)
	}
	// Blind: bob's screen holds his voxels only, and the reads panel refuses him.
	bobCounts := eval[[]int](bob, fmt.Sprintf(`workbench.classCounts(%d)`, z))
	if bobCounts[1] != countNonZero(bobRead.Mask) {
		t.Fatalf("bob sees %d labelled voxels, his read has %d", bobCounts[1], countNonZero(bobRead.Mask))
	}
	bob.do(chromedp.Click(chromedp.CSS("#reads-toggle")))
	bob.waitJS(`document.querySelector("#reads .error")?.textContent.includes("blind reads")`, 10*time.Second)
	if _, err := st.Label(ctx, v.ID, z); err == nil {
		t.Fatal("an annotator's read reached the labels before any adjudication")
	}

	// The reviewer sees both reads side by side with their Dice.
	rev, revCSP := open("rev", "reviewer password", newContext())
	rev.do(chromedp.Click(chromedp.CSS("#reads-toggle")))
	rev.waitJS(`document.querySelectorAll("#reads figure.read").length === 2`, 10*time.Second)
	line := eval[string](rev, `document.querySelector("#reads .class-agreement")?.textContent ?? ""`)
	wantDice := dice(annRead.Mask, bobRead.Mask)
	i := strings.Index(line, "Dice ")
	if i < 0 {
		t.Fatalf("agreement line %q has no Dice", line)
	}
	shown, err := strconv.ParseFloat(strings.Fields(line[i+5:])[0], 64)
	if err != nil || shown < wantDice-0.006 || shown > wantDice+0.006 {
		t.Fatalf("reviewer sees %q; Dice of the two reads is %.3f", line, wantDice)
	}
	t.Logf("reviewer's agreement line: %s (Dice computed here: %.3f)", line, wantDice)
	rev.screenshot(filepath.Join(artifacts, "reads-reviewer.png"))
	// Opening them revealed them: bob may now look.
	bob.do(chromedp.Evaluate[chromedp.Void](`document.querySelector("#reads-toggle").click(); document.querySelector("#reads-toggle").click()`))
	bob.waitJS(`document.querySelectorAll("#reads figure.read").length === 2`, 10*time.Second)

	// Adjudicate: ann's read becomes the label; it shows on the reviewer's slice.
	rev.do(chromedp.Click(chromedp.CSS(`#reads figure.read[data-annotator="ann"] .use-read`)))
	rev.waitJS(`document.querySelector("#reads")?.textContent.includes("(adjudicated)")`, 10*time.Second)
	l, err := st.Label(ctx, v.ID, z)
	if err != nil || l.Origin != store.OriginAdjudicated || l.Author != "rev" || string(l.Mask) != string(annRead.Mask) {
		t.Fatalf("label after adjudication %+v (%v), want ann's read adjudicated by rev", l, err)
	}
	rev.waitJS(fmt.Sprintf(`(workbench.classCounts(%d) ?? [0, 0])[1] === %d`, z, countNonZero(annRead.Mask)), 10*time.Second)

	// Training uses the adjudicated label, and nothing else.
	runID := eval[float64](rev, fmt.Sprintf(`fetch("/api/projects/%d/train", {method: "POST", headers: {"Content-Type": "application/json"},
		body: JSON.stringify({settings: {epochs: 1, budget_seconds: 0}})}).then(r => r.json()).then(r => r.id)`, p.ID))
	var run store.Run
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		if run, err = st.Run(ctx, int64(runID)); err != nil {
			t.Fatal(err)
		}
		if run.Status == store.RunDone || run.Status == store.RunFailed || time.Now().After(deadline) {
			break
		}
	}
	if run.Status != store.RunDone || run.ModelID == nil {
		t.Fatalf("training run %+v", run)
	}
	m, err := st.Model(ctx, *run.ModelID)
	if err != nil {
		t.Fatal(err)
	}
	var metrics struct{ TrainSlices, ValSlices, EvalSlices int }
	if err := json.Unmarshal(m.Metrics, &metrics); err != nil {
		t.Fatal(err)
	}
	if n := metrics.TrainSlices + metrics.ValSlices + metrics.EvalSlices; n != 1 {
		t.Fatalf("the run trained on %d slices (%+v); want the one adjudicated slice", n, metrics)
	}
	annCSP.check(t, "ann")
	bobCSP.check(t, "bob")
	revCSP.check(t, "rev")
}

func countNonZero(m []byte) int {
	n := 0
	for _, v := range m {
		if v != 0 {
			n++
		}
	}
	return n
}

func dice(a, b []byte) float64 {
	inter, sum := 0, 0
	for i := range a {
		if a[i] != 0 && a[i] == b[i] {
			inter++
		}
		if a[i] != 0 {
			sum++
		}
		if b[i] != 0 {
			sum++
		}
	}
	return 2 * float64(inter) / float64(sum)
}
