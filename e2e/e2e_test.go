package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/mriworkbench/workbench/internal/testenv"
	"github.com/mriworkbench/workbench/nifti"
	"github.com/mriworkbench/workbench/store"
)

// The volume painted: 320 x 320 x 11, the size the slice-switch timing target names.
const volumeFile = "sct_testing_data/t2s/t2s_uncropped.nii.gz"

// brushSize is the viewer's default brush diameter in voxels.
const brushSize = 5

func TestAnnotationFlow(t *testing.T) {
	chromium := requireBrowserApp(t)
	volumePath := testenv.SharedData(t, volumeFile)
	artifacts := "artifacts"
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}

	srv, st := newAppServer(t)
	network := &switchableNetwork{next: srv.Handler()}
	ts := httptest.NewUnstartedServer(network)
	ts.Config.ConnState = network.track
	ts.Start()
	t.Cleanup(ts.Close)
	api := apiClient{t: t, base: ts.URL}
	// Another client's way in, unaffected when the browser's network is down.
	direct := httptest.NewServer(srv.Handler())
	t.Cleanup(direct.Close)
	other := apiClient{t: t, base: direct.URL}

	browserCtx := newBrowser(t, chromium)
	tab1 := &tab{t: t, ctx: browserCtx, name: "tab1"}
	csp1 := watchCSP(t, browserCtx)

	// 1. A project with two classes, created through the form.
	tab1.do(chromedp.Navigate(ts.URL + "/"))
	// This flow places strokes by voxel anywhere on a fitted slice; auto-zoom on review slices (which would
	// put some of them out of sight) is covered by TestPaintingAndReviewTools.
	eval[bool](tab1, `(localStorage.setItem("workbench.review", JSON.stringify({autoZoom: false})), true)`)
	tab1.do(
		chromedp.SendKeys(chromedp.CSS(`input[name="name"]`), "Cord e2e"),
		chromedp.SendKeys(chromedp.CSS(`.class-row:nth-child(1) .class-name`), "white matter"),
		chromedp.Click(chromedp.CSS(`form.create button.secondary`)),
		chromedp.SendKeys(chromedp.CSS(`.class-row:nth-child(2) .class-name`), "grey matter"),
	)
	tab1.screenshot(filepath.Join(artifacts, "projects.png"))
	tab1.do(chromedp.Click(chromedp.CSS(`form.create button[type="submit"]`)))
	tab1.waitJS(`location.pathname.startsWith("/projects/")`, 10*time.Second)
	projectID := strings.TrimPrefix(eval[string](tab1, `location.pathname`), "/projects/")
	var project struct {
		Classes []struct{ Name, Color string }
	}
	api.getJSON("/api/projects/"+projectID, &project)
	if len(project.Classes) != 2 || project.Classes[1].Name != "grey matter" {
		t.Fatalf("project classes = %+v, want white matter and grey matter", project.Classes)
	}

	// 2. Upload a real volume and a broken file at once through the file input (the drop zone's input): the
	// volume arrives, the broken file reports the reader's reason on its own row.
	broken := filepath.Join(t.TempDir(), "broken.nii.gz")
	if err := os.WriteFile(broken, []byte("this is not a NIfTI file"), 0o644); err != nil {
		t.Fatal(err)
	}
	tab1.do(chromedp.SetUploadFiles(chromedp.CSS("#file-input"), []string{volumePath, broken}))
	tab1.waitJS(`document.querySelectorAll(".uploads li.done, .uploads li.failed").length === 2`, 60*time.Second)
	if done := eval[string](tab1, `[...document.querySelectorAll(".uploads li.done .fname")].map(e => e.textContent).join()`); done != filepath.Base(volumePath) {
		t.Fatalf("uploads done: %q, want only %s", done, filepath.Base(volumePath))
	}
	failed := eval[string](tab1, `document.querySelector(".uploads li.failed")?.textContent ?? ""`)
	if !strings.HasPrefix(failed, "broken.nii.gz") || len(failed) <= len("broken.nii.gz") {
		t.Fatalf("failed upload row %q, want broken.nii.gz with a reason", failed)
	}
	t.Logf("broken upload reported as: %s", failed)
	tab1.waitJS(`document.querySelector("tr.volume a") !== null`, 10*time.Second)
	tab1.screenshot(filepath.Join(artifacts, "project.png"))
	volumeID := eval[string](tab1, `document.querySelector("tr.volume").dataset.volumeId`)
	deleteWrongUpload(t, browserCtx, tab1, api, ts.URL, projectID)

	// 3. Open the viewer, wait for the slice and its (empty) label.
	tab1.do(chromedp.Click(chromedp.CSS("tr.volume a")))
	tab1.waitViewer()
	shape := eval[[]int](tab1, `workbench.shape()`)
	if !slices.Equal(shape, []int{320, 320, 11}) {
		t.Fatalf("viewer shape = %v, want [320 320 11]", shape)
	}
	z := eval[int](tab1, `workbench.slice()`)
	t.Logf("painting slice %d of volume %s", z, volumeID)

	// 4. Three strokes with two classes, then undo the last one.
	tab1.do(chromedp.KeyEvent("1"))
	tab1.stroke(100, 150, 140, 150)
	tab1.do(chromedp.KeyEvent("2"))
	tab1.stroke(100, 180, 140, 180)
	tab1.do(chromedp.KeyEvent("1"))
	tab1.stroke(100, 210, 140, 210)
	painted := stadium(320, 320, 100, 140, brushSize)
	if got := eval[[]int](tab1, fmt.Sprintf(`workbench.classCounts(%d)`, z)); got[1] != 2*painted || got[2] != painted {
		t.Fatalf("before undo the page holds class counts %v, want class 1: %d, class 2: %d", got, 2*painted, painted)
	}
	tab1.do(chromedp.KeyEvent("z", chromedp.KeyModifiers(chromedp.ModifierCtrl)))
	tab1.waitSaved()
	tab1.screenshot(filepath.Join(artifacts, "viewer-painted.png"))

	want := []int{320*320 - 2*painted, painted, painted}
	if got := classCounts(api.label(volumeID, z)); !slices.Equal(got, want) {
		t.Fatalf("stored label class counts = %v, want %v (strokes 1 and 2, stroke 3 undone)", got, want)
	}

	// 5. Reload: exactly the remaining strokes come back from the server.
	tab1.do(chromedp.Reload())
	tab1.waitViewer()
	tab1.waitJS(fmt.Sprintf(`workbench.classCounts(%d) !== null`, z), 10*time.Second)
	if got := eval[[]int](tab1, fmt.Sprintf(`workbench.classCounts(%d)`, z)); !slices.Equal(got, want) {
		t.Fatalf("after reload the page shows class counts %v, want %v", got, want)
	}

	// 6. A second tab on the same slice sees a new stroke of the first without reloading.
	tab2Ctx, cancelTab2 := chromedp.NewContext(browserCtx)
	defer cancelTab2()
	tab2 := &tab{t: t, ctx: tab2Ctx, name: "tab2"}
	csp2 := watchCSP(t, tab2Ctx)
	tab2.do(chromedp.Navigate(fmt.Sprintf("%s/volumes/%s?z=%d", ts.URL, volumeID, z)))
	tab2.waitViewer()
	tab2.waitJS(fmt.Sprintf(`JSON.stringify(workbench.classCounts(%d)) === %q`, z, mustJSON(want)), 10*time.Second)
	tab2.waitJS(`document.querySelector(".conn.live") !== null`, 10*time.Second)
	tab1.do(chromedp.KeyEvent("2"))
	tab1.stroke(100, 240, 140, 240)
	tab1.waitSaved()
	want = []int{320*320 - 3*painted, painted, 2 * painted}
	tab2.waitJS(fmt.Sprintf(`JSON.stringify(workbench.classCounts(%d)) === %q`, z, mustJSON(want)), 10*time.Second)
	tab2.screenshot(filepath.Join(artifacts, "second-tab.png"))

	// 7. A conflicting save: another client saves while a stroke is being drawn in tab 1.
	mine := stadium(320, 320, 100, 140, brushSize)
	tab1.do(chromedp.KeyEvent("1"))
	tab1.strokeAround(100, 120, 140, 120, func() {
		mask, version := api.labelWithVersion(volumeID, z)
		theirs := bytes.Clone(mask)
		for y := 20; y < 30; y++ {
			for x := 20; x < 30; x++ {
				theirs[y*320+x] = 2
			}
		}
		otherVersion := api.putLabel(volumeID, z, theirs, version, http.StatusOK)
		// Their own stale retry is refused, not applied.
		api.putLabel(volumeID, z, theirs, version, http.StatusConflict)
		t.Logf("other client saved version %d on top of %d", otherVersion, version)
	})
	// The banner names the other author once their version is fetched.
	tab1.waitJS(`workbench.saveState() === "conflict" && !document.querySelector("#conflict").hidden &&
		document.querySelector("#conflict").textContent.includes("e2e-other")`, 10*time.Second)
	conflictText := eval[string](tab1, `document.querySelector("#conflict").textContent`)
	if !strings.Contains(conflictText, "Conflict") || !strings.Contains(conflictText, "e2e-other") {
		t.Fatalf("conflict banner says %q, want it to name the conflict and the other author", conflictText)
	}
	tab1.screenshot(filepath.Join(artifacts, "conflict.png"))
	history := api.history(volumeID, z)
	otherVersion := history[0].Version
	if history[0].Author != "e2e-other" {
		t.Fatalf("newest version before resolving is by %q, want e2e-other", history[0].Author)
	}
	tab1.do(chromedp.Click(chromedp.CSS("#keep-mine")))
	tab1.waitSaved()

	// Both are kept: mine is current, theirs stays in the history.
	history = api.history(volumeID, z)
	if history[0].Version != otherVersion+1 || history[0].Author == "e2e-other" || history[1].Version != otherVersion || history[1].Author != "e2e-other" {
		t.Fatalf("history after keep-mine = %+v, want mine on top of the other's version %d", history[:2], otherVersion)
	}
	want = []int{320*320 - 4*painted, painted + mine, 2 * painted}
	if got := classCounts(api.label(volumeID, z)); !slices.Equal(got, want) {
		t.Fatalf("current label counts %v, want %v (all my strokes)", got, want)
	}
	theirs := api.labelVersion(volumeID, z, otherVersion)
	if theirs[25*320+25] != 2 || classCounts(theirs)[2] != 2*painted+100 {
		t.Fatalf("the other client's version lost its square: counts %v", classCounts(theirs))
	}

	// The history panel restores their version on top, and Ctrl+Z brings mine back: every version stays reachable.
	tab1.do(chromedp.KeyEvent("h"))
	restore := fmt.Sprintf(`#history li[data-version="%d"] button:last-child`, otherVersion)
	tab1.waitJS(fmt.Sprintf(`document.querySelector(%q)?.textContent === "Restore"`, restore), 5*time.Second)
	tab1.screenshot(filepath.Join(artifacts, "history.png"))
	tab1.do(chromedp.Click(chromedp.CSS(restore)))
	tab1.waitJS(fmt.Sprintf(`workbench.labelVersion(%d) === %d && !workbench.hasUnsaved()`, z, otherVersion+2), 10*time.Second)
	if got := api.label(volumeID, z); !bytes.Equal(got, theirs) {
		t.Fatalf("restored label differs from version %d: counts %v, want %v", otherVersion, classCounts(got), classCounts(theirs))
	}
	tab1.do(chromedp.KeyEvent("z", chromedp.KeyModifiers(chromedp.ModifierCtrl)))
	tab1.waitJS(fmt.Sprintf(`workbench.labelVersion(%d) === %d && !workbench.hasUnsaved()`, z, otherVersion+3), 10*time.Second)
	if got := classCounts(api.label(volumeID, z)); !slices.Equal(got, want) {
		t.Fatalf("after undoing the restore the label counts are %v, want mine %v", got, want)
	}
	tab1.do(chromedp.KeyEvent("h"))

	// 8. Switching between cached slices: every slice loaded, then timed in the page.
	tab1.do(chromedp.Evaluate[chromedp.Void](`for (let i = 0; i < workbench.shape()[2]; i++) workbench.setSlice(i)`))
	tab1.waitJS(`workbench.cachedSlices().length === workbench.shape()[2]`, 20*time.Second)
	// Each switch is timed twice: the key handler alone, and up to the canvas holding the new pixels (reading one
	// pixel back makes the browser finish drawing).
	timing := eval[struct{ Handler, Drawn []float64 }](tab1, `(() => {
		const d = workbench.shape()[2], handler = [], drawn = [];
		const view = document.querySelector("canvas.view").getContext("2d");
		workbench.setSlice(0);
		// One untimed pass renders every slice once, so the timed passes switch between fully cached slices.
		for (let round = -1; round < 4; round++) {
			for (const key of ["ArrowUp", "ArrowDown"]) {
				for (let i = 0; i < d - 1; i++) {
					const t0 = performance.now();
					window.dispatchEvent(new KeyboardEvent("keydown", { key, bubbles: true }));
					const t1 = performance.now();
					view.getImageData(0, 0, 1, 1);
					const t2 = performance.now();
					if (round >= 0) {
						handler.push(t1 - t0);
						drawn.push(t2 - t0);
					}
				}
			}
		}
		return { handler, drawn };
	})()`)
	for _, m := range []struct {
		name  string
		times []float64
	}{{"key handler", timing.Handler}, {"until drawn", timing.Drawn}} {
		slices.Sort(m.times)
		n := len(m.times)
		t.Logf("cached slice switch, 320x320, %d switches, %s: median %.2f ms, p90 %.2f ms, max %.2f ms",
			n, m.name, m.times[n/2], m.times[n*9/10], m.times[n-1])
		if m.times[n/2] >= 16 {
			t.Errorf("median cached slice switch (%s) %.2f ms, want under 16 ms", m.name, m.times[n/2])
		}
	}
	tab1.screenshot(filepath.Join(artifacts, "viewer-final.png"))

	// 9. Review: a model's predictions on two unlabelled slices; the queue walks them most uncertain first.
	prediction := make([]byte, 320*320)
	for y := 150; y < 170; y++ {
		for x := 150; x < 170; x++ {
			prediction[y*320+x] = 1
		}
	}
	for y := 150; y < 160; y++ {
		for x := 180; x < 190; x++ {
			prediction[y*320+x] = 2
		}
	}
	savePredictions(t, st, projectID, volumeID, prediction, map[int]float64{2: 0.4, 8: 0.9})
	tab1.do(chromedp.Navigate(ts.URL + "/projects/" + projectID))
	tab1.waitJS(`document.querySelectorAll(".queue li a").length === 2`, 10*time.Second)
	if first := eval[string](tab1, `document.querySelector(".queue li a").textContent`); !strings.HasSuffix(first, "slice 8") {
		t.Fatalf("first review queue entry %q, want slice 8 (the most uncertain)", first)
	}
	tab1.screenshot(filepath.Join(artifacts, "project-queue.png"))
	tab1.expectDownload(`header a[download][href$="/export.zip"]`, "application/zip")
	tab1.do(chromedp.Click(chromedp.CSS(".queue li a")))
	tab1.waitViewer()
	tab1.waitJS(`workbench.slice() === 8 && !document.querySelector("#accept").disabled`, 10*time.Second)
	tab1.screenshot(filepath.Join(artifacts, "review-prediction.png"))
	tab1.do(chromedp.KeyEvent("a"))
	tab1.waitSaved()
	res, accepted := api.get(fmt.Sprintf("/api/volumes/%s/slices/8/label", volumeID))
	if !bytes.Equal(accepted, prediction) || res.Header.Get("X-Label-Origin") != "prediction" {
		t.Fatalf("accepted label: origin %q, equal to the prediction: %v", res.Header.Get("X-Label-Origin"), bytes.Equal(accepted, prediction))
	}
	tab1.do(chromedp.KeyEvent("v"))
	tab1.waitJS(`document.querySelector("#verify").classList.contains("on")`, 10*time.Second)
	if res, _ := api.get(fmt.Sprintf("/api/volumes/%s/slices/8/label", volumeID)); res.Header.Get("X-Label-Verified") != "true" {
		t.Fatalf("slice 8 not verified on the server after V")
	}
	tab1.do(chromedp.KeyEvent("n"))
	tab1.waitJS(`workbench.slice() === 2`, 5*time.Second)

	// 10. Offline: a stroke made while the server is unreachable stays in the tab, the indicator says it is
	// retrying, and it is saved once the network is back.
	network.setOffline(true)
	tab1.do(chromedp.KeyEvent("1"))
	tab1.stroke(60, 60, 100, 60)
	tab1.waitJS(`workbench.saveState() === "retrying" && workbench.hasUnsaved()`, 10*time.Second)
	if text := eval[string](tab1, `document.querySelector("#save-state").textContent`); !strings.Contains(text, "offline") {
		t.Fatalf("save indicator says %q while offline, want it to say so", text)
	}
	tab1.screenshot(filepath.Join(artifacts, "offline.png"))
	tab1.expectLeaveWarning()
	network.setOffline(false)
	tab1.waitSaved()
	if got := classCounts(api.label(volumeID, 2)); got[1] != stadium(320, 320, 60, 100, brushSize) {
		t.Fatalf("after reconnecting slice 2 holds %d voxels of class 1, want the stroke's %d", got[1], stadium(320, 320, 60, 100, brushSize))
	}

	// 11. Zoom at the cursor, pan with the middle button, window by right-drag, and reset.
	spacing := func() float64 {
		return eval[float64](tab1, `workbench.voxelToClient(100, 100).x - workbench.voxelToClient(110, 100).x`)
	}
	before := spacing()
	cx, cy := tab1.client(160, 160)
	// The protocol requires deltaX on wheel events and the client omits zero values: send a negligible one.
	wheel := func(p *input.DispatchMouseEventParams) { p.DeltaX, p.DeltaY = 0.01, -400 }
	tab1.do(chromedp.MouseEvent(chromedp.MouseWheel, cx, cy, wheel))
	tab1.waitJS(fmt.Sprintf(`workbench.voxelToClient(100, 100).x - workbench.voxelToClient(110, 100).x > %f`, before*1.5), 5*time.Second)
	if x, y := tab1.client(160, 160); abs(int(x-cx)) > 2 || abs(int(y-cy)) > 2 {
		t.Fatalf("zoom moved the voxel under the cursor from (%.0f, %.0f) to (%.0f, %.0f)", cx, cy, x, y)
	}
	middle := func(p *input.DispatchMouseEventParams) { p.Button = input.MouseButtonMiddle; p.Buttons = 4 }
	tab1.do(
		chromedp.MouseEvent(chromedp.MousePressed, cx, cy, middle),
		chromedp.MouseEvent(chromedp.MouseMoved, cx+40, cy+30, middle),
		chromedp.MouseEvent(chromedp.MouseReleased, cx+40, cy+30, middle),
	)
	if x, y := tab1.client(160, 160); abs(int(x-cx-40)) > 2 || abs(int(y-cy-30)) > 2 {
		t.Fatalf("middle-drag by (40, 30) moved the voxel to (%.0f, %.0f), want (%.0f, %.0f)", x, y, cx+40, cy+30)
	}
	level := eval[string](tab1, `document.querySelector("input.wl").value`)
	right := func(p *input.DispatchMouseEventParams) { p.Button = input.MouseButtonRight; p.Buttons = 2 }
	tab1.do(
		chromedp.MouseEvent(chromedp.MousePressed, cx, cy, right),
		chromedp.MouseEvent(chromedp.MouseMoved, cx+50, cy-60, right),
		chromedp.MouseEvent(chromedp.MouseReleased, cx+50, cy-60, right),
	)
	if now := eval[string](tab1, `document.querySelector("input.wl").value`); now == level {
		t.Fatalf("right-drag left the level at %s", level)
	}
	tab1.screenshot(filepath.Join(artifacts, "zoomed.png"))
	tab1.do(chromedp.KeyEvent("r"))
	if after := spacing(); abs(int(after-before)) > 1 {
		t.Fatalf("reset view gives voxel spacing %.1f, want the fitted %.1f", after, before)
	}
	if now := eval[string](tab1, `document.querySelector("input.wl").value`); now != level {
		t.Fatalf("reset view leaves the level at %s, want %s", now, level)
	}

	// 12. The volume's download link answers with a segmentation file.
	tab1.expectDownload(`header a[download][href$="/export"]`, "application/gzip")

	// 13. Fill a closed contour, undo it as one step, then erase across the contour.
	tab1.do(chromedp.KeyEvent(kb.ArrowUp)) // slice 3, never painted
	tab1.waitJS(`workbench.slice() === 3 && workbench.cachedSlices().includes(3)`, 5*time.Second)
	tab1.do(chromedp.KeyEvent("2"))
	tab1.stroke(200, 200, 240, 200)
	tab1.stroke(240, 200, 240, 240)
	tab1.stroke(240, 240, 200, 240)
	tab1.stroke(200, 240, 200, 200)
	ring := eval[[]int](tab1, `workbench.classCounts(3)`)[2]
	tab1.do(chromedp.KeyEvent("f"))
	fx, fy := tab1.client(220, 220)
	tab1.do(chromedp.MouseClickXY(fx, fy))
	filled := eval[[]int](tab1, `workbench.classCounts(3)`)[2]
	// The brush (radius 2.5) covers 2 voxels either side of each edge of the 200..240 square: the inside left
	// is 203..237 in both directions, 35x35.
	if filled-ring != 35*35 {
		t.Fatalf("fill added %d voxels inside the ring, want 35*35 = %d", filled-ring, 35*35)
	}
	tab1.waitSaved()
	if stored := classCounts(api.label(volumeID, 3)); stored[2] != filled {
		t.Fatalf("stored fill has %d voxels of class 2, want %d", stored[2], filled)
	}
	tab1.do(chromedp.KeyEvent("z", chromedp.KeyModifiers(chromedp.ModifierCtrl)))
	if got := eval[[]int](tab1, `workbench.classCounts(3)`)[2]; got != ring {
		t.Fatalf("undoing the fill leaves %d voxels, want the ring's %d", got, ring)
	}
	tab1.do(chromedp.KeyEvent("e"))
	tab1.stroke(180, 220, 260, 220)
	tab1.waitSaved()
	if stored := classCounts(api.label(volumeID, 3)); stored[2] >= ring || stored[1] != 0 {
		t.Fatalf("after erasing across the ring the stored counts are %v, want fewer than %d of class 2", stored, ring)
	}

	// 14. The shortcut overlay.
	tab1.do(chromedp.KeyEvent("?"))
	tab1.waitJS(`!document.querySelector("#help").hidden && document.querySelectorAll("#help kbd").length >= 12`, 5*time.Second)
	tab1.screenshot(filepath.Join(artifacts, "help.png"))
	tab1.do(chromedp.KeyEvent("?"))

	trainAndReview(t, tab1, tab2, api, other, network, projectID, volumeID)
	// Every page the flow visited (projects, project, viewer, training, models) ran under the enforced policy.
	csp1.check(t, "tab1")
	csp2.check(t, "tab2")
}

