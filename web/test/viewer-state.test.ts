import { test } from "node:test";
import assert from "node:assert/strict";
import { MAX_BRUSH, clampBrush, clampSlice, createState, stepBrush, validClass } from "../src/viewer/state";

test("a new state starts on the middle slice unless told, clamped into the volume", () => {
  const wl = { center: 100, width: 200 };
  assert.equal(createState([4, 4, 11], 2, wl, null).z, 5);
  assert.equal(createState([4, 4, 11], 2, wl, 3).z, 3);
  assert.equal(createState([4, 4, 11], 2, wl, 40).z, 10);
  assert.equal(createState([4, 4, 11], 2, wl, -2).z, 0);
  const s = createState([4, 4, 11], 2, wl, null);
  assert.deepEqual(s.wl, wl);
  assert.notEqual(s.wl, s.autoWindow, "the window is a copy: dragging it keeps the auto window");
});

test("slice and brush clamps", () => {
  assert.equal(clampSlice(4.6, 11), 5);
  assert.equal(clampSlice(11, 11), 10);
  assert.equal(clampSlice(-1, 11), 0);
  assert.equal(clampBrush(0), 1);
  assert.equal(clampBrush(1000), MAX_BRUSH);
});

test("brush steps are 1 px up to 10 and 2 px above, and stop at the limits", () => {
  assert.equal(stepBrush(5, 1), 6);
  assert.equal(stepBrush(10, 1), 12);
  assert.equal(stepBrush(10, -1), 9);
  assert.equal(stepBrush(12, -1), 10);
  assert.equal(stepBrush(1, -1), 1);
  assert.equal(stepBrush(MAX_BRUSH, 1), MAX_BRUSH);
});

test("classes are 1-based and bounded by the project's", () => {
  assert.equal(validClass(1, 2), true);
  assert.equal(validClass(2, 2), true);
  assert.equal(validClass(3, 2), false);
  assert.equal(validClass(0, 2), false);
  assert.equal(validClass(1.5, 2), false);
});
