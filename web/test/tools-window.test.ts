import { test } from "node:test";
import assert from "node:assert/strict";
import { fitView, screenToVoxel, zoomAt } from "../src/lib/geometry";
import {
  boxWindow, growBox, histogram, histogramBars, intensityAt, maskBox, percentiles, presetWindow, structureWindow,
  visibleBox, windowMarks, type WindowSources,
} from "../src/lib/windowlevel";

const near = (a: number, b: number, eps = 1e-6) => assert.ok(Math.abs(a - b) < eps, `${a} != ${b}`);

test("percentiles match numpy's linear interpolation and skip NaN", () => {
  // np.percentile([3,1,4,1,5,9,2,6,5,3,5], [1,25,50,99]) = [1, 2.5, 4, 8.7]
  const p = percentiles(Float32Array.of(3, 1, 4, 1, NaN, 5, 9, 2, 6, 5, 3, 5, Infinity), [1, 25, 50, 99]);
  assert.ok(p);
  [1, 2.5, 4, 8.7].forEach((v, i) => near(p[i] as number, v, 1e-5));
  assert.equal(percentiles(Float32Array.of(NaN), [50]), null);
});

test("the structure window is the 1st-99th percentile inside the mask widened by a quarter per side", () => {
  const img = new Float32Array(100).map((_, i) => i);
  const mask = new Uint8Array(100);
  mask.fill(2, 10, 60);
  // numpy: percentile(10..59, [1, 99]) = 10.49, 58.51; widened by 12.005: -1.515 .. 70.515
  const wl = structureWindow(img, mask);
  assert.ok(wl);
  near(wl.center - wl.width / 2, -1.515, 1e-4);
  near(wl.center + wl.width / 2, 70.515, 1e-4);
  assert.equal(structureWindow(img, new Uint8Array(100)), null);
});

test("maskBox, growBox and boxWindow", () => {
  const w = 8, h = 6;
  const m = new Uint8Array(w * h);
  m[2 * w + 3] = 1;
  m[4 * w + 5] = 2;
  assert.deepEqual(maskBox(m, w, h), { x0: 3, y0: 2, x1: 5, y1: 4 });
  assert.equal(maskBox(new Uint8Array(w * h), w, h), null);
  assert.deepEqual(growBox({ x0: 3, y0: 2, x1: 5, y1: 4 }, 3, w, h), { x0: 0, y0: 0, x1: 7, y1: 5 });
  const img = new Float32Array(w * h).map((_, i) => (i % w === 0 ? 1000 : 10 + (i % 2)));
  // Column 0 (value 1000) is outside the box: the window spans 10..11 only.
  const wl = boxWindow(img, w, { x0: 1, y0: 0, x1: 7, y1: 5 });
  assert.ok(wl);
  near(wl.center - wl.width / 2, 10, 1e-6);
  near(wl.center + wl.width / 2, 11, 1e-6);
});

test("visibleBox agrees with screenToVoxel at the canvas corners, fitted and zoomed", () => {
  const w = 320, h = 240, cw = 800, ch = 600;
  for (const view of [fitView(w, h, cw, ch), zoomAt(fitView(w, h, cw, ch), 6, 500, 200)]) {
    const b = visibleBox(view, w, h, cw, ch);
    assert.ok(b);
    const clampX = (x: number) => Math.min(w - 1, Math.max(0, x));
    const clampY = (y: number) => Math.min(h - 1, Math.max(0, y));
    const tl = screenToVoxel(view, w, h, 0.01, 0.01);
    const br = screenToVoxel(view, w, h, cw - 0.01, ch - 0.01);
    assert.deepEqual(b, { x0: clampX(br.x), x1: clampX(tl.x), y0: clampY(br.y), y1: clampY(tl.y) });
  }
  assert.equal(visibleBox({ zoom: 1, panX: 5000, panY: 0 }, w, h, cw, ch), null);
});

test("presetWindow: structure, else visible area, else the volume; full is min-max", () => {
  const w = 10, h = 10;
  const img = new Float32Array(w * h).map((_, i) => i);
  const stats = { min: 0, max: 99, p1: 1, p99: 98 };
  const mask = new Uint8Array(w * h);
  mask.fill(1, 40, 50);
  const src: WindowSources = { image: img, w, h, structure: mask, visible: { x0: 0, y0: 0, x1: 4, y1: 9 }, stats };
  assert.equal(presetWindow("structure", src).from, "the structure");
  assert.equal(presetWindow("structure", { ...src, structure: null }).from, "the visible area");
  assert.equal(presetWindow("structure", { ...src, image: null }).from, "the volume");
  assert.deepEqual(presetWindow("full", src).wl, { center: 49.5, width: 99 });
  assert.deepEqual(presetWindow("volume", src).wl, { center: 49.5, width: 97 });
  const vis = presetWindow("visible", src).wl;
  // Visible columns 0..4 of every row: values 0..94; numpy percentile([1, 99]) of them = 0.49, 93.51.
  near(vis.center - vis.width / 2, 0.49, 1e-4);
  near(vis.center + vis.width / 2, 93.51, 1e-4);
});

test("histogram counts in-range values; bars are log-scaled; window marks and picking invert each other", () => {
  const c = histogram(Float32Array.of(0, 0.5, 1, 9.99, 10, 11, NaN, -1), 0, 10, 10);
  assert.deepEqual([...c], [2, 1, 0, 0, 0, 0, 0, 0, 0, 2]);
  // Stride 2 counts values 0, 2, 4, 6 of the list: 0, 1, 10, NaN.
  assert.deepEqual([...histogram(Float32Array.of(0, 0.5, 1, 9.99, 10, 11, NaN, -1), 0, 10, 10, 2)], [1, 1, 0, 0, 0, 0, 0, 0, 0, 1]);
  const bars = histogramBars(c, 50);
  near(bars[0] as number, 50);
  near(bars[2] as number, 0);
  near(bars[9] as number, 50);
  near(bars[1] as number, (Math.log(2) / Math.log(3)) * 50, 1e-5);
  const m = windowMarks({ center: 5, width: 4 }, 0, 10, 200);
  assert.deepEqual(m, { x0: 60, x1: 140, xc: 100 });
  assert.deepEqual(windowMarks({ center: 5, width: 40 }, 0, 10, 200), { x0: 0, x1: 200, xc: 100 });
  near(intensityAt(m.x0, 0, 10, 200), 3);
  near(intensityAt(m.x1, 0, 10, 200), 7);
});