// trainAndReview is the training loop through the app: Train now with a tiny budget, loss points arriving over
// the websocket and drawn, the run's model with its metrics listed and active, predictions on the unlabelled
// slices (also in a viewer left open), roll back and forward, the curves redrawn after a reload, areas, then one
// prediction accepted, corrected and exported.
func trainAndReview(t *testing.T, tab1, tab2 *tab, api, other apiClient, network *switchableNetwork, projectID, volumeID string) {
	artifacts := "artifacts"
	var before []modelInfo
	api.getJSON("/api/projects/"+projectID+"/models", &before)
	// The second tab stays in the viewer on a slice nobody labelled and no model predicted yet.
	const watched = 4
	tab2.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`workbench.setSlice(%d)`, watched)))
	tab2.waitJS(fmt.Sprintf(`workbench.slice() === %d && document.querySelector("#accept").disabled && document.querySelector(".slice-label").textContent.includes("unlabelled")`, watched), 5*time.Second)

	// 15. Train now with a 12 s budget from the project page (a few iterations even on a busy 2-core machine).
	tab1.do(chromedp.Navigate(api.base + "/projects/" + projectID))
	tab1.waitJS(`document.querySelector("#run-info")?.textContent.includes("No training run yet")`, 10*time.Second)
	tab1.do(chromedp.Evaluate[chromedp.Void](`document.querySelector("#train-budget").value = "12"; document.querySelector("#train-epochs").value = "0"`))
	tab1.do(chromedp.Click(chromedp.CSS("#train-now")))
	// At least two loss points arrive over the websocket (not from the stored history) and are drawn.
	tab1.waitJS(`Number(document.querySelector("#loss-chart").dataset.livePoints) >= 2 &&
		JSON.parse(document.querySelector("#loss-chart").dataset.drawn || "{}")["train loss"] >= 2`, 30*time.Second)
	t.Logf("Train now to the first loss point on screen: %s ms", eval[string](tab1, `document.querySelector("#loss-chart").dataset.firstPointMs`))
	if settings := eval[string](tab1, `document.querySelector("#run-info .settings").textContent`); !strings.Contains(settings, "12 s budget") {
		t.Fatalf("the current run's settings read %q, want the 12 s budget", settings)
	}
	tab1.waitJS(`document.querySelector("#run-stats .iteration") !== null && document.querySelector("#train-cancel").checkVisibility()`, 5*time.Second)
	tab1.screenshot(filepath.Join(artifacts, "training.png"))
	runID := eval[string](tab1, `document.querySelector("#run-info").dataset.runId`)
	tab1.waitJS(`["done", "failed", "cancelled", "interrupted"].includes(document.querySelector("#run-info").dataset.status)`, 120*time.Second)
	if status := eval[string](tab1, `document.querySelector("#run-info").dataset.status`); status != "done" {
		t.Fatalf("run %s ended %s: %s", runID, status, eval[string](tab1, `document.querySelector("#run-info").textContent`))
	}

	// The run's model is listed with its metrics and is the active one.
	var models []modelInfo
	api.getJSON("/api/projects/"+projectID+"/models", &models)
	if len(models) != len(before)+1 || !models[0].Active || fmt.Sprint(models[0].RunID) != runID {
		t.Fatalf("models after the run: %+v, want a new active model of run %s", models, runID)
	}
	trained := models[0]
	tab1.waitJS(fmt.Sprintf(`document.querySelector('tr.model.active[data-model-id="%d"]') !== null`, trained.ID), 10*time.Second)
	// With few labelled slices every one trained the model, which arrives unscored: its k-fold evaluation
	// follows in the background, its progress on the models page, then its scores.
	cellText := fmt.Sprintf(`(document.querySelector('tr.model[data-model-id="%d"] td.metrics')?.textContent ?? "")`, trained.ID)
	if m := trained.Metrics; m.Evaluation == nil && m.ValSlices == 0 && m.TrainSlices > 1 {
		tab1.waitJS(cellText+`.includes("cross-validating") || `+cellText+`.includes("-fold over")`, 30*time.Second)
		if cell := eval[string](tab1, cellText); strings.Contains(cell, "cross-validating") {
			tab1.screenshot(filepath.Join(artifacts, "evaluating.png"))
		}
		tab1.waitJS(cellText+`.includes("-fold over")`, 240*time.Second)
		api.getJSON("/api/projects/"+projectID+"/models", &models)
		trained = models[0]
		if ev := trained.Metrics.Evaluation; ev == nil || ev.Slices != m.TrainSlices {
			t.Fatalf("the model's evaluation after it ran: %+v, want one over its %d slices", ev, m.TrainSlices)
		}
	}
	// Metrics show where the evaluation split had slices; with few labelled slices it says so instead.
	if cell := eval[string](tab1, fmt.Sprintf(`document.querySelector('tr.model[data-model-id="%d"] td.metrics').textContent`, trained.ID)); !strings.Contains(cell, "Dice") && !strings.Contains(cell, "no evaluation slices") {
		t.Fatalf("the model's evaluation cell says %q", cell)
	} else if ev := trained.Metrics.Evaluation; ev != nil && ev.Method != "holdout" && !strings.Contains(cell, fmt.Sprintf("%d-fold over %d slices", ev.Folds, ev.Slices)) {
		t.Fatalf("the model's evaluation cell says %q, want its %d-fold evaluation over %d slices", cell, ev.Folds, ev.Slices)
	}
	tab1.expectDownload(fmt.Sprintf(`tr.model[data-model-id="%d"] a[download]`, trained.ID), "application/octet-stream")
	tab1.do(chromedp.Evaluate[chromedp.Void](`document.querySelectorAll("#models details").forEach((d) => (d.open = true)); document.querySelector("#models").scrollIntoView()`))
	eval[bool](tab1, `new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(() => done(true))))`)
	tab1.screenshot(filepath.Join(artifacts, "models.png"))

	// Predictions on every unlabelled slice, shown in the volume's counts.
	var vol struct {
		Slices []sliceState `json:"slices"`
	}
	api.getJSON("/api/volumes/"+volumeID, &vol)
	predicted := 0
	for _, s := range vol.Slices {
		if s.Status == "unlabelled" {
			t.Fatalf("slice %d is still unlabelled after the run predicted the volume", s.Index)
		}
		if s.Status == "predicted" {
			predicted++
		}
	}
	tab1.waitJS(fmt.Sprintf(`document.querySelector("tr.volume .count.predicted").textContent === "%d"`, predicted), 10*time.Second)
	t.Logf("run %s: model %d predicted %d unlabelled slices", runID, trained.ID, predicted)
	// The open viewer shows the new prediction without a reload.
	tab2.waitJS(`!document.querySelector("#accept").disabled && /(predicted|empty)$/.test(document.querySelector(".slice-label").textContent)`, 10*time.Second)
	tab2.screenshot(filepath.Join(artifacts, "second-tab-prediction.png"))

	// Roll back to the earlier model and forward again from the table.
	if len(before) > 0 {
		for _, id := range []int64{before[0].ID, trained.ID} {
			tab1.click(fmt.Sprintf(`tr.model[data-model-id="%d"] button.use`, id))
			tab1.waitJS(fmt.Sprintf(`document.querySelector('tr.model.active[data-model-id="%d"]') !== null`, id), 10*time.Second)
			api.getJSON("/api/projects/"+projectID+"/models", &models)
			for _, m := range models {
				if m.Active != (m.ID == id) {
					t.Fatalf("after picking model %d the models are %+v", id, models)
				}
			}
		}
	}

	// A reload redraws the whole stored history of the run.
	var detail struct {
		Events []struct {
			Kind string `json:"kind"`
		} `json:"events"`
	}
	api.getJSON("/api/runs/"+runID, &detail)
	iterations := 0
	for _, e := range detail.Events {
		if e.Kind == "iteration" {
			iterations++
		}
	}
	tab1.do(chromedp.Reload())
	tab1.waitJS(fmt.Sprintf(`document.querySelector("#run-info")?.dataset.runId === %q &&
		JSON.parse(document.querySelector("#loss-chart").dataset.drawn || "{}")["train loss"] === %d`, runID, iterations), 10*time.Second)

	// Areas along the slices: plotted, and the CSV has one row per slice.
	tab1.waitJS(`Object.values(JSON.parse(document.querySelector("#areas-chart").dataset.drawn || "{}")).some((n) => n > 0)`, 10*time.Second)
	// Scrolled into view, then two frames, so that the screenshot shows the scrolled page fully painted.
	tab1.do(chromedp.Evaluate[chromedp.Void](`document.querySelector("#areas").scrollIntoView()`))
	eval[bool](tab1, `new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(() => done(true))))`)
	tab1.screenshot(filepath.Join(artifacts, "areas.png"))
	tab1.expectDownload(`#areas-csv`, "text/csv; charset=utf-8")
	_, csv := api.get("/api/projects/" + projectID + "/areas.csv")
	if rows := strings.Count(strings.TrimSpace(string(csv)), "\n"); rows != len(vol.Slices) {
		t.Fatalf("areas CSV has %d rows, want one per slice (%d)", rows, len(vol.Slices))
	}

	// Pointing at slice 6 in the plot reads its areas; a click opens it in the viewer.
	at := eval[struct{ X, Y float64 }](tab1, `(() => {
		const r = document.querySelector("#areas-chart").getBoundingClientRect();
		return { x: r.left + 48 + 0.6 * (r.width - 60), y: r.top + r.height / 2 };
	})()`)
	tab1.do(chromedp.MouseEvent(chromedp.MouseMoved, at.X, at.Y))
	tab1.waitJS(`document.querySelector("#areas .readout").textContent.startsWith("slice 6 (")`, 5*time.Second)
	t.Logf("areas readout: %s", eval[string](tab1, `document.querySelector("#areas .readout").textContent`))
	tab1.do(chromedp.MouseClickXY(at.X, at.Y))
	tab1.waitViewer()
	if path := eval[string](tab1, `location.pathname + location.search`); path != "/volumes/"+volumeID+"?z=6" || eval[int](tab1, `workbench.slice()`) != 6 {
		t.Fatalf("clicking slice 6 of the areas plot opened %s", path)
	}

	// 16. Review the most uncertain prediction: accept it, correct it, export.
	tab1.do(chromedp.Navigate(api.base + "/projects/" + projectID))
	tab1.waitJS(`document.querySelectorAll(".queue li a").length > 0`, 10*time.Second)
	tab1.do(chromedp.Click(chromedp.CSS(".queue li a")))
	tab1.waitViewer()
	tab1.waitJS(`!document.querySelector("#accept").disabled`, 10*time.Second)
	z := eval[int](tab1, `workbench.slice()`)
	_, prediction := api.get(fmt.Sprintf("/api/volumes/%s/slices/%d/prediction", volumeID, z))
	tab1.screenshot(filepath.Join(artifacts, "trained-prediction.png"))
	tab1.do(chromedp.KeyEvent("a"))
	tab1.waitSaved()
	if got := api.label(volumeID, z); !bytes.Equal(got, prediction) {
		t.Fatalf("accepted label of slice %d differs from the model's prediction", z)
	}
	tab1.do(chromedp.KeyEvent("2"))
	tab1.stroke(40, 40, 80, 40)
	tab1.waitSaved()
	corrected := api.label(volumeID, z)
	if bytes.Equal(corrected, prediction) || classCounts(corrected)[2] < classCounts(prediction)[2] {
		t.Fatalf("the corrected label of slice %d: counts %v, prediction %v", z, classCounts(corrected), classCounts(prediction))
	}
	if h := api.history(volumeID, z); h[0].Origin != "manual" || h[1].Origin != "prediction" {
		t.Fatalf("history of slice %d = %+v, want the correction on top of the accepted prediction", z, h[:2])
	}

	// The export holds each slice's label, else the model's prediction: its class counts are their sum. The
	// labels-only export holds the labels alone.
	tab1.expectDownload(`header a[download][href$="/export"]`, "application/gzip")
	want, wantLabels := make([]int, 3), make([]int, 3)
	api.getJSON("/api/volumes/"+volumeID, &vol)
	for _, s := range vol.Slices {
		var mask []byte
		switch s.Status {
		case "labelled", "verified":
			mask = api.label(volumeID, s.Index)
			for c, n := range classCounts(mask) {
				wantLabels[c] += n
			}
		case "predicted", "empty": // an empty prediction is exported as background, like any other
			_, mask = api.get(fmt.Sprintf("/api/volumes/%s/slices/%d/prediction", volumeID, s.Index))
		default:
			continue
		}
		for c, n := range classCounts(mask) {
			want[c] += n
		}
	}
	// Slices without a label count as background in the labels-only export.
	wantLabels[0] += (len(vol.Slices) - countLabelled(vol.Slices)) * 320 * 320
	for _, e := range []struct {
		query string
		want  []int
	}{{"", want}, {"?manualOnly=1", wantLabels}} {
		_, exported := api.get("/api/volumes/" + volumeID + "/export" + e.query)
		img, err := nifti.ReadBytes("export_seg.nii.gz", exported)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]int, 3)
		for _, v := range img.Data {
			got[int(v)]++
		}
		if !slices.Equal(got, e.want) {
			t.Fatalf("export%s class counts %v, want %v", e.query, got, e.want)
		}
	}

	// 16b. Events missed while disconnected: the tab's websocket drops and, meanwhile, another client deletes
	// the label of slice z, which the model predicted. Back online, the tab reloads the slices' versions and
	// shows slice z as predicted with no label, not as a live label.
	tab1.waitJS(fmt.Sprintf(`workbench.slice() === %d && workbench.classCounts(%d) !== null`, z, z), 10*time.Second)
	network.setOffline(true)
	network.dropSockets()
	tab1.waitJS(`document.querySelector(".conn").textContent.startsWith("reconnecting")`, 10*time.Second)
	_, current := other.labelWithVersion(volumeID, z)
	deletedVersion := other.deleteLabel(volumeID, z, current)
	network.setOffline(false)
	tab1.waitJS(fmt.Sprintf(`workbench.labelVersion(%d) === %d`, z, deletedVersion), 20*time.Second)
	if counts := eval[[]int](tab1, fmt.Sprintf(`workbench.classCounts(%d)`, z)); counts != nil {
		t.Fatalf("after reconnecting, the deleted label of slice %d is still shown: class counts %v", z, counts)
	}
	if text := eval[string](tab1, `document.querySelector(".slice-label").textContent`); !strings.HasSuffix(text, "predicted") {
		t.Fatalf("after reconnecting, slice %d reads %q, want it predicted (its label deleted)", z, text)
	}

	// 17. A long run: a second Train now while it runs is refused with the reason, Cancel stops it, and the
	// model in use stays.
	tab1.do(chromedp.Navigate(api.base + "/projects/" + projectID))
	tab1.waitJS(fmt.Sprintf(`document.querySelector("#run-info")?.dataset.runId === %q`, runID), 10*time.Second)
	// A batch of 4 saved as the project's settings: runs use it from now on, and the project keeps its other keys.
	api.patchJSON("/api/projects/"+projectID, `{"settings": {"webNote": "kept"}}`)
	tab1.do(chromedp.Reload())
	// The app asks who is signed in before it draws a page: the form appears a moment after the reload.
	tab1.waitJS(`document.querySelector("#train-arch")?.value === "smallunet" && (document.querySelector("#train-batch-size")?.value ?? "") !== ""`, 10*time.Second)
	tab1.do(chromedp.Evaluate[chromedp.Void](`document.querySelector("#training details.more-settings").open = true; document.querySelector("#train-batch-size").value = "4"`))
	tab1.do(chromedp.Click(chromedp.CSS("#train-save-defaults")))
	var saved struct {
		Settings map[string]any `json:"settings"`
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		api.getJSON("/api/projects/"+projectID, &saved)
		if saved.Settings["batch_size"] == 4.0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if saved.Settings["batch_size"] != 4.0 || saved.Settings["webNote"] != "kept" || saved.Settings["arch"] != "smallunet" {
		t.Fatalf("project settings after saving: %v, want batch_size 4, arch smallunet and webNote kept", saved.Settings)
	}
	tab1.do(chromedp.Evaluate[chromedp.Void](`document.querySelector("#train-budget").value = "600"`))
	tab1.do(chromedp.Click(chromedp.CSS("#train-now")))
	tab1.waitJS(fmt.Sprintf(`document.querySelector("#run-info").dataset.runId !== %q && Number(document.querySelector("#loss-chart").dataset.livePoints) >= 2`, runID), 30*time.Second)
	longRun := eval[string](tab1, `document.querySelector("#run-info").dataset.runId`)
	// Reloaded mid-run, the page draws the stored history and goes on with live points.
	tab1.do(chromedp.Reload())
	tab1.waitJS(fmt.Sprintf(`document.querySelector("#run-info")?.dataset.runId === %q && document.querySelector("#run-info").dataset.status === "running" &&
		JSON.parse(document.querySelector("#loss-chart").dataset.drawn || "{}")["train loss"] >= 2 &&
		Number(document.querySelector("#loss-chart").dataset.livePoints) >= 1`, longRun), 30*time.Second)
	if settings := eval[string](tab1, `document.querySelector("#run-info .settings").textContent`); !strings.Contains(settings, "batch 4") {
		t.Fatalf("the long run's settings read %q, want the project's batch of 4", settings)
	}
	tab1.do(chromedp.Click(chromedp.CSS("#train-now")))
	tab1.waitJS(`document.querySelector("#train-message").textContent.startsWith("not started: ")`, 10*time.Second)
	t.Logf("second Train now while running: %s", eval[string](tab1, `document.querySelector("#train-message").textContent`))
	tab1.do(chromedp.Click(chromedp.CSS("#train-cancel")))
	tab1.waitJS(`document.querySelector("#run-info").dataset.status === "cancelled" && !document.querySelector("#train-cancel").checkVisibility()`, 30*time.Second)
	api.getJSON("/api/projects/"+projectID+"/models", &models)
	if len(models) != len(before)+1 || models[0].ID != trained.ID || !models[0].Active {
		t.Fatalf("models after the cancelled run: %+v, want model %d still active and nothing new", models, trained.ID)
	}

	// The earlier run's curves come back from the runs list.
	tab1.do(chromedp.Evaluate[chromedp.Void](`document.querySelector("#training details.runs-list").open = true`))
	tab1.do(chromedp.Click(chromedp.CSS(`#runs li:last-child button`)))
	tab1.waitJS(fmt.Sprintf(`document.querySelector("#run-info").dataset.runId === %q &&
		JSON.parse(document.querySelector("#loss-chart").dataset.drawn || "{}")["train loss"] === %d`, runID, iterations), 10*time.Second)
}

