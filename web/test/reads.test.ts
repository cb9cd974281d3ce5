import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeReadMask, describeAgreement, sharedBox } from "../src/lib/reads";

test("read masks decode from base64 and refuse a wrong length", () => {
  const m = decodeReadMask(Buffer.from([0, 1, 2, 0]).toString("base64"), 4);
  assert.deepEqual([...m], [0, 1, 2, 0]);
  assert.throws(() => decodeReadMask(Buffer.from([1, 2]).toString("base64"), 4), /2 bytes, want 4/);
});

test("the shared box covers every read's foreground, padded, at least minSide, inside the slice", () => {
  const w = 100, h = 80;
  const a = new Uint8Array(w * h), b = new Uint8Array(w * h);
  a[40 * w + 50] = 1;
  b[45 * w + 60] = 2;
  assert.deepEqual(sharedBox([a, b], w, h, 2, 4), { x0: 48, y0: 38, x1: 63, y1: 48 });
  // Small structures get at least minSide voxels of context.
  const box = sharedBox([a], w, h, 0, 32);
  assert.equal(box.x1 - box.x0, 32);
  assert.equal(box.y1 - box.y0, 32);
  assert.ok(box.x0 <= 50 && box.x1 > 50 && box.y0 <= 40 && box.y1 > 40);
  // Near the border the box stays inside.
  const c = new Uint8Array(w * h);
  c[0] = 1;
  assert.deepEqual(sharedBox([c], w, h, 8, 32), { x0: 0, y0: 0, x1: 32, y1: 32 });
  assert.deepEqual(sharedBox([new Uint8Array(w * h)], w, h), { x0: 0, y0: 0, x1: w, y1: h });
});

test("agreement lines say Dice, Hausdorff and the signed area difference", () => {
  assert.equal(describeAgreement({ class: 1, dice: 0.8234, hausdorffMm: 1.44, hd95Mm: 1, areaAMm2: 10, areaBMm2: 13.2, areaDiffMm2: -3.2 }),
    "Dice 0.82 · HD 1.4 mm · area Δ −3.2 mm²");
  assert.equal(describeAgreement({ class: 1, dice: 0, hausdorffMm: null, hd95Mm: null, areaAMm2: 4, areaBMm2: 0, areaDiffMm2: 4 }),
    "Dice 0.00 · HD — (one read lacks it) · area Δ +4.0 mm²");
});
