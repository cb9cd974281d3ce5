// Pure helpers of the several-annotators views: decoding reads, the box their structures share, and how an
// agreement reads to a person.
import type { ClassAgreement } from "../apireads";

/** Decodes a base64 mask of n bytes; throws on a wrong length. */
export function decodeReadMask(b64: string, n: number): Uint8Array {
  const bin = atob(b64);
  if (bin.length !== n) throw new Error(`read mask has ${bin.length} bytes, want ${n}`);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export interface Box {
  x0: number;
  y0: number;
  x1: number; // exclusive
  y1: number;
}

/**
 * The box around every read's foreground, padded and at least minSide wide, in voxel coordinates; the whole
 * slice when no read has any.
 */
export function sharedBox(masks: Uint8Array[], w: number, h: number, pad = 8, minSide = 32): Box {
  let x0 = w, y0 = h, x1 = -1, y1 = -1;
  for (const m of masks) {
    for (let y = 0; y < h; y++) {
      const row = y * w;
      for (let x = 0; x < w; x++) {
        if (m[row + x] !== 0) {
          if (x < x0) x0 = x;
          if (x > x1) x1 = x;
          if (y < y0) y0 = y;
          if (y > y1) y1 = y;
        }
      }
    }
  }
  if (x1 < 0) return { x0: 0, y0: 0, x1: w, y1: h };
  const grow = (lo: number, hi: number, n: number): [number, number] => {
    lo = Math.max(0, lo - pad);
    hi = Math.min(n, hi + 1 + pad);
    const missing = Math.min(n, minSide) - (hi - lo);
    if (missing > 0) {
      lo = Math.max(0, lo - Math.ceil(missing / 2));
      hi = Math.min(n, lo + Math.min(n, minSide));
      lo = Math.max(0, hi - Math.min(n, minSide));
    }
    return [lo, hi];
  };
  [x0, x1] = grow(x0, x1, w);
  [y0, y1] = grow(y0, y1, h);
  return { x0, y0, x1, y1 };
}

/** One class's agreement in a line: "Dice 0.82 · HD 1.4 mm · area Δ −3.2 mm²". */
export function describeAgreement(a: ClassAgreement): string {
  const hd = a.hausdorffMm === null ? "HD — (one read lacks it)" : `HD ${a.hausdorffMm.toFixed(1)} mm`;
  const diff = a.areaDiffMm2;
  const sign = diff > 0 ? "+" : diff < 0 ? "−" : "±";
  return `Dice ${a.dice.toFixed(2)} · ${hd} · area Δ ${sign}${Math.abs(diff).toFixed(1)} mm²`;
}
