package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mriworkbench/workbench/internal/event"
	"github.com/mriworkbench/workbench/internal/job"
	"github.com/mriworkbench/workbench/ml/train"
	"github.com/mriworkbench/workbench/store"
)

// A finished run's stored history, as the engine reports it (Dice + cross-entropy from -1 up, an early
// validation spike to 8), reads on the page as 1 - Dice + CE: positive, 0 perfect, the spike clipped and
// marked, the axis following the rest.
func TestLossChartShowsZeroAsPerfectAndClipsSpikes(t *testing.T) {
	chromium := requireBrowserApp(t)
	srv, st := newAppServer(t)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	ctx := context.Background()
	p, err := st.CreateProject(ctx, "curves", []store.Class{{Name: "gm", Color: "#ff0000"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	settings := job.RunSettings{Preset: "default", FromScratch: true, Train: train.DefaultSettings(2)}
	if settings.Train.Loss != train.LossDiceCE {
		t.Fatalf("the default preset's loss is %q; this test assumes %q", settings.Train.Loss, train.LossDiceCE)
	}
	raw, err := json.Marshal(settings)
	if err != nil {
		t.Fatal(err)
	}
	run, err := st.CreateRun(ctx, p.ID, raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.StartRun(ctx, run.ID); err != nil {
		t.Fatal(err)
	}
	trainLoss := func(i int) float64 { return -0.2 - 0.6*(1-math.Exp(-float64(i)/15)) } // from -0.2 down to about -0.8
	var events []store.RunEvent
	add := func(ev interface{ Type() string }) {
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, store.RunEvent{Kind: ev.Type(), Data: b})
	}
	for i := 1; i <= 60; i++ {
		add(event.Iteration{Progress: event.Progress{RunID: run.ID, Iteration: i, TrainLoss: trainLoss(i), ETA: -1}})
		if i%15 == 0 {
			val := -0.7
			if i == 15 {
				val = 8 // the early spike
			}
			add(event.Epoch{Progress: event.Progress{RunID: run.ID, Iteration: i, Epoch: i / 15, TrainLoss: trainLoss(i),
				ValLoss: &val, ValDice: []float64{0.8}, ETA: -1}})
		}
	}
	if _, err := st.AppendRunEvents(ctx, run.ID, events); err != nil {
		t.Fatal(err)
	}
	if _, err := st.FinishRun(ctx, run.ID, "done", "", nil); err != nil {
		t.Fatal(err)
	}

	browserCtx := newBrowser(t, chromium)
	tab1 := &tab{t: t, ctx: browserCtx, name: "tab1"}
	csp := watchCSP(t, browserCtx)
	tab1.do(chromedp.Navigate(fmt.Sprintf("%s/projects/%d", ts.URL, p.ID)))
	// The app asks who is signed in before it draws the page: wait null-safely.
	tab1.waitJS(`JSON.parse(document.querySelector("#loss-chart")?.dataset.drawn || "{}")["train loss"] === 60`, 15*time.Second)
	drawn := eval[map[string]int](tab1, `JSON.parse(document.querySelector("#loss-chart").dataset.drawn)`)
	if drawn["validation loss"] != 4 || drawn["validation loss (clipped)"] != 1 {
		t.Fatalf("drawn %v, want 4 validation points, the spike among them clipped", drawn)
	}
	if got := eval[string](tab1, `document.querySelector("#loss-meaning").textContent`); got != "(1 − mean soft Dice per class + cross-entropy; 0 is perfect)" {
		t.Fatalf("caption says %q", got)
	}
	// The last train loss, -0.2 - 0.6 (1 - e^-4) = -0.789 as reported, is shown as 0.211.
	if got := eval[string](tab1, `document.querySelector("#run-stats .train-loss").textContent`); !strings.HasSuffix(got, "0.211") {
		t.Fatalf("train loss stat %q, want 0.211", got)
	}
	csp.check(t, "tab1")
}