// sliceState is what the test reads of a volume's slice.
type sliceState struct {
	Index  int    `json:"index"`
	Status string `json:"status"`
}

// countLabelled counts the slices with a label (verified or not).
// deleteWrongUpload uploads a small wrong volume, opens it in a second tab, and deletes it from the project
// page with the confirm dialog accepted: the list and the API drop it, and the second tab says it is gone.
func deleteWrongUpload(t *testing.T, browserCtx context.Context, tab1 *tab, api apiClient, base, projectID string) {
	t.Helper()
	shape := [3]int64{16, 12, 3}
	like := &nifti.Header{Version: 1, Dim: [8]int64{3, shape[0], shape[1], shape[2], 1, 1, 1, 1},
		Pixdim: [8]float64{1, 1, 1, 1, 1, 1, 1, 1}, SformCode: 1,
		SrowX: [4]float64{1, 0, 0, 0}, SrowY: [4]float64{0, 1, 0, 0}, SrowZ: [4]float64{0, 0, 1, 0}}
	wrong := filepath.Join(t.TempDir(), "wrong_upload.nii.gz")
	var image bytes.Buffer
	if err := nifti.EncodeMask(&image, like, make([]uint8, shape[0]*shape[1]*shape[2])); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(wrong, image.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	tab1.setUploadFiles("#file-input", wrong)
	tab1.waitJS(`document.querySelectorAll("tr.volume").length === 2`, 20*time.Second)
	doomed := eval[string](tab1, `[...document.querySelectorAll("tr.volume")].find((r) => r.textContent.includes("wrong_upload")).dataset.volumeId`)

	watcherCtx, cancelWatcher := chromedp.NewContext(browserCtx)
	defer cancelWatcher()
	watcher := &tab{t: t, ctx: watcherCtx, name: "watcher"}
	watcher.do(chromedp.Navigate(base + "/volumes/" + doomed))
	watcher.waitViewer()
	watcher.waitJS(`document.querySelector(".conn.live") !== null`, 10*time.Second)

	tab1.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`tr.volume[data-volume-id="%s"] button.delete-volume`, doomed))))
	tab1.waitJS(`document.querySelector("dialog.confirm[open]") !== null`, 5*time.Second)
	if text := eval[string](tab1, `document.querySelector("dialog.confirm").textContent`); !strings.Contains(text, `"wrong_upload"`) || !strings.Contains(text, "no labelled slices") {
		t.Fatalf("confirm dialog says %q, want the volume's name and what is lost", text)
	}
	tab1.screenshot(filepath.Join("artifacts", "delete-confirm.png"))
	tab1.do(chromedp.Click(chromedp.CSS("dialog.confirm button.danger")))
	tab1.waitJS(`document.querySelectorAll("tr.volume").length === 1 && document.querySelector("dialog.confirm") === null`, 10*time.Second)
	var listed []struct{ ID int64 }
	api.getJSON("/api/projects/"+projectID+"/volumes", &listed)
	if len(listed) != 1 || strconv.FormatInt(listed[0].ID, 10) == doomed {
		t.Fatalf("volumes after the deletion: %+v, want only the first upload", listed)
	}

	watcher.waitJS(`document.querySelector("#deleted") !== null`, 10*time.Second)
	if back := eval[string](watcher, `document.querySelector("#deleted-back").getAttribute("href")`); back != "/projects/"+projectID {
		t.Fatalf("the deleted volume's viewer links back to %q, want its project", back)
	}
}

