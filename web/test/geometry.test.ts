import { test } from "node:test";
import assert from "node:assert/strict";
import { fitView, screenToVoxel, voxelToScreen, zoomAt, displayIndex } from "../src/lib/geometry";

test("radiological convention: patient right (high x) on screen left, anterior (high y) up", () => {
  const v = { zoom: 2, panX: 10, panY: 20 };
  // The top-left display pixel shows the voxel with the largest x and y.
  assert.deepEqual(screenToVoxel(v, 8, 6, 10, 20), { x: 7, y: 5 });
  assert.deepEqual(screenToVoxel(v, 8, 6, 10 + 8 * 2 - 0.01, 20 + 6 * 2 - 0.01), { x: 0, y: 0 });
  const left = voxelToScreen(v, 8, 6, 7, 0);
  const right = voxelToScreen(v, 8, 6, 0, 0);
  assert.ok(left.x < right.x, "high x (patient right) is drawn left of low x");
  const up = voxelToScreen(v, 8, 6, 0, 5);
  const down = voxelToScreen(v, 8, 6, 0, 0);
  assert.ok(up.y < down.y, "anterior is drawn above posterior");
});

test("screenToVoxel inverts voxelToScreen for every voxel at several zooms", () => {
  for (const zoom of [0.5, 1, 3.7, 12]) {
    const v = { zoom, panX: -13.25, panY: 7.5 };
    for (let y = 0; y < 9; y++) {
      for (let x = 0; x < 11; x++) {
        const s = voxelToScreen(v, 11, 9, x, y);
        assert.deepEqual(screenToVoxel(v, 11, 9, s.x, s.y), { x, y });
      }
    }
  }
});

test("display index rotates the slice by 180 degrees", () => {
  const w = 4, h = 3, n = w * h;
  const v = { zoom: 1, panX: 0, panY: 0 };
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const s = voxelToScreen(v, w, h, x, y);
      assert.equal(Math.floor(s.y) * w + Math.floor(s.x), displayIndex(y * w + x, n));
    }
  }
});

test("fitView centres the slice and zoomAt keeps the point under the cursor", () => {
  const v = fitView(320, 320, 800, 600, 1);
  assert.equal(v.zoom, 600 / 320);
  assert.equal(v.panX, 100);
  assert.equal(v.panY, 0);
  const before = screenToVoxel(v, 320, 320, 321, 222);
  const z = zoomAt(v, 4, 321, 222);
  assert.equal(z.zoom, v.zoom * 4);
  assert.deepEqual(screenToVoxel(z, 320, 320, 321, 222), before);
});
