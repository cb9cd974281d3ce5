import { test } from "node:test";
import assert from "node:assert/strict";
import { applyWindow, defaultWindow, dragWindow, greyOf } from "../src/lib/windowlevel";

test("default window spans p1..p99", () => {
  assert.deepEqual(defaultWindow({ min: -5, max: 900, p1: 10, p99: 410 }), { center: 210, width: 400 });
});

test("default window falls back to min..max, then to a unit width, for flat images", () => {
  assert.deepEqual(defaultWindow({ min: 0, max: 8, p1: 3, p99: 3 }), { center: 4, width: 8 });
  assert.deepEqual(defaultWindow({ min: 2, max: 2, p1: 2, p99: 2 }), { center: 2.5, width: 1 });
});

test("window maps lo to 0, hi to 255, linear between, clamps outside and NaN to 0", () => {
  const wl = { center: 100, width: 200 };
  const src = Float32Array.of(-50, 0, 50, 120, 200, 1e9, NaN);
  const out = new Uint8Array(src.length);
  applyWindow(src, wl, out);
  assert.deepEqual([...out], [0, 0, 64, 153, 255, 255, 0]);
  assert.equal(greyOf(150, wl), 191);
});

test("right-drag: dx widens the window, dy raises the level, the width stays positive", () => {
  const start = { center: 100, width: 50 };
  assert.deepEqual(dragWindow(start, 500, 0, 1000), { center: 100, width: 1050 });
  assert.deepEqual(dragWindow(start, 0, 250, 1000), { center: 600, width: 50 });
  assert.ok(dragWindow(start, -5000, 0, 1000).width > 0);
});
