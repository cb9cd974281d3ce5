package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mriworkbench/workbench/internal/job"
	"github.com/mriworkbench/workbench/store"
)

// The models table shows a candidate with its comparison against the active model and its flagged areas;
// Promote makes it the active model, in the store and on the page.
func TestModelsPageShowsAndPromotesACandidate(t *testing.T) {
	chromium := requireBrowserApp(t)
	srv, st := newAppServer(t)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	ctx := context.Background()
	p, err := st.CreateProject(ctx, "promotion", []store.Class{{Name: "wm", Color: "#ff0000"}, {Name: "gm", Color: "#00ff00"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	weights := func(w io.Writer) error { _, err := w.Write([]byte("weights")); return err }
	active, err := st.CreateModel(ctx, store.NewModel{ProjectID: p.ID, Arch: "smallunet", Activate: true, Write: weights})
	if err != nil {
		t.Fatal(err)
	}
	pr := job.Promotion{Decision: job.DecisionCandidate, AgainstModelID: &active.ID,
		Rule: "kept as a candidate: 12 of 30 predicted slices have outlier areas (the active model: 1 of 30)",
		Comparison: job.Comparison{Possible: true, Basis: job.BasisSinceActive, Slices: 4, NewDice: 0.8123, ActiveDice: 0.79,
			Classes: []job.ClassComparison{{Name: "wm", NewDice: 0.9, ActiveDice: 0.85}, {Name: "gm", NewDice: 0.7246, ActiveDice: 0.73}}},
		Areas: job.AreaCheck{Slices: 30, Flagged: 12, ActiveSlices: 30, ActiveFlagged: 1, Blocking: true,
			Limits: []job.AreaLimit{{Class: "wm", LabelledSlices: 4, LabelledMaxMM2: 250, LimitMM2: 312.5}},
			Flags:  []job.AreaFlag{{VolumeID: 1, Slice: 14, Class: "wm", AreaMM2: 512, LimitMM2: 312.5}}},
	}
	metrics, err := json.Marshal(map[string]any{"iterations": 40, "epochs": 4, "trainSeconds": 12, "stopped": "epochs",
		"trainSlices": 3, "valSlices": 1, "evalSlices": 0, "classes": []any{}, "promotion": pr})
	if err != nil {
		t.Fatal(err)
	}
	cand, err := st.CreateModel(ctx, store.NewModel{ProjectID: p.ID, Arch: "smallunet", Candidate: true, Metrics: metrics, Write: weights})
	if err != nil {
		t.Fatal(err)
	}

	browserCtx := newBrowser(t, chromium)
	tab1 := &tab{t: t, ctx: browserCtx, name: "tab1"}
	csp := watchCSP(t, browserCtx)
	tab1.do(chromedp.Navigate(fmt.Sprintf("%s/projects/%d", ts.URL, p.ID)))
	row := fmt.Sprintf(`tr.model[data-model-id="%d"]`, cand.ID)
	tab1.waitJS(fmt.Sprintf(`document.querySelector('%s')?.dataset.status === "candidate"`, row), 15*time.Second)
	// The loss chart stays on the project page (TestLossChartShowsZeroAsPerfectAndClipsSpikes needs it).
	if !eval[bool](tab1, `document.querySelector("#loss-chart") !== null`) {
		t.Fatal("the project page lost its loss chart")
	}
	cell := eval[string](tab1, fmt.Sprintf(`document.querySelector('%s td.promotion').textContent`, row))
	for _, want := range []string{
		fmt.Sprintf("Dice 0.812 vs 0.790 (active #%d) on 4 slices labelled since the active model", active.ID),
		"12 of 30 predicted slices flagged (active model: 1 of 30): too many to promote automatically",
		"wm 0.90 vs 0.85 · gm 0.72 vs 0.73", "volume 1 slice 14: wm 512.0 mm² > 312.5", "kept as a candidate",
	} {
		if !strings.Contains(cell, want) {
			t.Fatalf("the candidate's comparison cell says %q, want it to include %q", cell, want)
		}
	}
	if badge := eval[string](tab1, fmt.Sprintf(`document.querySelector('%s .badge').textContent`, row)); badge != "candidate" {
		t.Fatalf("badge %q", badge)
	}
	tab1.do(chromedp.Evaluate[chromedp.Void](`document.querySelectorAll("#models details").forEach((d) => (d.open = true)); document.querySelector("#models").scrollIntoView()`))
	if err := os.MkdirAll("artifacts", 0o755); err == nil {
		tab1.screenshot(filepath.Join("artifacts", "models-candidate.png"))
	}
	tab1.do(chromedp.Click(chromedp.CSS(row + " button.promote")))
	tab1.waitJS(fmt.Sprintf(`document.querySelector('tr.model.active[data-model-id="%d"]') !== null && document.querySelector('%s button.promote') === null`, cand.ID, row), 10*time.Second)
	if m, err := st.ActiveModel(ctx, p.ID); err != nil || m.ID != cand.ID {
		t.Fatalf("active model after Promote: %+v (%v)", m, err)
	}
	csp.check(t, "tab1")
}
