import { test } from "node:test";
import assert from "node:assert/strict";
import { Palette } from "../src/lib/render";
import { applyWindow } from "../src/lib/windowlevel";
import { readoutText, sourceVoxel, worldMm } from "../src/viewer/readout";
import { composeReformat } from "../src/viewer/reformat";
import { VolumeImage, parseMasks } from "../src/viewer/volume";

/** A payload as the server frames it: uint32 length, JSON padded to 8-byte alignment, then the bytes. */
function framed(meta: unknown, body: Uint8Array): ArrayBuffer {
  let head = JSON.stringify(meta);
  while ((4 + head.length) % 8 !== 0) head += " ";
  const out = new Uint8Array(4 + head.length + body.length);
  new DataView(out.buffer).setUint32(0, head.length, true);
  out.set(new TextEncoder().encode(head), 4);
  out.set(body, 4 + head.length);
  return out.buffer;
}

test("the volume payload parses into scaled voxels and float slices", () => {
  const raw = Uint16Array.from({ length: 2 * 3 * 4 }, (_, i) => i * 10);
  const buf = framed({ width: 2, height: 3, depth: 4, dtype: "uint16", scale: 0.5, offset: -3, exact: false }, new Uint8Array(raw.buffer));
  const vol = VolumeImage.parse(buf, [2, 3, 4]);
  assert.equal(vol.value(1, 2, 3), -3 + 0.5 * (1 + 2 * 2 + 3 * 6) * 10);
  assert.deepEqual([...vol.sliceFloat(1)], [60, 70, 80, 90, 100, 110].map((r) => -3 + 0.5 * r));
  assert.throws(() => VolumeImage.parse(buf, [2, 3, 5]), /differs/);
  assert.throws(() => VolumeImage.parse(new ArrayBuffer(2), [2, 3, 4]), /no header/);
});

test("the reformat grey table gives the axial plane's grey levels", () => {
  const raw = Uint16Array.from({ length: 4 * 4 * 4 }, (_, i) => (i * 37) % 1000);
  const vol = new VolumeImage(4, 4, 4, raw, 2, 0.25, false);
  const wl = { center: 60, width: 90 };
  const lut = vol.grayLut(wl);
  const slice = vol.sliceFloat(2);
  const gray = new Uint8Array(16);
  applyWindow(slice, wl, gray);
  for (let i = 0; i < 16; i++) assert.equal(lut[raw[32 + i] as number], gray[i]);
});

test("masks parse in order, and a class above the project's is refused", () => {
  const n = 2 * 2;
  const body = Uint8Array.of(1, 0, 0, 1, 2, 2, 0, 0, 1, 1, 1, 1);
  const meta = { width: 2, height: 2, depth: 3, labels: [{ slice: 0, version: 3 }, { slice: 2, version: 1 }], predictions: [{ slice: 1, uncertainty: 0.5 }] };
  const m = parseMasks(framed(meta, body), [2, 2, 3], 2);
  assert.deepEqual(m.labels.map((l) => [l.slice, l.version, [...l.mask]]), [[0, 3, [1, 0, 0, 1]], [2, 1, [2, 2, 0, 0]]]);
  assert.deepEqual([...(m.predictions[0]?.mask ?? [])], [1, 1, 1, 1]);
  assert.equal(m.predictions[0]?.uncertainty, 0.5);
  assert.throws(() => parseMasks(framed(meta, body), [2, 2, 3], 1), /class 2 above 1/);
  assert.throws(() => parseMasks(framed(meta, body.subarray(0, 2 * n)), [2, 2, 3], 2), /bytes/);
  assert.throws(() => parseMasks(framed({ ...meta, labels: [{ slice: 9 }], predictions: [] }, body.subarray(0, n)), [2, 2, 3], 2), /outside/);
});

test("sagittal and coronal reformats show the voxels and labels of the planes through the crosshair", () => {
  const w = 3, h = 4, d = 2;
  // raw value = the voxel's own index, so each display pixel names its voxel.
  const raw = Uint16Array.from({ length: w * h * d }, (_, i) => i);
  const lut = Uint8Array.from({ length: 65536 }, (_, r) => r & 255);
  const palette = new Palette([{ r: 255, g: 0, b: 0 }], 1);
  const grey = (g: number) => palette.blend[g] as number;
  const red = palette.blend[256] as number;
  const label1 = new Uint8Array(w * h);
  label1[1 + w * 2] = 1; // slice z=1, x=1, y=2
  const out = new Uint32Array(h * d);
  composeReformat("sagittal", { x: 1, y: 0, z: 0 }, { w, h, d, raw }, lut, (z) => (z === 1 ? label1 : null), null, palette, out);
  // Row 0 is superior (z = 1), column 0 anterior (y = h-1).
  const idx = (x: number, y: number, z: number) => x + w * (y + h * z);
  assert.deepEqual([...out], [
    grey(idx(1, 3, 1)), red, grey(idx(1, 1, 1)), grey(idx(1, 0, 1)),
    grey(idx(1, 3, 0)), grey(idx(1, 2, 0)), grey(idx(1, 1, 0)), grey(idx(1, 0, 0)),
  ]);
  const cor = new Uint32Array(w * d);
  composeReformat("coronal", { x: 0, y: 2, z: 0 }, { w, h, d, raw }, lut, (z) => (z === 1 ? label1 : null), null, palette, cor);
  // Column 0 is the patient's right (x = w-1).
  assert.deepEqual([...cor], [grey(idx(2, 2, 1)), red, grey(idx(0, 2, 1)), grey(idx(2, 2, 0)), grey(idx(1, 2, 0)), grey(idx(0, 2, 0))]);
});

test("PSR source indices and world coordinates of a canonical voxel", () => {
  // t2.nii.gz (PSR, 60x55x52): canonical x = source k, y = 59 - source i, z = source j.
  const o = { perm: [2, 0, 1], flip: [false, true, false] };
  assert.deepEqual(sourceVoxel(o, [52, 60, 55], { x: 5, y: 10, z: 20 }), [49, 20, 5]);
  assert.deepEqual(sourceVoxel(undefined, [52, 60, 55], { x: 5, y: 10, z: 20 }), [5, 10, 20]);
  const affine = [[1, 0, 0, -25], [0, 2, 0, 10], [0, 0, 3, 0.001], [0, 0, 0, 1]];
  assert.deepEqual(worldMm(affine, { x: 5, y: 10, z: 20 }), [-20, 30, 60.001]);
  assert.equal(worldMm(undefined, { x: 0, y: 0, z: 0 }), null);
  assert.equal(readoutText({ x: 5, y: 10, z: 20 }, [49, 20, 5], [-20, 30, 60.001], 123.456, "cord"),
    "voxel 5 10 20  ·  file 49 20 5  ·  -20.0 30.0 60.0 mm  ·  123.46  ·  cord");
});
