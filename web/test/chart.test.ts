import { test } from "node:test";
import assert from "node:assert/strict";
import {
  axisRange, decimalsOf, decimate, drawChart, extentOf, formatTick, layoutChart, linearScale, nearestIndex, niceStep,
  niceTicks, plotArea, readingAt,
  type Ctx2D, type Series,
} from "../src/lib/chart";

test("nice steps are 1, 2 or 5 times a power of ten", () => {
  assert.equal(niceStep(10, 5), 2);
  assert.equal(niceStep(1, 5), 0.2);
  assert.equal(niceStep(0.37, 4), 0.1);
  assert.equal(niceStep(7, 2), 5);
  assert.equal(niceStep(900, 3), 200);
  assert.equal(niceStep(0.9, 4), 0.2);
  assert.equal(niceStep(0, 5), 1);
  assert.equal(niceStep(Infinity, 5), 1);
});

test("ticks are the step's multiples within the range, printed without float noise", () => {
  assert.deepEqual(niceTicks(0, 1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(0.05, 0.95, 4), [0.2, 0.4, 0.6, 0.8]);
  assert.deepEqual(niceTicks(-3, 7, 5), [-2, 0, 2, 4, 6]);
  assert.deepEqual(niceTicks(0.1, 0.3, 2), [0.1, 0.2, 0.3]);
  assert.deepEqual(niceTicks(5, 5, 5), [5]);
  assert.deepEqual(niceTicks(3, 1, 5), []);
  assert.deepEqual(niceTicks(NaN, 1, 5), []);
  assert.equal(decimalsOf(0.2), 1);
  assert.equal(decimalsOf(0.05), 2);
  assert.equal(decimalsOf(5), 0);
  assert.equal(decimalsOf(500), 0);
  assert.equal(formatTick(0.30000000000000004, 0.1), "0.3");
  assert.equal(formatTick(-0.0001, 0.1), "0.0");
  assert.equal(formatTick(-0.0001, 1), "0");
  assert.equal(formatTick(1500, 500), "1500");
});

test("extents skip non-finite values; axis ranges round outwards to ticks and include forced bounds", () => {
  const s: Series[] = [
    { name: "a", color: "#fff", xs: [1, 2, 3], ys: [0.5, NaN, 1.3] },
    { name: "b", color: "#fff", xs: [0, 10], ys: [0.7, Infinity] },
  ];
  assert.deepEqual(extentOf(s, "x"), { min: 0, max: 10 });
  assert.deepEqual(extentOf(s, "y"), { min: 0.5, max: 1.3 });
  assert.equal(extentOf([{ name: "e", color: "", xs: [], ys: [] }], "y"), null);
  assert.deepEqual(axisRange({ min: 0.53, max: 1.27 }, { maxTicks: 5 }), { min: 0.4, max: 1.4 });
  assert.deepEqual(axisRange({ min: 0.53, max: 1.27 }, { includeZero: true, maxTicks: 5 }), { min: 0, max: 1.4 });
  assert.deepEqual(axisRange({ min: 0.2, max: 0.6 }, { min: 0, max: 1 }), { min: 0, max: 1 });
  // A single value still gets a visible range, and an empty chart a unit one.
  assert.deepEqual(axisRange({ min: 2, max: 2 }), { min: 1.8, max: 2.2 });
  assert.deepEqual(axisRange({ min: 0, max: 0 }, { includeZero: true }), { min: 0, max: 1 });
  assert.deepEqual(axisRange(null), { min: 0, max: 1 });
});

test("linear scales map the domain onto the pixel range, backwards too", () => {
  const y = linearScale({ min: 0, max: 2 }, 200, 0);
  assert.equal(y(0), 200);
  assert.equal(y(2), 0);
  assert.equal(y(0.5), 150);
  assert.equal(linearScale({ min: 1, max: 1 }, 10, 30)(5), 20);
});

test("decimation keeps the first, last, lowest and highest point of every pixel column", () => {
  const n = 1000;
  const xs = Array.from({ length: n }, (_, i) => i);
  const ys = xs.map((i) => (i === 437 ? 50 : i === 612 ? -50 : Math.sin(i)));
  const x = linearScale({ min: 0, max: n - 1 }, 0, 100);
  const idx = decimate(xs, ys, x, 100);
  assert.ok(idx.length <= 4 * 101, `${idx.length} points kept`);
  assert.ok(idx.includes(437) && idx.includes(612), "spikes kept");
  assert.equal(idx[0], 0);
  assert.equal(idx[idx.length - 1], n - 1);
  assert.deepEqual([...idx].sort((a, b) => a - b), idx, "in order");
  // Short series are drawn whole.
  assert.deepEqual(decimate([0, 1, 2], [1, 2, 3], x, 100), [0, 1, 2]);
});

/** A context that records where lines went and dots were drawn. */
function recorder() {
  const calls: Array<[string, ...number[]]> = [];
  const texts: string[] = [];
  const ctx: Ctx2D = {
    save() {}, restore() {}, clearRect() {}, beginPath() {}, stroke() {}, fill() {}, setLineDash() {}, rect() {}, clip() {},
    moveTo: (x: number, y: number) => void calls.push(["moveTo", x, y]),
    lineTo: (x: number, y: number) => void calls.push(["lineTo", x, y]),
    arc: (x: number, y: number) => void calls.push(["arc", x, y]),
    fillText: (t: string) => void texts.push(t),
    measureText: (t: string) => ({ width: t.length * 6 }) as TextMetrics,
    strokeStyle: "", fillStyle: "", lineWidth: 1, font: "", textAlign: "left", textBaseline: "alphabetic",
  } as Ctx2D;
  return { ctx, calls, texts };
}

test("drawChart puts each point where the scales say, breaks lines at gaps, and counts what it drew", () => {
  const { ctx, calls, texts } = recorder();
  const drawn = drawChart(ctx, 400, 200, {
    series: [
      { name: "train", color: "#4f8cff", xs: [0, 1, 2, 3], ys: [1, 0.5, NaN, 0.25] },
      { name: "val", color: "#f59e0b", xs: [2], ys: [0.6], line: false },
    ],
    includeZeroY: true,
    xLabel: "iteration",
  });
  assert.deepEqual(drawn, { train: 3, val: 1 });
  const p = plotArea(400, 200, true);
  const X = linearScale({ min: 0, max: 3 }, p.left, p.right);
  const Y = linearScale({ min: 0, max: 1 }, p.bottom, p.top);
  const at = (k: string, x: number, y: number) => calls.some(([c, cx, cy]) => c === k && Math.abs((cx as number) - x) < 1e-9 && Math.abs((cy as number) - y) < 1e-9);
  assert.ok(at("moveTo", X(0), Y(1)) && at("lineTo", X(1), Y(0.5)), "first segment");
  assert.ok(at("moveTo", X(3), Y(0.25)), "the line restarts after the gap");
  assert.ok(!at("lineTo", X(3), Y(0.25)), "no segment across the gap");
  assert.ok(at("arc", X(2), Y(0.6)), "validation dot");
  for (const t of ["0.0", "0.6", "1.0", "iteration", "train", "val"]) assert.ok(texts.includes(t), `label ${t} in ${texts.join(",")}`);
});

test("an empty chart says so", () => {
  const { ctx, texts } = recorder();
  assert.deepEqual(drawChart(ctx, 300, 150, { series: [{ name: "train", color: "#fff", xs: [], ys: [] }], empty: "no run yet" }), { train: 0 });
  assert.ok(texts.includes("no run yet"));
});

test("nearest index by binary search, ties to the left", () => {
  const xs = [0, 2, 4, 10];
  assert.deepEqual([-5, 0, 0.9, 1, 1.1, 6.9, 7.1, 99].map((v) => nearestIndex(xs, v)), [0, 0, 0, 0, 1, 2, 3, 3]);
  assert.equal(nearestIndex([], 1), -1);
});

test("the reading under the pointer is the nearest x of any series and each series' value there", () => {
  const o = {
    series: [
      { name: "train", color: "#a", xs: [1, 2, 3, 4, 5, 6], ys: [1, 0.9, 0.8, 0.7, 0.6, 0.5] },
      { name: "val", color: "#b", xs: [3, 6], ys: [0.85, NaN] },
    ],
  };
  const layout = layoutChart(400, 200, o);
  const X = linearScale(layout.x, layout.plot.left, layout.plot.right);
  assert.deepEqual(readingAt(layout, o, X(3.2)), { x: 3, values: [{ name: "train", color: "#a", y: 0.8 }, { name: "val", color: "#b", y: 0.85 }] });
  // A missing value is left out rather than shown as NaN.
  assert.deepEqual(readingAt(layout, o, X(6)), { x: 6, values: [{ name: "train", color: "#a", y: 0.5 }] });
  assert.equal(readingAt(layout, o, layout.plot.left - 30), null);
  assert.equal(readingAt(layoutChart(400, 200, { series: [] }), { series: [] }, 100), null);
});
