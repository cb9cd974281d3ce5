import { test } from "node:test";
import assert from "node:assert/strict";
import { Palette, compose, outlineOf, parseColor } from "../src/lib/render";

const rgba = (word: number) => [word & 255, (word >>> 8) & 255, (word >>> 16) & 255, word >>> 24];

test("parseColor", () => {
  assert.deepEqual(parseColor("#ff8000"), { r: 255, g: 128, b: 0 });
  assert.deepEqual(parseColor("bad"), { r: 255, g: 0, b: 255 });
});

test("compose blends the label at the opacity, draws outlines solid, and rotates to display order", () => {
  const pal = new Palette([parseColor("#ff0000"), parseColor("#0000ff")], 0.5);
  const gray = Uint8Array.of(100, 200, 0, 50);
  const mask = Uint8Array.of(0, 1, 0, 2);
  const outline = Uint8Array.of(0, 0, 2, 0);
  const out = new Uint32Array(4);
  compose(gray, mask, outline, pal, out);
  // voxel 0 -> display 3, voxel 3 -> display 0
  assert.deepEqual(rgba(out[3] as number), [100, 100, 100, 255]);
  assert.deepEqual(rgba(out[2] as number), [228, 100, 100, 255]);
  assert.deepEqual(rgba(out[1] as number), [0, 0, 255, 255]);
  assert.deepEqual(rgba(out[0] as number), [25, 25, 153, 255]);
  compose(gray, null, null, pal, out);
  assert.deepEqual(rgba(out[2] as number), [200, 200, 200, 255]);
});

test("outlineOf keeps region boundaries only", () => {
  const w = 5, h = 5;
  const m = new Uint8Array(w * h);
  for (let y = 1; y <= 3; y++) for (let x = 1; x <= 3; x++) m[y * w + x] = 1;
  const o = outlineOf(m, w, h);
  assert.equal(o[2 * w + 2], 0, "interior voxel");
  assert.equal(o.reduce((n, v) => n + (v === 1 ? 1 : 0), 0), 8);
});
