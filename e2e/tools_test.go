package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mriworkbench/workbench/store"
)

// toolsFixture is one server, one project (wm, gm) with the 320x320x11 t2s volume, and one browser tab.
type toolsFixture struct {
	t        *testing.T
	st       *store.Store
	api      apiClient
	b        *tab
	base     string
	vid      string
	pid      string
	volumeID int64
	w, h     int
}

func newToolsFixture(t *testing.T) *toolsFixture {
	chromium := requireBrowserApp(t)
	if err := os.MkdirAll("artifacts", 0o755); err != nil {
		t.Fatal(err)
	}
	srv, st := newAppServer(t)
	p, err := st.CreateProject(context.Background(), "tools", []store.Class{{Name: "wm", Color: "#3b82f6"}, {Name: "gm", Color: "#ef4444"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	v := importVolume(t, st, p.ID, volumeFile)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &toolsFixture{t: t, st: st, api: apiClient{t: t, base: ts.URL}, b: &tab{t: t, ctx: newBrowser(t, chromium), name: "tools"},
		base: ts.URL, vid: strconv.FormatInt(v.ID, 10), pid: strconv.FormatInt(p.ID, 10), volumeID: v.ID, w: v.Shape[0], h: v.Shape[1]}
}

// open shows slice z in a freshly loaded viewer.
func (f *toolsFixture) open(z int) {
	f.t.Helper()
	f.b.do(chromedp.Navigate(fmt.Sprintf("%s/volumes/%s?z=%d", f.base, f.vid, z)))
	f.b.waitViewer()
	f.b.waitJS(`workbench.slice() === `+strconv.Itoa(z), 5*time.Second)
}

// setField sets an input's or select's value and fires its change event, as a user's edit does.
func (f *toolsFixture) setField(sel, value string) {
	f.t.Helper()
	eval[bool](f.b, fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.value = %q;
		e.dispatchEvent(new Event("change", {bubbles: true})); e.dispatchEvent(new Event("input", {bubbles: true})); return true; })()`, sel, value))
}

func (f *toolsFixture) click(sel string) {
	f.t.Helper()
	f.b.waitJS(fmt.Sprintf(`(() => { const e = document.querySelector(%q); return !!e && !e.disabled && e.offsetParent !== null; })()`, sel), 10*time.Second)
	eval[bool](f.b, fmt.Sprintf(`(document.querySelector(%q).click(), true)`, sel))
}

func (f *toolsFixture) putMask(z int, mask []byte, base int) int {
	f.t.Helper()
	return f.api.putLabel(f.vid, z, mask, base, http.StatusOK)
}

// image is the slice's float32 intensities, read from the API as any client would.
func (f *toolsFixture) image(z int) []float32 {
	f.t.Helper()
	_, body := f.api.get(fmt.Sprintf("/api/volumes/%s/slices/%d", f.vid, z))
	if len(body) != 4*f.w*f.h {
		f.t.Fatalf("slice %d: %d bytes, want %d", z, len(body), 4*f.w*f.h)
	}
	out := make([]float32, f.w*f.h)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(body[4*i:]))
	}
	return out
}

// footprint marks the voxels a brush of diameter size dragged from (x0, y) to (x1, y) covers.
func footprint(w, h, x0, x1, y, size int) []bool {
	r2 := float64(size*size) / 4
	out := make([]bool, w*h)
	for yy := range h {
		for x := range w {
			cx := min(max(x, x0), x1)
			dx, dy := float64(x-cx), float64(yy-y)
			out[yy*w+x] = dx*dx+dy*dy <= r2
		}
	}
	return out
}

func labelOrigin(t *testing.T, a apiClient, vid string, z int) string {
	t.Helper()
	res, _ := a.get(fmt.Sprintf("/api/volumes/%s/slices/%d/label", vid, z))
	return res.Header.Get("X-Label-Origin")
}

// TestPaintingAndReviewTools drives issue 12's painting and review tools in headless Chromium against the
// real server and checks what the server stored: review queue thumbnails, interpolation of two painted slices,
// an intensity-limited stroke, paint-over protecting another class, Accept on a verified slice asking first (and
// auto-zoom on that review slice), a history preview refusing to paint, and copying a neighbour's label (asking
// before it replaces one). Each step leaves a screenshot in e2e/artifacts/tools-*.png.
func TestPaintingAndReviewTools(t *testing.T) {
	f := newToolsFixture(t)
	n := f.w * f.h
	// A prediction on slice 7 only (a rectangle of wm), from an active model.
	pred := make([]byte, n)
	for y := 140; y < 170; y++ {
		for x := 140; x < 190; x++ {
			pred[y*f.w+x] = 1
		}
	}
	savePredictions(t, f.st, f.pid, f.vid, pred, map[int]float64{7: 0.5})

	t.Run("review queue entries show thumbnails of the prediction", func(t *testing.T) {
		f.b.t = t
		f.b.do(chromedp.Navigate(f.base + "/projects/" + f.pid))
		f.b.waitJS(`(() => { const i = document.querySelector(".queue li img.thumb"); return !!i && i.complete && i.naturalWidth === 128; })()`, 10*time.Second)
		// The thumbnail is the server's PNG for the queued slice: the prediction's outline in wm's colour.
		src := eval[string](f.b, `document.querySelector(".queue li img.thumb").getAttribute("src")`)
		if src != fmt.Sprintf("/api/volumes/%s/slices/7/thumbnail?size=128", f.vid) {
			t.Fatalf("queue thumbnail %q", src)
		}
		blue := eval[int](f.b, `(() => {
			const i = document.querySelector(".queue li img.thumb"), c = document.createElement("canvas");
			c.width = c.height = 128;
			const g = c.getContext("2d"); g.drawImage(i, 0, 0);
			const d = g.getImageData(0, 0, 128, 128).data; let n = 0;
			for (let k = 0; k < d.length; k += 4) if (d[k] === 0x3b && d[k + 1] === 0x82 && d[k + 2] === 0xf6) n++;
			return n; })()`)
		if blue == 0 {
			t.Fatal("the queue thumbnail shows no prediction outline")
		}
		eval[bool](f.b, `(document.querySelector(".queue").scrollIntoView(), true)`)
		f.b.screenshot(filepath.Join("artifacts", "tools-queue-thumbnails.png"))
	})

	t.Run("interpolation fills the gap and is accepted", func(t *testing.T) {
		f.b.t = t
		f.open(2)
		eval[bool](f.b, `(workbench.setBrushSize(15), workbench.setClass(1), true)`)
		f.b.stroke(140, 150, 180, 150)
		f.b.waitSaved()
		eval[bool](f.b, `(workbench.setSlice(6), true)`)
		f.b.waitViewer()
		f.b.stroke(150, 160, 200, 160)
		f.b.waitSaved()
		f.setField("#interp-slices", "2,6")
		f.click("#interpolate")
		f.b.waitJS(`!document.querySelector("#drafts-bar").hidden && document.querySelector("#drafts-info").textContent.startsWith("3 drafts (slices 3–5)")`, 10*time.Second)
		f.b.screenshot(filepath.Join("artifacts", "tools-interpolation-drafts.png"))
		// Drafts are not stored until accepted.
		for z := 3; z <= 5; z++ {
			if s := f.sliceStatus(z); s != "unlabelled" {
				t.Fatalf("slice %d is %s before accepting its draft", z, s)
			}
		}
		f.click("#drafts-accept-all")
		f.b.waitJS(`document.querySelector("#drafts-bar").hidden`, 10*time.Second)
		f.b.waitSaved()
		f.b.screenshot(filepath.Join("artifacts", "tools-interpolation-accepted.png"))
		// What was stored is exactly the server's interpolation between the two painted slices.
		var drafts struct {
			Drafts []struct {
				Slice int    `json:"slice"`
				Mask  []byte `json:"mask"`
			} `json:"drafts"`
		}
		f.api.postJSON(fmt.Sprintf("/api/volumes/%s/interpolate", f.vid), `{"slices":[2,6]}`, &drafts)
		a2, a6 := classCounts(f.api.label(f.vid, 2))[1], classCounts(f.api.label(f.vid, 6))[1]
		for _, d := range drafts.Drafts {
			got := f.api.label(f.vid, d.Slice)
			area := classCounts(got)[1]
			if !bytes.Equal(got, d.Mask) || area < min(a2, a6)/2 || labelOrigin(t, f.api, f.vid, d.Slice) != store.OriginInterpolated {
				t.Errorf("slice %d: stored label equals the draft: %v, wm area %d (painted slices %d, %d), origin %q",
					d.Slice, bytes.Equal(got, d.Mask), area, a2, a6, labelOrigin(t, f.api, f.vid, d.Slice))
			}
		}
		if len(drafts.Drafts) != 3 {
			t.Fatalf("%d drafts between 2 and 6, want 3", len(drafts.Drafts))
		}
	})

	t.Run("an intensity-limited stroke leaves voxels outside the range untouched", func(t *testing.T) {
		f.b.t = t
		const z, y, x0, x1, size = 8, 150, 120, 200, 9
		img := f.image(z)
		fp := footprint(f.w, f.h, x0, x1, y, size)
		// The range is the middle third of the intensities under the stroke, so both sides are really there.
		var under []float64
		for i, in := range fp {
			if in {
				under = append(under, float64(img[i]))
			}
		}
		lo, hi := quantile(under, 1.0/3), quantile(under, 2.0/3)
		f.open(z)
		eval[bool](f.b, fmt.Sprintf(`(workbench.setBrushSize(%d), workbench.setClass(1), true)`, size))
		f.setField("#range-lo", strconv.FormatFloat(lo, 'g', -1, 64))
		f.setField("#range-hi", strconv.FormatFloat(hi, 'g', -1, 64))
		eval[bool](f.b, `(() => { const c = document.querySelector("#range-on"); c.checked = true; c.dispatchEvent(new Event("change")); return true; })()`)
		// The fields show five significant digits; the range in force is what they say.
		lo, _ = strconv.ParseFloat(eval[string](f.b, `document.querySelector("#range-lo").value`), 64)
		hi, _ = strconv.ParseFloat(eval[string](f.b, `document.querySelector("#range-hi").value`), 64)
		f.b.stroke(x0, y, x1, y)
		f.b.waitSaved()
		f.b.screenshot(filepath.Join("artifacts", "tools-intensity-range.png"))
		got := f.api.label(f.vid, z)
		painted, outside := 0, 0
		for i := range got {
			v := float64(img[i])
			want := byte(0)
			if fp[i] && v >= lo && v <= hi {
				want = 1
			}
			if fp[i] && want == 0 {
				outside++
			}
			if got[i] != want {
				t.Fatalf("voxel (%d, %d) intensity %g: stored %d, want %d (range %g..%g, under the brush %v)", i%f.w, i/f.w, v, got[i], want, lo, hi, fp[i])
			}
			if got[i] == 1 {
				painted++
			}
		}
		if painted == 0 || outside == 0 {
			t.Fatalf("%d voxels painted, %d under the brush left out: the range did not split the stroke", painted, outside)
		}
		t.Logf("range %.4g..%.4g: %d voxels painted, %d under the brush outside the range left untouched", lo, hi, painted, outside)
	})

	t.Run("paint over background only protects another class", func(t *testing.T) {
		f.b.t = t
		const z, y, x0, x1, size = 9, 150, 120, 200, 11
		gm := make([]byte, n)
		for yy := 140; yy < 160; yy++ {
			for x := 150; x < 170; x++ {
				gm[yy*f.w+x] = 2
			}
		}
		f.putMask(z, gm, 0)
		f.open(z)
		eval[bool](f.b, fmt.Sprintf(`(workbench.setBrushSize(%d), workbench.setClass(1), true)`, size))
		f.setField("#paint-over", "0")
		f.b.stroke(x0, y, x1, y)
		f.b.waitSaved()
		f.b.screenshot(filepath.Join("artifacts", "tools-paint-over.png"))
		got := f.api.label(f.vid, z)
		fp := footprint(f.w, f.h, x0, x1, y, size)
		for i := range got {
			want := gm[i]
			if want == 0 && fp[i] {
				want = 1
			}
			if got[i] != want {
				t.Fatalf("voxel (%d, %d): stored %d, want %d", i%f.w, i/f.w, got[i], want)
			}
		}
		f.setField("#paint-over", "all")
	})

	t.Run("Accept on a verified slice asks first", func(t *testing.T) {
		f.b.t = t
		const z = 7
		manual := make([]byte, n)
		for y := 145; y < 165; y++ {
			for x := 150; x < 175; x++ {
				manual[y*f.w+x] = 2
			}
		}
		v1 := f.putMask(z, manual, 0)
		if _, err := f.st.SetVerified(context.Background(), f.volumeID, z, v1, true, "e2e-reviewer"); err != nil {
			t.Fatal(err)
		}
		f.open(z)
		f.b.waitJS(`!document.querySelector("#accept").disabled && workbench.classCounts(7) !== null`, 10*time.Second)
		// A review slice (the model predicted it) opens zoomed to its structure: the label's box, whose centre
		// is voxel (162, 154.5), lands in the canvas's centre, at more than the fitted zoom.
		zoom := eval[struct{ DX, Fit, CX, CY float64 }](f.b, `(() => {
			const c = document.querySelector("canvas.view").getBoundingClientRect();
			const a = workbench.voxelToClient(162, 154), b = workbench.voxelToClient(163, 154);
			const [w, h] = workbench.shape();
			return {dx: Math.abs(a.x - b.x), fit: Math.min(c.width / w, c.height / h) * 0.95,
				cx: a.x - (c.left + c.width / 2), cy: a.y - (c.top + c.height / 2)};
		})()`)
		if zoom.DX < 1.5*zoom.Fit || math.Abs(zoom.CX) > zoom.DX || math.Abs(zoom.CY) > zoom.DX {
			t.Fatalf("auto-zoom: %.2f px per voxel (fitted %.2f), box centre %.1f, %.1f px from the canvas centre", zoom.DX, zoom.Fit, zoom.CX, zoom.CY)
		}
		t.Logf("auto-zoom on the review slice: %.2f px per voxel (fitted: %.2f)", zoom.DX, zoom.Fit)
		f.b.do(chromedp.KeyEvent("a"))
		f.b.waitJS(`!!document.querySelector("#confirm") && /^Slice 7 is verified\./.test(document.querySelector("#confirm-question").textContent)`, 5*time.Second)
		f.b.screenshot(filepath.Join("artifacts", "tools-accept-verified-asks.png"))
		f.click("#confirm-no")
		f.b.waitJS(`!document.querySelector("#confirm")`, 5*time.Second)
		time.Sleep(1500 * time.Millisecond) // longer than the autosave delay: nothing may be saved
		if unsaved := eval[bool](f.b, `workbench.hasUnsaved()`); unsaved {
			t.Fatal("declining the question left unsaved changes")
		}
		if got, version := f.api.labelWithVersion(f.vid, z); !bytes.Equal(got, manual) || version != v1+1 {
			t.Fatalf("after No: version %d (want %d), equal to the verified label: %v", version, v1+1, bytes.Equal(got, manual))
		}
		f.click("#accept")
		f.b.waitJS(`!!document.querySelector("#confirm")`, 5*time.Second)
		f.click("#confirm-yes")
		f.b.waitSaved()
		f.b.screenshot(filepath.Join("artifacts", "tools-accept-verified-replaced.png"))
		got, version := f.api.labelWithVersion(f.vid, z)
		if !bytes.Equal(got, pred) || version != v1+2 || labelOrigin(t, f.api, f.vid, z) != store.OriginPrediction {
			t.Fatalf("after Yes: version %d (want %d), equal to the prediction: %v, origin %q", version, v1+2, bytes.Equal(got, pred), labelOrigin(t, f.api, f.vid, z))
		}
		if s := f.sliceStatus(z); s != "labelled" {
			t.Fatalf("slice %d is %s after accepting over the verified label, want labelled (no longer verified)", z, s)
		}
	})

	t.Run("previewing a version refuses to paint", func(t *testing.T) {
		f.b.t = t
		const z = 1
		first, second := make([]byte, n), make([]byte, n)
		for y := 140; y < 160; y++ {
			for x := 140; x < 160; x++ {
				first[y*f.w+x] = 1
				second[y*f.w+x+20] = 1
			}
		}
		v1 := f.putMask(z, first, 0)
		v2 := f.putMask(z, second, v1)
		f.open(z)
		f.click("#history-toggle")
		f.click(fmt.Sprintf(`#history li[data-version="%d"] button`, v1))
		f.b.waitJS(fmt.Sprintf(`!document.querySelector("#preview-banner").hidden && document.querySelector("#preview-banner").textContent.startsWith("previewing version %d")`, v1), 5*time.Second)
		// Left of the box on screen (radiological: higher x is further left), clear of the history panel.
		f.b.stroke(172, 150, 200, 150)
		f.b.waitJS(fmt.Sprintf(`document.querySelector("#toast").textContent.startsWith("previewing version %d: painting is off")`, v1), 5*time.Second)
		f.b.screenshot(filepath.Join("artifacts", "tools-preview-refuses.png"))
		time.Sleep(1500 * time.Millisecond)
		if unsaved := eval[bool](f.b, `workbench.hasUnsaved()`); unsaved {
			t.Fatal("a stroke while previewing left unsaved changes")
		}
		if got, version := f.api.labelWithVersion(f.vid, z); version != v2 || !bytes.Equal(got, second) {
			t.Fatalf("after the refused stroke: version %d (want %d), equal to version %d: %v", version, v2, v2, bytes.Equal(got, second))
		}
		// The same stroke once the preview is hidden paints: the refusal was the preview's, not a missed stroke.
		f.click(fmt.Sprintf(`#history li[data-version="%d"] button`, v1))
		f.b.waitJS(`document.querySelector("#preview-banner").hidden`, 5*time.Second)
		f.b.stroke(172, 150, 200, 150)
		f.b.waitSaved()
		if got, version := f.api.labelWithVersion(f.vid, z); version != v2+1 || classCounts(got)[1] <= classCounts(second)[1] {
			t.Fatalf("after hiding the preview: version %d (want %d), wm %d voxels (version %d had %d)", version, v2+1, classCounts(got)[1], v2, classCounts(second)[1])
		}
	})

	t.Run("copy from the slice below, asking before it replaces a label", func(t *testing.T) {
		f.b.t = t
		// Slice 10 has no label; the nearest labelled slice below is 9 (wm painted around gm above).
		below := f.api.label(f.vid, 9)
		f.open(10)
		f.click("#copy-below")
		f.b.waitJS(`workbench.hasUnsaved() || workbench.labelVersion(10) > 0`, 5*time.Second)
		f.b.waitSaved()
		if got := f.api.label(f.vid, 10); !bytes.Equal(got, below) || labelOrigin(t, f.api, f.vid, 10) != store.OriginInterpolated {
			t.Fatalf("slice 10 after Copy ↓: equal to slice 9: %v, origin %q", bytes.Equal(got, below), labelOrigin(t, f.api, f.vid, 10))
		}
		f.click("#copy-above")
		f.b.waitJS(`document.querySelector("#toast").textContent === "no labelled slice above slice 10"`, 5*time.Second)
		// Slice 8 has the intensity-limited stroke: copying slice 7 over it asks, and No keeps it.
		kept, version := f.api.labelWithVersion(f.vid, 8)
		eval[bool](f.b, `(workbench.setSlice(8), true)`)
		f.b.waitViewer()
		f.click("#copy-below")
		f.b.waitJS(`!!document.querySelector("#confirm") && /^Slice 8 has a manual label \(version \d+\)\. Replace it/.test(document.querySelector("#confirm-question").textContent)`, 5*time.Second)
		f.b.screenshot(filepath.Join("artifacts", "tools-copy-asks.png"))
		f.click("#confirm-no")
		time.Sleep(1500 * time.Millisecond)
		if got, v := f.api.labelWithVersion(f.vid, 8); v != version || !bytes.Equal(got, kept) || eval[bool](f.b, `workbench.hasUnsaved()`) {
			t.Fatalf("after No: slice 8 version %d (want %d), unchanged: %v", v, version, bytes.Equal(got, kept))
		}
	})
}

func (f *toolsFixture) sliceStatus(z int) string {
	f.t.Helper()
	var vol struct {
		Slices []struct {
			Index    int    `json:"index"`
			Status   string `json:"status"`
			Verified bool   `json:"verified"`
		} `json:"slices"`
	}
	f.api.getJSON("/api/volumes/"+f.vid, &vol)
	for _, s := range vol.Slices {
		if s.Index == z {
			if s.Verified {
				return "verified"
			}
			return s.Status
		}
	}
	return "unlabelled"
}

// quantile is the q-quantile (nearest rank) of values.
func quantile(values []float64, q float64) float64 {
	s := slices.Clone(values)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func (a apiClient) postJSON(path, body string, v any) {
	a.t.Helper()
	req, err := http.NewRequest(http.MethodPost, a.base+path, strings.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	_, out := a.do(req, http.StatusOK)
	if err := json.Unmarshal(out, v); err != nil {
		a.t.Fatalf("POST %s: %v", path, err)
	}
}