func countLabelled(slices []sliceState) int {
	n := 0
	for _, s := range slices {
		if s.Status == "labelled" || s.Status == "verified" {
			n++
		}
	}
	return n
}

// modelInfo is what the test reads of a model version.
type modelInfo struct {
	ID      int64 `json:"id"`
	RunID   int64 `json:"runId"`
	Active  bool  `json:"active"`
	Metrics struct {
		Evaluation *struct {
			Method        string `json:"method"`
			Folds, Slices int
		} `json:"evaluation"`
		TrainSlices int `json:"trainSlices"`
		ValSlices   int `json:"valSlices"`
	} `json:"metrics"`
}

// switchableNetwork passes requests to the server, or, while offline, drops the connection of every API request
// the way a lost network would (the browser's fetch fails rather than getting an HTTP status).
type switchableNetwork struct {
	next     http.Handler
	mu       sync.Mutex
	offline  bool
	hijacked []net.Conn
}

func (n *switchableNetwork) setOffline(v bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.offline = v
}

// track remembers connections taken over by the server (the websockets), for dropSockets; it is the test
// server's ConnState hook.
func (n *switchableNetwork) track(c net.Conn, state http.ConnState) {
	if state != http.StateHijacked {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.hijacked = append(n.hijacked, c)
}

// dropSockets closes every websocket, as a lost network would.
func (n *switchableNetwork) dropSockets() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, c := range n.hijacked {
		c.Close()
	}
	n.hijacked = nil
}

