// Composes a sagittal or coronal reformat of the whole volume into RGBA pixels in display order (see planes.ts),
// with the labels filled and the predictions outlined as on the axial plane. Typed arrays only: one pass over
// the plane's voxels, grey levels from a lookup table of the raw uint16 values.
import { outlineOf, type Palette } from "../lib/render";
import type { Voxel } from "./planes";

export interface RawVolume {
  w: number;
  h: number;
  d: number;
  raw: Uint16Array;
}

/** A slice's mask, or null where it has none (or it is not loaded). */
export type SliceMasks = (z: number) => Uint8Array | null | undefined;

/**
 * Fills out (cols*rows, row 0 = superior) for the plane through at: coronal (y = at.y) or sagittal (x = at.x).
 * labels and preds give each axial slice's label and prediction; lut maps raw values to grey levels.
 */
export function composeReformat(kind: "coronal" | "sagittal", at: Voxel, vol: RawVolume, lut: Uint8Array,
  labels: SliceMasks | null, preds: SliceMasks | null, palette: Palette, out: Uint32Array): void {
  const { w, h, d, raw } = vol;
  const cols = kind === "coronal" ? w : h;
  const n = w * h;
  const blend = palette.blend;
  let predPlane: Uint8Array | null = null;
  for (let row = 0; row < d; row++) {
    const z = d - 1 - row;
    const base = z * n;
    const m = labels ? labels(z) ?? null : null;
    const p = preds ? preds(z) ?? null : null;
    if (p && !predPlane) predPlane = new Uint8Array(cols * d);
    const o = row * cols;
    for (let col = 0; col < cols; col++) {
      // The in-plane index of the voxel in its axial slice.
      const i = kind === "coronal" ? (w - 1 - col) + w * at.y : at.x + w * (h - 1 - col);
      const g = lut[raw[base + i] as number] as number;
      const c = m ? (m[i] as number) : 0;
      out[o + col] = blend[(c << 8) | g] as number;
      if (p && predPlane) predPlane[o + col] = p[i] as number;
    }
  }
  if (predPlane) {
    const outline = outlineOf(predPlane, cols, d);
    const solid = palette.solid;
    for (let k = 0; k < outline.length; k++) {
      const c = outline[k] as number;
      if (c !== 0) out[k] = solid[c] as number;
    }
  }
}
