import { test } from "node:test";
import assert from "node:assert/strict";
import { diskOffsets, paintable, sampleRange, stamp, strokeRefusal, strokeSegment, type PaintGuard } from "../src/lib/brush";
import { floodFill } from "../src/lib/floodfill";

const W = 20, H = 10;

/** A ramp image: intensity = x (0..19) on every row. */
function ramp(): Float32Array {
  const img = new Float32Array(W * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) img[y * W + x] = x;
  return img;
}

test("an intensity-limited stroke paints only voxels inside [lo, hi], every one of them under the brush", () => {
  const img = ramp();
  const m = new Uint8Array(W * H);
  const guard: PaintGuard = { over: { kind: "all" }, range: { lo: 5, hi: 9 }, image: img };
  const n = strokeSegment(m, W, H, 0, 5, 19, 5, diskOffsets(3), 1, guard);
  // The stroke covers rows 4..6 across the slice; columns 5..9 are in range.
  assert.equal(n, 3 * 5);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const expect = y >= 4 && y <= 6 && x >= 5 && x <= 9 ? 1 : 0;
      assert.equal(m[y * W + x], expect, `voxel ${x},${y}`);
    }
  }
});

test("NaN intensities and a missing image are never painted", () => {
  const img = ramp();
  img[5 * W + 6] = NaN;
  const m = new Uint8Array(W * H);
  stamp(m, W, H, 6, 5, diskOffsets(1), 1, { over: { kind: "all" }, range: { lo: 0, hi: 100 }, image: img });
  assert.equal(m[5 * W + 6], 0);
  const n = stamp(m, W, H, 3, 3, diskOffsets(5), 1, { over: { kind: "all" }, range: { lo: 0, hi: 100 }, image: null });
  assert.equal(n, 0);
});

test("paint over background only protects every class; over class K only changes K alone", () => {
  const m = new Uint8Array(W * H);
  for (let x = 0; x < 10; x++) m[5 * W + x] = 2; // a row of class 2
  for (let x = 10; x < 20; x++) m[5 * W + x] = 3; // then class 3
  const bg = { over: { kind: "background" }, range: null, image: null } as const;
  strokeSegment(m, W, H, 0, 5, 19, 5, diskOffsets(3), 1, bg);
  for (let x = 0; x < 20; x++) {
    assert.equal(m[5 * W + x], x < 10 ? 2 : 3, "the labelled row is untouched");
    assert.equal(m[4 * W + x], 1, "background above it is painted");
  }
  const over2 = { over: { kind: "class", cls: 2 }, range: null, image: null } as const;
  const before = m.slice();
  strokeSegment(m, W, H, 0, 5, 19, 5, diskOffsets(3), 4, over2);
  for (let i = 0; i < m.length; i++) assert.equal(m[i], before[i] === 2 ? 4 : before[i]);
});

test("the eraser honours paint-over class K: it erases K and leaves the other classes", () => {
  const m = new Uint8Array(W * H).fill(1);
  for (let x = 0; x < W; x++) m[5 * W + x] = 2;
  stamp(m, W, H, 10, 5, diskOffsets(5), 0, { over: { kind: "class", cls: 2 }, range: null, image: null });
  assert.equal(m[5 * W + 10], 0);
  assert.equal(m[4 * W + 10], 1);
});

test("strokeRefusal names the strokes that cannot change anything", () => {
  const none = { range: null, image: null };
  assert.match(strokeRefusal(0, { over: { kind: "background" }, ...none }) ?? "", /eraser changes nothing/);
  assert.match(strokeRefusal(2, { over: { kind: "class", cls: 2 }, ...none }, ["wm", "gm"]) ?? "", /painting gm over gm only/);
  assert.match(strokeRefusal(1, { over: { kind: "all" }, range: { lo: 0, hi: 1 }, image: null }) ?? "", /still loading/);
  assert.match(strokeRefusal(1, { over: { kind: "all" }, range: { lo: 2, hi: 1 }, image: ramp() }) ?? "", /empty/);
  assert.equal(strokeRefusal(1, { over: { kind: "background" }, ...none }), null);
  assert.equal(paintable({ over: { kind: "all" }, ...none }, 3, 0), true);
});

test("sampleRange: mean ± 2 sd of the disk, a flat patch gets a 1% width, nothing finite gives null", () => {
  const img = ramp();
  const r = sampleRange(img, W, H, 10, 5, diskOffsets(3), 2);
  // 3x3 around x = 10: values 9, 10, 11 three times each: mean 10, sd sqrt(2/3).
  assert.ok(r);
  assert.ok(Math.abs(r.lo - (10 - 2 * Math.sqrt(2 / 3))) < 1e-9 && Math.abs(r.hi - (10 + 2 * Math.sqrt(2 / 3))) < 1e-9);
  const flat = new Float32Array(W * H).fill(200);
  assert.deepEqual(sampleRange(flat, W, H, 3, 3, diskOffsets(3)), { lo: 198, hi: 202 });
  assert.equal(sampleRange(new Float32Array(W * H).fill(NaN), W, H, 3, 3, diskOffsets(3)), null);
  assert.equal(sampleRange(img, W, H, -10, -10, diskOffsets(3)), null);
});

test("an intensity-limited fill grows only through in-range voxels and may reach the border", () => {
  const img = ramp();
  const m = new Uint8Array(W * H);
  const res = floodFill(m, W, H, 7, 3, 1, { over: { kind: "all" }, range: { lo: 5, hi: 9 }, image: img });
  assert.equal(res.filled, 5 * H);
  for (let i = 0; i < m.length; i++) assert.equal(m[i], img[i]! >= 5 && img[i]! <= 9 ? 1 : 0);
});

test("a fill refuses a protected start voxel with its reason and changes nothing", () => {
  const m = new Uint8Array(W * H);
  for (let x = 0; x < W; x++) m[5 * W + x] = 2;
  const before = m.slice();
  const bg = floodFill(m, W, H, 3, 5, 1, { over: { kind: "background" }, range: null, image: null });
  assert.ok("reason" in bg && /class 2 is protected/.test(bg.reason));
  const out = floodFill(m, W, H, 15, 2, 1, { over: { kind: "all" }, range: { lo: 0, hi: 9 }, image: ramp() });
  assert.ok("reason" in out && /intensity 15 is outside the range 0–9/.test(out.reason));
  const k = floodFill(m, W, H, 3, 2, 1, { over: { kind: "class", cls: 2 }, range: null, image: null });
  assert.ok("reason" in k && /background is protected/.test(k.reason));
  assert.deepEqual(m, before);
});

test("without a range a guarded fill still refuses an open background region", () => {
  const m = new Uint8Array(W * H);
  const res = floodFill(m, W, H, 3, 3, 1, { over: { kind: "background" }, range: null, image: null });
  assert.ok("reason" in res && /not closed/.test(res.reason));
});
