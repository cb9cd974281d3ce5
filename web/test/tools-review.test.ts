import { test } from "node:test";
import assert from "node:assert/strict";
import { fitView, screenToVoxel } from "../src/lib/geometry";
import {
  AutoZoom, DEFAULT_REVIEW, acceptDecision, paintRefusal, parseReviewSettings, predictionShown, structureBox, zoomToBox,
  type SliceLabelState,
} from "../src/viewer/tools-review";

const fresh: SliceLabelState = { status: "predicted", verified: false, labelVersion: 0, dirty: false, localLabel: false };
const labelled: SliceLabelState = { status: "labelled", verified: false, labelVersion: 3, dirty: false, localLabel: true };
const verified: SliceLabelState = { status: "verified", verified: true, labelVersion: 4, dirty: false, localLabel: true };

test("settings: defaults for missing or malformed entries, stored values kept", () => {
  assert.deepEqual(parseReviewSettings(null), DEFAULT_REVIEW);
  assert.deepEqual(parseReviewSettings("{not json"), DEFAULT_REVIEW);
  assert.deepEqual(parseReviewSettings("[1]"), DEFAULT_REVIEW);
  assert.deepEqual(parseReviewSettings(JSON.stringify({ predOpacity: 2, predStyle: "dots", autoZoom: "yes" })), DEFAULT_REVIEW);
  assert.deepEqual(parseReviewSettings(JSON.stringify({ predOpacity: 0.3, predStyle: "filled", predOnLabelled: true, autoZoom: false })),
    { predOpacity: 0.3, predStyle: "filled", predOnLabelled: true, autoZoom: false });
});

test("the prediction hides once a slice has a label, saved or not, unless asked for", () => {
  assert.equal(predictionShown(true, fresh, DEFAULT_REVIEW), true);
  assert.equal(predictionShown(false, fresh, DEFAULT_REVIEW), false);
  assert.equal(predictionShown(true, labelled, DEFAULT_REVIEW), false);
  assert.equal(predictionShown(true, verified, DEFAULT_REVIEW), false);
  assert.equal(predictionShown(true, { ...fresh, dirty: true }, DEFAULT_REVIEW), false, "just accepted, not yet saved");
  assert.equal(predictionShown(true, labelled, { ...DEFAULT_REVIEW, predOnLabelled: true }), true);
});

test("previewing a version refuses painting on that slice only, with the version in the reason", () => {
  assert.match(paintRefusal(5, { slice: 5, version: 2 }, false) ?? "", /^previewing version 2: painting is off/);
  assert.equal(paintRefusal(6, { slice: 5, version: 2 }, false), null);
  assert.match(paintRefusal(6, null, true) ?? "", /conflict/);
  assert.equal(paintRefusal(6, null, false), null);
});

test("Accept asks first on a verified, labelled or changed slice, accepts at once on a fresh one", () => {
  assert.deepEqual(acceptDecision(7, true, fresh, null), { kind: "accept" });
  assert.deepEqual(acceptDecision(7, false, fresh, null), { kind: "refuse", reason: "no prediction for this slice" });
  const v = acceptDecision(7, true, verified, null);
  assert.equal(v.kind, "confirm");
  assert.match(v.kind === "confirm" ? v.question : "", /^Slice 7 is verified\. .*no longer be verified/);
  const l = acceptDecision(7, true, labelled, null);
  assert.match(l.kind === "confirm" ? l.question : "", /already has a label \(version 3\)/);
  const d = acceptDecision(7, true, { ...fresh, dirty: true, localLabel: true }, null);
  assert.match(d.kind === "confirm" ? d.question : "", /unsaved changes.*Ctrl\+Z/);
  assert.equal(acceptDecision(7, true, fresh, { slice: 7, version: 1 }).kind, "refuse");
  // A deleted label (a version, but unlabelled now) has nothing to lose.
  assert.deepEqual(acceptDecision(7, true, { ...fresh, labelVersion: 5 }, null), { kind: "accept" });
});

test("structureBox prefers the label's box over the prediction's", () => {
  const w = 10, h = 10;
  const label = new Uint8Array(w * h);
  const pred = new Uint8Array(w * h);
  pred[1 * w + 1] = 1;
  assert.deepEqual(structureBox(label, pred, w, h), { x0: 1, y0: 1, x1: 1, y1: 1 });
  label[5 * w + 6] = 2;
  assert.deepEqual(structureBox(label, pred, w, h), { x0: 6, y0: 5, x1: 6, y1: 5 });
  assert.equal(structureBox(null, null, w, h), null);
});

test("zoomToBox centres the structure and fits it with its margin", () => {
  const w = 320, h = 320, cw = 900, ch = 700;
  const box = { x0: 140, y0: 150, x1: 194, y1: 190 }; // a 55-voxel cord
  const view = zoomToBox(box, w, h, cw, ch);
  const centre = screenToVoxel(view, w, h, cw / 2, ch / 2);
  assert.ok(Math.abs(centre.x - 167) <= 1 && Math.abs(centre.y - 170) <= 1, JSON.stringify(centre));
  // The box with its margin (55 voxels a side) fits: 165 x 151 voxels in 900 x 700 px.
  assert.ok(Math.abs(view.zoom - Math.min(900 / 165, 700 / 151)) < 1e-9, String(view.zoom));
  const corner = screenToVoxel(view, w, h, 1, 1);
  assert.ok(corner.x > box.x1 && corner.y > box.y1, "the box's far corner is inside the canvas");
  // A one-voxel box is capped at maxZoom; a huge one never zooms out beyond the fit.
  assert.equal(zoomToBox({ x0: 5, y0: 5, x1: 5, y1: 5 }, w, h, cw, ch).zoom, 24);
  assert.equal(zoomToBox({ x0: 0, y0: 0, x1: 319, y1: 319 }, w, h, cw, ch).zoom, fitView(w, h, cw, ch).zoom);
});

test("auto-zoom follows until the user moves the view, and resumes after a reset", () => {
  const az = new AutoZoom();
  const box = { x0: 10, y0: 10, x1: 20, y1: 20 };
  assert.ok(az.viewFor(DEFAULT_REVIEW, box, 100, 100, 400, 400));
  assert.equal(az.viewFor({ ...DEFAULT_REVIEW, autoZoom: false }, box, 100, 100, 400, 400), null);
  assert.equal(az.viewFor(DEFAULT_REVIEW, null, 100, 100, 400, 400), null);
  az.userMoved();
  assert.equal(az.viewFor(DEFAULT_REVIEW, box, 100, 100, 400, 400), null);
  az.reset();
  assert.ok(az.viewFor(DEFAULT_REVIEW, box, 100, 100, 400, 400));
});