func (n *switchableNetwork) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n.mu.Lock()
	offline := n.offline
	n.mu.Unlock()
	if offline && strings.HasPrefix(r.URL.Path, "/api/") {
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
			return
		}
		http.Error(w, "offline", http.StatusServiceUnavailable)
		return
	}
	n.next.ServeHTTP(w, r)
}

// savePredictions stores an active model with the given per-slice uncertainties, all predicting mask, as the
// trainer would.
func savePredictions(t *testing.T, st *store.Store, projectID, volumeID string, mask []byte, uncertainty map[int]float64) {
	t.Helper()
	pid, _ := strconv.ParseInt(projectID, 10, 64)
	vid, _ := strconv.ParseInt(volumeID, 10, 64)
	ctx := context.Background()
	model, err := st.CreateModel(ctx, store.NewModel{ProjectID: pid, Arch: "e2e", Activate: true,
		Write: func(w io.Writer) error { _, err := w.Write([]byte("weights")); return err }})
	if err != nil {
		t.Fatal(err)
	}
	var preds []store.Prediction
	for z, u := range uncertainty {
		preds = append(preds, store.Prediction{VolumeID: vid, Slice: z, Mask: mask, Uncertainty: u})
	}
	if err := st.SavePredictions(ctx, model.ID, preds); err != nil {
		t.Fatal(err)
	}
}

