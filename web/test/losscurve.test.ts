import { test } from "node:test";
import assert from "node:assert/strict";
import { drawChart, layoutChart, type Ctx2D } from "../src/lib/chart";
import { clipTop, lossMeaning, lossOffset, quantile, shifted } from "../src/lib/losscurve";

test("losses with a Dice term are shifted by 1 so that a perfect model shows 0", () => {
  for (const name of ["dice", "dice-perclass", "dice+ce"]) assert.equal(lossOffset(name), 1, name);
  assert.equal(lossOffset("ce"), 0);
  assert.equal(lossOffset(undefined), 0);
  // -0.83 reported (soft Dice 0.83, no cross-entropy) reads 0.17; a perfect -1 reads 0.
  assert.deepEqual(shifted([-0.83, -1, 0.4], lossOffset("dice")).map((v) => Number(v.toFixed(12))), [0.17, 0, 1.4]);
  assert.equal(lossMeaning("dice+ce"), "1 − mean soft Dice per class + cross-entropy");
  assert.equal(lossMeaning("ce"), "cross-entropy");
});

test("quantiles interpolate as numpy.percentile does", () => {
  // numpy.percentile([1, 2, 3, 4, 10], [0, 50, 95, 100]) = [1, 3, 8.8, 10]
  assert.deepEqual([0, 0.5, 0.95, 1].map((q) => Number(quantile([10, 2, 1, 4, 3], q).toFixed(12))), [1, 3, 8.8, 10]);
  assert.equal(quantile([NaN, 5, Infinity], 0.5), 5);
  assert.ok(Number.isNaN(quantile([], 0.5)));
});

test("an early spike is clipped at the 95th percentile with headroom; calm curves are not", () => {
  const train = Array.from({ length: 100 }, (_, i) => 0.9 * Math.exp(-i / 30) + 0.1);
  const val = [9, 0.6, 0.4, 0.3, 0.25];
  const top = clipTop([train, val]);
  assert.ok(top !== undefined && top < 1.2 && top > 0.8, `clip at ${top}`);
  assert.equal(clipTop([train, [0.6, 0.4, 0.3]]), undefined, "nothing far above the rest");
  assert.equal(clipTop([[0.5, 9, 0.4]]), undefined, "too few points to call one a spike");
  assert.equal(clipTop([Array(30).fill(0)]), undefined, "all zero");
});

function recorder() {
  const arcs: Array<[number, number]> = [];
  const moves: Array<[number, number]> = [];
  let strokes = 0, fills = 0;
  const ctx = {
    save() {}, restore() {}, clearRect() {}, beginPath() {}, setLineDash() {}, rect() {}, clip() {}, fillText() {},
    stroke: () => void strokes++, fill: () => void fills++,
    moveTo: (x: number, y: number) => void moves.push([x, y]),
    lineTo: () => {},
    arc: (x: number, y: number) => void arcs.push([x, y]),
    measureText: (t: string) => ({ width: t.length * 6 }) as TextMetrics,
    strokeStyle: "", fillStyle: "", lineWidth: 1, font: "", textAlign: "left", textBaseline: "alphabetic",
  } as unknown as Ctx2D;
  return { ctx, arcs, moves, counts: () => ({ strokes, fills }) };
}

test("a clipped chart keeps the axis to the clip and marks points above it with arrows on the top edge", () => {
  const train = Array.from({ length: 50 }, (_, i) => 1 - i / 60);
  const xs = train.map((_, i) => i);
  const o = {
    series: [
      { name: "validation loss", color: "#f59e0b", xs: [0, 20, 40], ys: [9, 0.7, 0.4], marks: ["ring", "ring", "ring"] as const },
      { name: "train loss", color: "#4f8cff", xs, ys: train },
    ],
    includeZeroY: true,
    yClip: clipTop([train, [9, 0.7, 0.4]]),
  };
  assert.ok(o.yClip !== undefined);
  const layout = layoutChart(400, 200, o);
  assert.ok(layout.y.max < 2 && layout.y.min === 0, `axis ${JSON.stringify(layout.y)} follows the clip, not the spike to 9`);
  const { ctx, arcs, moves } = recorder();
  const drawn = drawChart(ctx, 400, 200, o);
  assert.equal(drawn["validation loss (clipped)"], 1);
  assert.equal(drawn["validation loss"], 3);
  assert.equal(drawn["train loss"], 50);
  assert.equal(arcs.length, 2, "rings for the two points on the axis, an arrow for the spike");
  const top = layout.plot.top;
  assert.ok(moves.some(([, y]) => y === top - 4), "the arrow's tip is above the plot's top edge");
  for (const [, y] of arcs) assert.ok(y > top && y < layout.plot.bottom);
});

test("ring marks are outlines only, so the train line under them stays visible", () => {
  const { ctx, counts } = recorder();
  drawChart(ctx, 400, 200, { series: [{ name: "v", color: "#f00", xs: [1, 2], ys: [1, 2], line: false, marks: ["ring", "ring"] }] });
  const { fills } = counts();
  assert.equal(fills, 0, "no fill hides what is under a ring");
});
