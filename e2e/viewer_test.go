package e2e

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/mriworkbench/workbench/internal/ingest"
	"github.com/mriworkbench/workbench/internal/testenv"
	"github.com/mriworkbench/workbench/nifti"
	"github.com/mriworkbench/workbench/store"
)

const (
	psrT2    = "sct_testing_data/t2/t2.nii.gz"
	psrT2Seg = "sct_testing_data/t2/t2_seg-manual.nii.gz"
)

// planeBox is a plane canvas's client rectangle and its size in device pixels.
type planeBox struct {
	Left, Top, Width, Height float64
	CW, CH                   float64
}

func (b *tab) planeBox(kind string) planeBox {
	b.t.Helper()
	return eval[planeBox](b, fmt.Sprintf(`(() => { const c = document.querySelector('canvas[data-plane=%q]'); const r = c.getBoundingClientRect();
		return { left: r.left, top: r.top, width: r.width, height: r.height, cw: c.width, ch: c.height }; })()`, kind))
}

// clientOf is where the centre of display cell (col, row) of a cols x rows plane lies on the screen when the
// plane is fitted to its canvas (95% margin, centred, rows aspect times as tall as columns are wide): the test's
// own statement of the layout, not the app's.
func (p planeBox) clientOf(cols, rows int, aspect float64, col, row int) (float64, float64) {
	zoom := math.Min(p.CW/float64(cols), p.CH/(float64(rows)*aspect)) * 0.95
	panX := (p.CW - float64(cols)*zoom) / 2
	panY := (p.CH - float64(rows)*aspect*zoom) / 2
	k := p.Width / p.CW
	return p.Left + (panX+(float64(col)+0.5)*zoom)*k, p.Top + (panY+(float64(row)+0.5)*zoom*aspect)*k
}

// redPixels counts the pixels of a plane's canvas where the red cord label shows (grey has r = g = b).
func (b *tab) redPixels(kind string) int {
	b.t.Helper()
	return eval[int](b, fmt.Sprintf(`(() => { const c = document.querySelector('canvas[data-plane=%q]');
		const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data; let n = 0;
		for (let i = 0; i < d.length; i += 4) if (d[i] > d[i + 1] + 60 && d[i] > d[i + 2] + 60) n++; return n; })()`, kind))
}