// tab is one browser tab with the helpers the flow uses; failures stop the test with the tab's name.
type tab struct {
	t    *testing.T
	ctx  context.Context
	name string
}

// setUploadFiles puts files into a file input. The project page re-renders its drop zone when the volume list
// changes (an upload finishing, a websocket event), which can replace the input between finding it and setting
// its files; the browser then answers "Could not find node", and the input is looked up again.
func (b *tab) setUploadFiles(sel string, files ...string) {
	b.t.Helper()
	for attempt := 1; ; attempt++ {
		err := chromedp.Do(b.ctx, chromedp.SetUploadFiles(chromedp.CSS(sel), files))
		if err == nil {
			return
		}
		if attempt == 3 || !strings.Contains(err.Error(), "Could not find node") {
			b.t.Fatalf("%s: %v", b.name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (b *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", b.name, err)
	}
}

// click clicks the element sel names, looking it up again when the page re-rendered it between the lookup and
// the click (the models table redraws on every model event).
func (b *tab) click(sel string) {
	b.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS(sel)))
		if err == nil {
			return
		}
		if !strings.Contains(err.Error(), "Could not find node with given id") || time.Now().After(deadline) {
			b.t.Fatalf("%s: clicking %s: %v", b.name, sel, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// eval evaluates a JavaScript expression in the tab, awaiting it when it is a promise.
func eval[T any](b *tab, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("%s: evaluating %s: %v", b.name, expr, err)
	}
	return v
}

func (b *tab) waitJS(expr string, timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		_, err := chromedp.Run(b.ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(time.Until(deadline)), chromedp.WithPollingInterval(20*time.Millisecond)))
		if err == nil {
			return
		}
		// A page that is still navigating destroys the context the poll runs in: poll again in the new one.
		if contextGone(err) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		b.screenshot(filepath.Join("artifacts", "failure-"+b.name+".png"))
		b.t.Fatalf("%s: waiting for %s: %v", b.name, expr, err)
	}
}

func contextGone(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "Cannot find context with specified id") || strings.Contains(msg, "Execution context was destroyed")
}

