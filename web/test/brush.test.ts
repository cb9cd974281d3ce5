import { test } from "node:test";
import assert from "node:assert/strict";
import { diskOffsets, stamp, strokeSegment } from "../src/lib/brush";

function count(mask: Uint8Array, v: number): number {
  return mask.reduce((n, x) => n + (x === v ? 1 : 0), 0);
}

test("disk sizes: 1 is one voxel, 2 a plus, 3 a 3x3 square, 5 has 21 voxels", () => {
  assert.equal(diskOffsets(1).length / 2, 1);
  assert.equal(diskOffsets(2).length / 2, 5);
  assert.equal(diskOffsets(3).length / 2, 9);
  assert.equal(diskOffsets(5).length / 2, 21);
});

test("every disk voxel lies within the radius and the disk is symmetric", () => {
  for (const size of [1, 4, 7, 12, 25]) {
    const d = diskOffsets(size);
    const set = new Set<string>();
    for (let k = 0; k < d.length; k += 2) {
      const dx = d[k] as number, dy = d[k + 1] as number;
      assert.ok(dx * dx + dy * dy <= (size / 2) ** 2 || size < 1);
      set.add(`${dx},${dy}`);
    }
    for (const p of set) {
      const [dx, dy] = p.split(",").map(Number) as [number, number];
      assert.ok(set.has(`${-dx},${-dy}`) && set.has(`${dy},${dx}`));
    }
  }
});

test("stamp clips at the border and reports changes", () => {
  const m = new Uint8Array(10 * 10);
  assert.equal(stamp(m, 10, 10, 0, 0, diskOffsets(3), 2), 4);
  assert.equal(stamp(m, 10, 10, 0, 0, diskOffsets(3), 2), 0);
  assert.equal(count(m, 2), 4);
});

test("a horizontal stroke is the stadium of its radius around the segment", () => {
  const w = 40, h = 20, size = 5, r2 = (size / 2) ** 2;
  const m = new Uint8Array(w * h);
  strokeSegment(m, w, h, 5, 10, 30, 10, diskOffsets(size), 1);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const cx = Math.min(30, Math.max(5, x));
      const inside = (x - cx) ** 2 + (y - 10) ** 2 <= r2;
      assert.equal(m[y * w + x], inside ? 1 : 0, `voxel ${x},${y}`);
    }
  }
});

test("a fast diagonal stroke is continuous: no gaps between pointer events", () => {
  const w = 64, h = 64;
  const m = new Uint8Array(w * h);
  strokeSegment(m, w, h, 2, 3, 60, 50, diskOffsets(1), 3);
  // Each row between the endpoints holds painted voxels, and the painted voxels form one 8-connected chain.
  for (let y = 3; y <= 50; y++) {
    let any = false;
    for (let x = 0; x < w; x++) any ||= m[y * w + x] === 3;
    assert.ok(any, `row ${y} painted`);
  }
  assert.equal(count(m, 3), 59);
});

test("the eraser is a stroke of class 0", () => {
  const w = 20, h = 20;
  const m = new Uint8Array(w * h).fill(2);
  strokeSegment(m, w, h, 0, 0, 19, 19, diskOffsets(1), 0);
  assert.equal(count(m, 0), 20);
});
