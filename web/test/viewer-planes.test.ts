import { test } from "node:test";
import assert from "node:assert/strict";
import {
  PLANES, fromPlane, inVolume, isLayout, layoutKey, planeAspect, planeLetters, planeSize, stepAlongNormal, toPlane,
} from "../src/viewer/planes";

const g = { w: 52, h: 60, d: 55 };

test("each plane's size and the voxel every display pixel shows round-trip", () => {
  assert.deepEqual(planeSize("axial", g), { cols: 52, rows: 60 });
  assert.deepEqual(planeSize("coronal", g), { cols: 52, rows: 55 });
  assert.deepEqual(planeSize("sagittal", g), { cols: 60, rows: 55 });
  const at = { x: 10, y: 20, z: 30 };
  for (const kind of PLANES) {
    const { cols, rows } = planeSize(kind, g);
    for (const [col, row] of [[0, 0], [cols - 1, rows - 1], [7, 11]] as const) {
      const v = fromPlane(kind, g, col, row, at);
      assert.ok(inVolume(v, g), `${kind} ${col},${row}`);
      assert.deepEqual(toPlane(kind, g, v), { col, row }, kind);
    }
  }
});

test("radiological display: right and anterior/superior where the letters say", () => {
  const at = { x: 0, y: 0, z: 0 };
  // Axial and coronal: the top-left pixel is the patient's rightmost voxel (x = W-1).
  assert.equal(fromPlane("axial", g, 0, 0, at).x, g.w - 1);
  assert.equal(fromPlane("axial", g, 0, 0, at).y, g.h - 1, "anterior up");
  assert.equal(fromPlane("coronal", g, 0, 0, at).x, g.w - 1);
  assert.equal(fromPlane("coronal", g, 0, 0, at).z, g.d - 1, "superior up");
  // Sagittal: anterior (y = H-1) on the left, superior up; x is the crosshair's.
  assert.deepEqual(fromPlane("sagittal", g, 0, 0, { x: 9, y: 0, z: 0 }), { x: 9, y: g.h - 1, z: g.d - 1 });
  assert.deepEqual(planeLetters("axial"), { left: "R", right: "L", top: "A", bottom: "P" });
  assert.deepEqual(planeLetters("coronal"), { left: "R", right: "L", top: "S", bottom: "I" });
  assert.deepEqual(planeLetters("sagittal"), { left: "A", right: "P", top: "S", bottom: "I" });
});

test("thick slices are drawn tall in the reformats, the axial keeps square pixels", () => {
  const spacing = [0.5, 0.5, 7.5];
  assert.equal(planeAspect("axial", spacing), 1);
  assert.equal(planeAspect("coronal", spacing), 15);
  assert.equal(planeAspect("sagittal", spacing), 15);
  assert.equal(planeAspect("sagittal", [1, 0, Number.NaN]), 1, "unusable spacings count as 1 mm");
});

test("keys step the plane under the cursor along its normal, clamped", () => {
  const at = { x: 10, y: 20, z: 30 };
  assert.deepEqual(stepAlongNormal("sagittal", g, at, 1), { x: 11, y: 20, z: 30 });
  assert.deepEqual(stepAlongNormal("coronal", g, at, -5), { x: 10, y: 15, z: 30 });
  assert.deepEqual(stepAlongNormal("axial", g, at, "last"), { x: 10, y: 20, z: 54 });
  assert.deepEqual(stepAlongNormal("sagittal", g, at, 100), { x: 51, y: 20, z: 30 });
  assert.deepEqual(stepAlongNormal("coronal", g, at, "first"), { x: 10, y: 0, z: 30 });
});

test("layouts are remembered per user", () => {
  assert.equal(isLayout("2x2"), true);
  assert.equal(isLayout("3x3"), false);
  assert.equal(isLayout(null), false);
  assert.equal(layoutKey("ann"), "workbench.viewer.layout.ann");
  assert.notEqual(layoutKey("ann"), layoutKey("bob"));
  assert.equal(layoutKey(undefined), "workbench.viewer.layout.local");
});