// waitViewer waits until the viewer shows its slice with its label loaded.
func (b *tab) waitViewer() {
	b.t.Helper()
	b.waitJS(`!!window.workbench && workbench.ready && workbench.cachedSlices().includes(workbench.slice())`, 20*time.Second)
	b.waitJS(`document.querySelector("#slice-slider") !== null`, 5*time.Second)
}

// waitSaved waits until every change is on the server and the indicator says so.
func (b *tab) waitSaved() {
	b.t.Helper()
	b.waitJS(`workbench.saveState() === "saved" && !workbench.hasUnsaved()`, 10*time.Second)
}

func (b *tab) client(x, y int) (float64, float64) {
	b.t.Helper()
	p := eval[struct{ X, Y float64 }](b, fmt.Sprintf(`workbench.voxelToClient(%d, %d)`, x, y))
	return p.X, p.Y
}

// stroke drags the left button from voxel (x0, y0) to (x1, y1) in steps of a few voxels, as a hand would.
func (b *tab) stroke(x0, y0, x1, y1 int) {
	b.strokeAround(x0, y0, x1, y1, nil)
}

// strokeAround draws a stroke and runs during() while the button is still down.
func (b *tab) strokeAround(x0, y0, x1, y1 int, during func()) {
	b.t.Helper()
	held := func(p *input.DispatchMouseEventParams) {
		p.Button = input.MouseButtonLeft
		p.Buttons = 1
		p.ClickCount = 1
	}
	cx, cy := b.client(x0, y0)
	b.do(chromedp.MouseEvent(chromedp.MousePressed, cx, cy, held))
	steps := max(abs(x1-x0), abs(y1-y0)) / 4
	for s := 1; s <= steps; s++ {
		mx, my := b.client(x0+(x1-x0)*s/steps, y0+(y1-y0)*s/steps)
		b.do(chromedp.MouseEvent(chromedp.MouseMoved, mx, my, held))
	}
	if during != nil {
		during()
	}
	ex, ey := b.client(x1, y1)
	b.do(chromedp.MouseEvent(chromedp.MouseReleased, ex, ey, held))
}

