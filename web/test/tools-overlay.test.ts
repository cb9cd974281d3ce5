import { test } from "node:test";
import assert from "node:assert/strict";
import { Palette, outlineOf } from "../src/lib/render";
import { anyLabelled, composeReview, type ReviewLayers } from "../src/viewer/tools-overlay";

const colors = [{ r: 255, g: 0, b: 0 }, { r: 0, g: 0, b: 255 }];
const labels = new Palette(colors, 0.5);
const preds = new Palette(colors, 0.25);
const w = 6, h = 6, n = w * h;

function layers(over: Partial<ReviewLayers>): ReviewLayers {
  return { gray: new Uint8Array(n).fill(100), label: null, prediction: null, predictionStyle: "outline", draft: null, width: w, ...over };
}

test("without overlays the output is the grey image in display order", () => {
  const gray = new Uint8Array(n).map((_, i) => i);
  const out = new Uint32Array(n);
  composeReview(layers({ gray }), labels, preds, out);
  for (let i = 0; i < n; i++) assert.equal(out[n - 1 - i], labels.blend[i]);
});

test("the prediction uses its own opacity; filled stays under the label, an outline goes over it", () => {
  const pmask = new Uint8Array(n);
  for (let y = 1; y < 5; y++) for (let x = 1; x < 5; x++) pmask[y * w + x] = 1;
  const prediction = { mask: pmask, outline: outlineOf(pmask, w, h) };
  const label = new Uint8Array(n);
  label[1 * w + 1] = 2; // a boundary voxel of the prediction
  label[2 * w + 2] = 2; // an inner voxel
  const out = new Uint32Array(n);
  composeReview(layers({ label, prediction, predictionStyle: "filled" }), labels, preds, out);
  const at = (x: number, y: number) => out[n - 1 - (y * w + x)];
  assert.equal(at(3, 3), preds.blend[(1 << 8) | 100], "filled prediction at 25%");
  assert.equal(at(2, 2), labels.blend[(2 << 8) | 100], "the label wins inside");
  assert.equal(at(0, 0), labels.blend[100], "grey outside");
  composeReview(layers({ label, prediction, predictionStyle: "outline" }), labels, preds, out);
  assert.equal(at(1, 1), preds.blend[(1 << 8) | 100], "outline over the label");
  assert.equal(at(2, 2), labels.blend[(2 << 8) | 100]);
  assert.equal(at(3, 3), labels.blend[100], "inside an outline is plain grey");
});

test("drafts are drawn on diagonal stripes in full colour, the rest shows what lies under", () => {
  const draft = new Uint8Array(n).fill(1);
  const out = new Uint32Array(n);
  composeReview(layers({ draft }), labels, preds, out);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const want = ((x + y) & 3) < 2 ? labels.solid[1] : labels.blend[100];
      assert.equal(out[n - 1 - (y * w + x)], want, `${x},${y}`);
    }
  }
});

test("the fast paths agree with the general one (an all-background draft changes nothing)", () => {
  const gray = new Uint8Array(n).map((_, i) => (i * 37) & 255);
  const label = new Uint8Array(n).map((_, i) => i % 3);
  const pmask = new Uint8Array(n).map((_, i) => (i % 5 === 0 ? 1 : 0));
  for (const predictionStyle of ["outline", "filled"] as const) {
    const base = layers({ gray, label, prediction: { mask: pmask, outline: outlineOf(pmask, w, h) }, predictionStyle });
    const fast = new Uint32Array(n);
    const general = new Uint32Array(n);
    composeReview(base, labels, preds, fast);
    composeReview({ ...base, draft: new Uint8Array(n) }, labels, preds, general);
    assert.deepEqual(fast, general, predictionStyle);
  }
  assert.equal(anyLabelled(new Uint8Array(9)), false);
  assert.equal(anyLabelled(Uint8Array.of(0, 0, 3)), true);
});