// The PSR t2 volume (sagittal acquisition, 60x55x52 in the file, 52x60x55 canonical) in three linked planes: a
// click in the sagittal plane lands on the canonical voxel the radiological layout puts there, the axial plane
// follows its slice, and the readout names the voxel in canonical and file indices and in mm, computed here from
// the file itself. Clicks in the coronal plane, keys over a plane and Escape out of the window fields follow;
// the layout is remembered across a reload.
func TestViewerCrosshairLinksThreePlanes(t *testing.T) {
	chromium := requireBrowserApp(t)
	artifacts := "artifacts"
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	srv, st := newAppServer(t)
	ctx := context.Background()
	p, err := st.CreateProject(ctx, "planes", []store.Class{{Name: "cord", Color: "#ff0000"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	v := importVolume(t, st, p.ID, psrT2)
	if v.Shape != [3]int{52, 60, 55} {
		t.Fatalf("canonical shape %v, want 52x60x55", v.Shape)
	}
	src, err := nifti.Read(testenv.SharedData(t, psrT2))
	if err != nil {
		t.Fatal(err)
	}
	seg, err := nifti.Read(testenv.SharedData(t, psrT2Seg))
	if err != nil {
		t.Fatal(err)
	}
	cord, _ := seg.Canonical()
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	api := apiClient{t: t, base: ts.URL}
	vid := fmt.Sprint(v.ID)
	n := 52 * 60
	labelled := 0
	for z := 5; z < 50; z++ {
		mask := make([]byte, n)
		for i := range mask {
			if cord.Data[z*n+i] > 0.5 {
				mask[i] = 1
			}
		}
		api.putLabel(vid, z, mask, 0, 200)
		labelled++
	}

	browserCtx := newBrowser(t, chromium)
	tb := &tab{t: t, ctx: browserCtx, name: "planes"}
	csp := watchCSP(t, browserCtx)
	tb.do(chromedp.Navigate(fmt.Sprintf("%s/volumes/%d", ts.URL, v.ID)))
	tb.waitViewer()
	tb.waitJS(`workbench.volumeReady()`, 20*time.Second)
	if got := eval[string](tb, `workbench.layout()`); got != "1x3" {
		t.Fatalf("default layout %q, want 1x3", got)
	}
	for kind, want := range map[string]string{"axial": "RLAP", "sagittal": "APSI", "coronal": "RLSI"} {
		got := eval[string](tb, fmt.Sprintf(`["left","right","top","bottom"].map(s => document.querySelector(".plane-%s .letter." + s).textContent).join("")`, kind))
		if got != want {
			t.Errorf("%s letters %q, want %q", kind, got, want)
		}
	}
	if z := eval[int](tb, `workbench.slice()`); z != 27 {
		t.Fatalf("opened on slice %d, want the middle one, 27", z)
	}
	start := eval[[]int](tb, `workbench.cross()`)

	// 1. Labels are drawn in all three planes.
	tb.waitJS(`workbench.cachedSlices().includes(27)`, 10*time.Second)
	for _, kind := range []string{"axial", "sagittal", "coronal"} {
		if red := tb.redPixels(kind); red == 0 {
			t.Errorf("%s plane shows no label pixels", kind)
		}
	}

	// 2. A click in the sagittal plane: anterior is on the left, superior up, so canonical (y, z) sits in
	// display column 59-y, row 54-z.
	const wantY, wantZ = 35, 12
	sag := tb.planeBox("sagittal")
	cx, cy := sag.clientOf(60, 55, 1, 59-wantY, 54-wantZ)
	tb.do(chromedp.MouseEvent(chromedp.MouseMoved, cx, cy), chromedp.MouseClickXY(cx, cy))
	tb.waitJS(fmt.Sprintf(`workbench.slice() === %d`, wantZ), 5*time.Second)
	x := start[0]
	if got := eval[[]int](tb, `workbench.cross()`); !slices.Equal(got, []int{x, wantY, wantZ}) {
		t.Fatalf("crosshair %v after the sagittal click, want [%d %d %d]", got, x, wantY, wantZ)
	}
	if got := eval[string](tb, `document.querySelector("#slice-slider").value`); got != fmt.Sprint(wantZ) {
		t.Fatalf("slider at %s, want %d", got, wantZ)
	}
	// The file's voxel: PSR, so file i = 59 - y (posterior), j = z (superior), k = x (right).
	fi, fj, fk := 59-wantY, wantZ, x
	sshape := src.Shape()
	value := src.Data[fi+sshape[0]*(fj+sshape[1]*fk)]
	aff := src.Header.Affine()
	var mm [3]float64
	for r := range 3 {
		mm[r] = aff[r][0]*float64(fi) + aff[r][1]*float64(fj) + aff[r][2]*float64(fk) + aff[r][3]
	}
	readout := eval[string](tb, `document.querySelector("#readout").textContent`)
	for _, want := range []string{
		fmt.Sprintf("voxel %d %d %d", x, wantY, wantZ),
		fmt.Sprintf("file %d %d %d", fi, fj, fk),
		fmt.Sprintf("%.1f %.1f %.1f mm", mm[0], mm[1], mm[2]),
		fmt.Sprintf("  ·  %v", float64(value)),
	} {
		if !strings.Contains(readout, want) {
			t.Errorf("readout %q lacks %q", readout, want)
		}
	}
	t.Logf("sagittal click: readout %q", readout)
	tb.screenshot(filepath.Join(artifacts, "viewer-planes-1x3.png"))

	// 3. A click in the coronal plane: the patient's right on the left, superior up: (x, z) at column 51-x,
	// row 54-z; y stays.
	const cx2X, cx2Z = 20, 30
	cor := tb.planeBox("coronal")
	px, py := cor.clientOf(52, 55, 1, 51-cx2X, 54-cx2Z)
	tb.do(chromedp.MouseEvent(chromedp.MouseMoved, px, py), chromedp.MouseClickXY(px, py))
	tb.waitJS(fmt.Sprintf(`workbench.slice() === %d`, cx2Z), 5*time.Second)
	if got := eval[[]int](tb, `workbench.cross()`); !slices.Equal(got, []int{cx2X, wantY, cx2Z}) {
		t.Fatalf("crosshair %v after the coronal click, want [%d %d %d]", got, cx2X, wantY, cx2Z)
	}

	// 4. Keys act on the plane under the pointer: over the coronal plane ArrowUp moves its y, not the slice.
	tb.do(chromedp.KeyEvent(kb.ArrowUp))
	if got := eval[[]int](tb, `workbench.cross()`); !slices.Equal(got, []int{cx2X, wantY + 1, cx2Z}) {
		t.Fatalf("crosshair %v after ArrowUp over the coronal plane, want y %d", got, wantY+1)
	}
	// Over the axial plane the readout follows the slice: no stale z.
	ax := tb.planeBox("axial")
	ax0, ay0 := ax.clientOf(52, 60, 1, 51-10, 59-20)
	tb.do(chromedp.MouseEvent(chromedp.MouseMoved, ax0, ay0))
	tb.do(chromedp.KeyEvent(kb.ArrowUp))
	tb.waitJS(fmt.Sprintf(`workbench.slice() === %d && document.querySelector("#readout").textContent.startsWith("voxel 10 20 %d")`, cx2Z+1, cx2Z+1), 5*time.Second)

	// 5. Typing a level, then Escape: the keyboard is the viewer's again and the arrows change the slice.
	tb.do(chromedp.Click(chromedp.CSS("input.wl")), chromedp.KeyEvent("5"), chromedp.KeyEvent(kb.ArrowUp))
	if z := eval[int](tb, `workbench.slice()`); z != cx2Z+1 {
		t.Fatalf("an arrow typed into the level field changed the slice to %d", z)
	}
	tb.do(chromedp.KeyEvent(kb.Escape))
	if tag := eval[string](tb, `document.activeElement.tagName`); tag != "CANVAS" {
		t.Fatalf("after Escape the focus is on %s, want a plane", tag)
	}
	tb.do(chromedp.KeyEvent(kb.ArrowUp))
	tb.waitJS(fmt.Sprintf(`workbench.slice() === %d`, cx2Z+2), 5*time.Second)

	// 6. The overlay off: no label pixels anywhere.
	tb.do(chromedp.KeyEvent("o"))
	for _, kind := range []string{"axial", "sagittal", "coronal"} {
		if red := tb.redPixels(kind); red != 0 {
			t.Errorf("%s plane shows %d label pixels with the overlay off", kind, red)
		}
	}
	tb.do(chromedp.KeyEvent("o"))

	// 7. Layout 2x2, remembered across a reload.
	tb.do(chromedp.Evaluate[chromedp.Void](`(() => { const s = document.querySelector("#layout"); s.value = "2x2"; s.dispatchEvent(new Event("change")); })()`))
	tb.do(chromedp.Reload())
	tb.waitViewer()
	tb.waitJS(`workbench.volumeReady() && workbench.layout() === "2x2" && document.querySelector(".planes").classList.contains("layout-2x2")`, 20*time.Second)
	tb.screenshot(filepath.Join(artifacts, "viewer-planes-2x2.png"))
	t.Logf("PSR t2 with %d labelled slices; screenshots in %s", labelled, artifacts)
	csp.check(t, tb.name)
}

// writeSyntheticNifti writes an uncompressed NIfTI-1 int16 volume of w x h x d voxels (1 mm, RAS identity
// affine): a bright ball in a gradient, enough structure for a viewer benchmark.
func writeSyntheticNifti(t testing.TB, path string, w, h, d int) {
	t.Helper()
	hdr := make([]byte, 352)
	le := binary.LittleEndian
	le.PutUint32(hdr[0:], 348)
	for i, v := range []int16{3, int16(w), int16(h), int16(d), 1, 1, 1, 1} {
		le.PutUint16(hdr[40+2*i:], uint16(v))
	}
	le.PutUint16(hdr[70:], 4) // int16
	le.PutUint16(hdr[72:], 16)
	for i := range 4 {
		le.PutUint32(hdr[76+4*i:], math.Float32bits(1))
	}
	le.PutUint32(hdr[108:], math.Float32bits(352))
	le.PutUint32(hdr[112:], math.Float32bits(1))
	le.PutUint16(hdr[254:], 1) // sform
	for r, row := range [3][4]float32{{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}} {
		for c, f := range row {
			le.PutUint32(hdr[280+16*r+4*c:], math.Float32bits(f))
		}
	}
	copy(hdr[344:], "n+1\x00")
	data := make([]byte, 2*w*h*d)
	i := 0
	for z := range d {
		for y := range h {
			for x := range w {
				dx, dy, dz := float64(x-w/2), float64(y-h/2), float64(z-d/2)
				v := 100 + (x+2*y+3*z)%200
				if dx*dx+dy*dy+dz*dz < float64(w*w)/16 {
					v += 600
				}
				le.PutUint16(data[2*i:], uint16(v))
				i++
			}
		}
	}
	if err := os.WriteFile(path, append(hdr, data...), 0o644); err != nil {
		t.Fatal(err)
	}
}

func importFileAt(t testing.TB, st *store.Store, projectID int64, path string) store.VolumeMeta {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := ingest.Decode(filepath.Base(path), data, nifti.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v, _, err := ingest.Import(context.Background(), st, projectID, filepath.Base(path), data, dec, nil, "cli")
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// benchEval evaluates an expression in the benchmark's tab, awaiting a promise.
func benchEval[T any](b *testing.B, ctx context.Context, expr string) T {
	b.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// redrawLoop switches the axial slice back and forth over up to 64 slices around the middle with the arrow
// keys, and times each switch until all three planes hold their new pixels (reading one pixel back from each
// canvas makes the browser finish drawing). One untimed pass first renders every slice once.
const redrawLoop = `(async () => {
	const d = workbench.shape()[2], span = Math.min(d - 1, 64), first = Math.max(0, Math.floor(d / 2) - span / 2);
	const ctxs = [...document.querySelectorAll("canvas.plane-canvas")].map((c) => c.getContext("2d"));
	workbench.setSlice(first);
	const times = [];
	for (let round = -1; round < 3; round++) {
		for (const key of ["ArrowUp", "ArrowDown"]) {
			for (let i = 0; i < span; i++) {
				const t0 = performance.now();
				window.dispatchEvent(new KeyboardEvent("keydown", { key, bubbles: true }));
				for (const c of ctxs) c.getImageData(0, 0, 1, 1);
				if (round >= 0) times.push(performance.now() - t0);
			}
		}
		// Let the browser breathe between rounds, as a user's key repeat would.
		await new Promise((r) => setTimeout(r, 0));
	}
	return times;
})()`

// BenchmarkViewerRedraw times a slice change that redraws all three planes (1x3 layout, 1280x900 window) on the
// real 320x320x11 T2* volume and on a synthetic 256x256x256 one, and the time from navigation to the first
// drawn axial slice and to the whole volume's arrival (loopback). Reported: p50/p99/max ms per switch.
//
//	go test ./e2e -run '^$' -bench BenchmarkViewerRedraw -benchtime=1x -count=1
func BenchmarkViewerRedraw(b *testing.B) {
	chromium := requireBrowserApp(b)
	for _, tc := range []struct {
		name string
		path func(b *testing.B) string
	}{
		{"320x320x11", func(b *testing.B) string { return testenv.SharedData(b, volumeFile) }},
		{"256x256x256", func(b *testing.B) string {
			p := filepath.Join(b.TempDir(), "synthetic256.nii")
			writeSyntheticNifti(b, p, 256, 256, 256)
			return p
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			srv, st := newAppServer(b)
			p, err := st.CreateProject(context.Background(), "bench", []store.Class{{Name: "cord", Color: "#ff0000"}}, nil)
			if err != nil {
				b.Fatal(err)
			}
			v := importFileAt(b, st, p.ID, tc.path(b))
			ts := httptest.NewServer(srv.Handler())
			b.Cleanup(ts.Close)
			ctx := newBrowser(b, chromium)
			// The app once first, so the timed open of the volume finds its files in the browser cache where allowed.
			if _, err := chromedp.Run(ctx, chromedp.Navigate(ts.URL+"/")); err != nil {
				b.Fatal(err)
			}
			if _, err := chromedp.Run(ctx, chromedp.Navigate(fmt.Sprintf("%s/volumes/%d", ts.URL, v.ID))); err != nil {
				b.Fatal(err)
			}
			wait := func(expr string) {
				if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(60*time.Second), chromedp.WithPollingInterval(10*time.Millisecond))); err != nil {
					b.Fatalf("waiting for %s: %v", expr, err)
				}
			}
			wait(`!!window.workbench && workbench.marks().firstDrawn !== null && workbench.volumeReady()`)
			marks := benchEval[struct{ FirstDrawn, VolumeReady float64 }](b, ctx, `workbench.marks()`)
			var times []float64
			b.ResetTimer()
			for range b.N {
				times = append(times, benchEval[[]float64](b, ctx, redrawLoop)...)
			}
			b.StopTimer()
			slices.Sort(times)
			pct := func(q float64) float64 { return times[min(len(times)-1, int(q*float64(len(times))))] }
			mean := 0.0
			for _, t := range times {
				mean += t
			}
			mean /= float64(len(times))
			b.ReportMetric(mean*1e6, "ns/op")
			b.ReportMetric(pct(0.5), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
			b.ReportMetric(times[len(times)-1], "max-ms")
			b.ReportMetric(marks.FirstDrawn, "first-slice-ms")
			b.ReportMetric(marks.VolumeReady, "volume-ms")
			b.Logf("%s: %d switches redrawing 3 planes: p50 %.2f ms, p99 %.2f ms, max %.2f ms; first slice drawn %.0f ms, whole volume %.0f ms after navigation",
				tc.name, len(times), pct(0.5), pct(0.99), times[len(times)-1], marks.FirstDrawn, marks.VolumeReady)
		})
	}
}