// expectLeaveWarning leaves the page and expects the browser's "leave site?" dialog, then stays.
func (b *tab) expectLeaveWarning() {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	b.do(chromedp.Evaluate[chromedp.Void](`setTimeout(() => { location.href = "/"; }, 0)`))
	for ev, err := range dialogs {
		if err != nil {
			b.t.Fatalf("%s: no dialog on leaving with unsaved strokes: %v", b.name, err)
		}
		if ev.Type != page.DialogTypeBeforeunload {
			b.t.Fatalf("%s: dialog %q on leaving, want beforeunload", b.name, ev.Type)
		}
		break
	}
	b.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		return err
	}))
	if path := eval[string](b, `location.pathname`); !strings.HasPrefix(path, "/volumes/") {
		b.t.Fatalf("%s: left the viewer for %s despite staying", b.name, path)
	}
}

// expectDownload fetches the href of the link sel from the page and expects a non-empty file of the given type.
func (b *tab) expectDownload(sel, contentType string) {
	b.t.Helper()
	got := eval[struct {
		Status int
		Type   string
		Size   int
	}](b, fmt.Sprintf(`fetch(document.querySelector(%q).href).then(async r =>
		({status: r.status, type: r.headers.get("Content-Type"), size: (await r.arrayBuffer()).byteLength}))`, sel))
	if got.Status != http.StatusOK || got.Type != contentType || got.Size == 0 {
		b.t.Fatalf("%s: download %s answered %+v, want 200 %s with a body", b.name, sel, got, contentType)
	}
}

func (b *tab) screenshot(path string) {
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Logf("%s: screenshot %s: %v", b.name, path, err)
		return
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Logf("screenshot %s: %v", path, err)
	}
}

// stadium counts the voxels of a w x h grid within brushSize/2 of the horizontal segment x0..x1 at y = h/2
// (any row far from the border gives the same count): what a disk brush dragged along it paints.
func stadium(w, h, x0, x1, size int) int {
	r2 := float64(size*size) / 4
	y0 := h / 2
	n := 0
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			cx := min(max(x, x0), x1)
			dx, dy := float64(x-cx), float64(y-y0)
			if dx*dx+dy*dy <= r2 {
				n++
			}
		}
	}
	return n
}

func classCounts(mask []byte) []int {
	counts := make([]int, 3)
	for _, c := range mask {
		if int(c) < len(counts) {
			counts[c]++
		}
	}
	return counts
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// apiClient checks what the server stored, independently of the page.
type apiClient struct {
	t    *testing.T
	base string
}

func (a apiClient) do(req *http.Request, wantStatus int) (*http.Response, []byte) {
	a.t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	if res.StatusCode != wantStatus {
		a.t.Fatalf("%s %s: status %d, want %d: %s", req.Method, req.URL.Path, res.StatusCode, wantStatus, body)
	}
	return res, body
}

func (a apiClient) get(path string) (*http.Response, []byte) {
	a.t.Helper()
	req, err := http.NewRequest(http.MethodGet, a.base+path, nil)
	if err != nil {
		a.t.Fatal(err)
	}
	return a.do(req, http.StatusOK)
}

func (a apiClient) patchJSON(path, body string) {
	a.t.Helper()
	req, err := http.NewRequest(http.MethodPatch, a.base+path, strings.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	a.do(req, http.StatusOK)
}

func (a apiClient) getJSON(path string, v any) {
	a.t.Helper()
	_, body := a.get(path)
	if err := json.Unmarshal(body, v); err != nil {
		a.t.Fatalf("GET %s: %v", path, err)
	}
}

func (a apiClient) label(vid string, z int) []byte {
	a.t.Helper()
	mask, _ := a.labelWithVersion(vid, z)
	return mask
}

func (a apiClient) labelWithVersion(vid string, z int) ([]byte, int) {
	a.t.Helper()
	res, body := a.get(fmt.Sprintf("/api/volumes/%s/slices/%d/label", vid, z))
	version, err := strconv.Atoi(res.Header.Get("X-Label-Version"))
	if err != nil {
		a.t.Fatalf("X-Label-Version %q: %v", res.Header.Get("X-Label-Version"), err)
	}
	return body, version
}

func (a apiClient) labelVersion(vid string, z, version int) []byte {
	a.t.Helper()
	_, body := a.get(fmt.Sprintf("/api/volumes/%s/slices/%d/label/versions/%d", vid, z, version))
	return body
}

type historyEntry struct {
	Version int    `json:"version"`
	Author  string `json:"author"`
	Origin  string `json:"origin"`
}

func (a apiClient) history(vid string, z int) []historyEntry {
	a.t.Helper()
	var h []historyEntry
	a.getJSON(fmt.Sprintf("/api/volumes/%s/slices/%d/label/history", vid, z), &h)
	if len(h) < 2 {
		a.t.Fatalf("history of slice %d has %d versions, want at least 2", z, len(h))
	}
	return h
}

// deleteLabel deletes a slice's label as another client would and returns the deletion's version.
func (a apiClient) deleteLabel(vid string, z, base int) int {
	a.t.Helper()
	req, err := http.NewRequest(http.MethodDelete, fmt.Sprintf("%s/api/volumes/%s/slices/%d/label?baseVersion=%d", a.base, vid, z, base), nil)
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("X-Author", "e2e-other")
	_, body := a.do(req, http.StatusOK)
	var deleted struct {
		Version int  `json:"version"`
		Deleted bool `json:"deleted"`
	}
	if err := json.Unmarshal(body, &deleted); err != nil || !deleted.Deleted {
		a.t.Fatalf("DELETE label: %v: %s", err, body)
	}
	return deleted.Version
}

// putLabel saves a mask as another client would and returns the new version (0 when refused as wanted).
func (a apiClient) putLabel(vid string, z int, mask []byte, base, wantStatus int) int {
	a.t.Helper()
	req, err := http.NewRequest(http.MethodPut, fmt.Sprintf("%s/api/volumes/%s/slices/%d/label", a.base, vid, z), bytes.NewReader(mask))
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("X-Base-Version", strconv.Itoa(base))
	req.Header.Set("X-Author", "e2e-other")
	_, body := a.do(req, wantStatus)
	if wantStatus != http.StatusOK {
		return 0
	}
	var saved struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(body, &saved); err != nil {
		a.t.Fatalf("PUT label: %v: %s", err, body)
	}
	return saved.Version
}
