// Composes a slice for review: grey levels, the label (filled, at the labels' opacity), the prediction with its
// own opacity and style (outline or filled), and interpolation drafts drawn distinctly (diagonal stripes in the
// class colour), so a reviewer sees at a glance which voxels are stored, proposed by the model, or drafted.
// Same conventions as lib/render.ts: voxel-order inputs, display-order (radiological, index n-1-i) output words.
import type { Palette } from "../lib/render";

export interface ReviewLayers {
  gray: Uint8Array;
  /** The label shown (filled); null for none. */
  label: Uint8Array | null;
  /** The prediction's mask and its outline (boundary voxels); null when not shown. */
  prediction: { mask: Uint8Array; outline: Uint8Array } | null;
  predictionStyle: "outline" | "filled";
  /** A draft waiting to be accepted; drawn over the label on every other diagonal stripe. */
  draft: Uint8Array | null;
  /** Slice width, for the stripes. */
  width: number;
}

/**
 * Fills out from the layers. labels is the labels' palette (its opacity), predictions the predictions' (built
 * with the prediction opacity): a filled prediction is blended over grey where the label is background; an
 * outline is blended over whatever lies under it. Drafts take the stripes (x + y) mod 4 < 2 at full colour.
 */
export function composeReview(layers: ReviewLayers, labels: Palette, predictions: Palette, out: Uint32Array): void {
  const { gray, prediction, draft, width } = layers;
  const n = gray.length;
  const last = n - 1;
  const lb = labels.blend;
  const pb = predictions.blend;
  const solid = labels.solid;
  const label = layers.label ?? zeros(n);
  const filled = prediction !== null && layers.predictionStyle === "filled";
  const pmask = prediction ? (filled ? prediction.mask : prediction.outline) : null;
  // One loop per combination, so the common cases (no draft; no prediction shown) test nothing per voxel they
  // do not need: a 320x320 slice composes in about the time lib/render.ts's compose takes.
  if (!pmask && !draft) {
    for (let i = 0; i < n; i++) out[last - i] = lb[((label[i] as number) << 8) | (gray[i] as number)] as number;
    return;
  }
  if (!draft && pmask) {
    for (let i = 0; i < n; i++) {
      const c = label[i] as number;
      const p = pmask[i] as number;
      // An outline voxel is drawn over the label; a filled prediction only where the label leaves background.
      out[last - i] = (p !== 0 && (!filled || c === 0) ? pb[(p << 8) | (gray[i] as number)] : lb[(c << 8) | (gray[i] as number)]) as number;
    }
    return;
  }
  for (let i = 0; i < n; i++) {
    const g = gray[i] as number;
    const d = draft ? (draft[i] as number) : 0;
    if (d !== 0) {
      const x = i % width;
      const y = (i - x) / width;
      if (((x + y) & 3) < 2) {
        out[last - i] = solid[d] as number;
        continue;
      }
    }
    const c = label[i] as number;
    const p = pmask ? (pmask[i] as number) : 0;
    if (p !== 0 && (!filled || c === 0)) {
      out[last - i] = pb[(p << 8) | g] as number;
      continue;
    }
    out[last - i] = lb[(c << 8) | g] as number;
  }
}

let zeroBuffer = new Uint8Array(0);

/** A shared all-background mask of at least n voxels (read only). */
function zeros(n: number): Uint8Array {
  if (zeroBuffer.length < n) zeroBuffer = new Uint8Array(n);
  return zeroBuffer;
}

/** Whether a mask has any labelled voxel (a plain loop: Array.prototype.some's callback is ~50x slower here). */
export function anyLabelled(mask: Uint8Array): boolean {
  for (let i = 0; i < mask.length; i++) if (mask[i] !== 0) return true;
  return false;
}
