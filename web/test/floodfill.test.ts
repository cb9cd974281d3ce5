import { test } from "node:test";
import assert from "node:assert/strict";
import { floodFill } from "../src/lib/floodfill";

function ring(w: number, h: number, x0: number, y0: number, x1: number, y1: number, v: number): Uint8Array {
  const m = new Uint8Array(w * h);
  for (let x = x0; x <= x1; x++) {
    m[y0 * w + x] = v;
    m[y1 * w + x] = v;
  }
  for (let y = y0; y <= y1; y++) {
    m[y * w + x0] = v;
    m[y * w + x1] = v;
  }
  return m;
}

test("fills the inside of a closed contour and nothing outside", () => {
  const m = ring(12, 10, 2, 2, 8, 7, 1);
  const res = floodFill(m, 12, 10, 5, 5, 1);
  assert.equal(res.filled, 5 * 4);
  for (let y = 0; y < 10; y++) {
    for (let x = 0; x < 12; x++) {
      const inBox = x >= 2 && x <= 8 && y >= 2 && y <= 7;
      assert.equal(m[y * 12 + x], inBox ? 1 : 0);
    }
  }
});

test("4-connectivity: a diagonal gap does not leak", () => {
  const w = 5, h = 5;
  // A diamond of class 2 closed only diagonally around the centre.
  const m = new Uint8Array(w * h);
  for (const [x, y] of [[2, 1], [1, 2], [3, 2], [2, 3]] as const) m[y * w + x] = 2;
  const res = floodFill(m, w, h, 2, 2, 2);
  assert.equal(res.filled, 1);
});

test("refuses an open background region and leaves the mask untouched", () => {
  const m = ring(12, 10, 2, 2, 8, 7, 1);
  m[2 * 12 + 5] = 0; // a hole in the contour
  const before = m.slice();
  const res = floodFill(m, 12, 10, 5, 5, 1);
  assert.equal(res.filled, 0);
  assert.ok("reason" in res && /not closed/.test(res.reason));
  assert.deepEqual(m, before);
});

test("recolours a labelled region even when it touches the border", () => {
  const m = new Uint8Array(6 * 6).fill(1);
  m[0] = 0;
  assert.equal(floodFill(m, 6, 6, 3, 3, 2).filled, 35);
  assert.equal(m[0], 0);
});

test("no-ops: outside the slice, same class", () => {
  const m = new Uint8Array(4);
  assert.equal(floodFill(m, 2, 2, 5, 0, 1).filled, 0);
  assert.equal(floodFill(m, 2, 2, 0, 0, 0).filled, 0);
});
