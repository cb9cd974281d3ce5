// Flood fill of a closed region of a class-index mask (4-connected), optionally limited by a paint guard
// (intensity range and paint-over mode, see brush.ts).
import { PAINT_EVERYTHING, paintable, type PaintGuard } from "./brush";

export type FillResult = { filled: number } | { filled: 0; reason: string };

/**
 * Fills the 4-connected region of equal value containing (x, y) with value. A background region that touches the
 * border of the slice is not closed: filling it would paint the whole background, so it is refused with a reason.
 *
 * With a guard, the clicked voxel must be paintable (its class allowed by the paint-over mode, its intensity in
 * the range), and with an intensity range the region is also bounded by the range: it grows only through voxels
 * of the clicked class whose intensity lies in [lo, hi]. Such a region is bounded by the image rather than by a
 * drawn contour, so it may reach the border (the threshold fill of ITK-SNAP and Slicer).
 */
export function floodFill(
  mask: Uint8Array, w: number, h: number, x: number, y: number, value: number,
  guard: PaintGuard = PAINT_EVERYTHING,
): FillResult {
  if (x < 0 || y < 0 || x >= w || y >= h) return { filled: 0, reason: "outside the slice" };
  const start = y * w + x;
  const target = mask[start] as number;
  if (target === value) return { filled: 0, reason: "already that class" };
  if (!paintable(guard, target, start)) return { filled: 0, reason: refusal(guard, target, start) };
  const inRange = guard.range ? (i: number) => paintable(guard, target, i) : null;
  const region = collectRegion(mask, w, h, start, target, inRange);
  if (target === 0 && !guard.range && region.touchesBorder) return { filled: 0, reason: "region is not closed (it reaches the slice border)" };
  for (const i of region.indices) mask[i] = value;
  return { filled: region.indices.length };
}

function refusal(guard: PaintGuard, target: number, i: number): string {
  const over = guard.over;
  if (over.kind === "background" && target !== 0) return `class ${target} is protected: painting over background only`;
  if (over.kind === "class" && target !== over.cls) return `${target === 0 ? "background" : `class ${target}`} is protected: painting over class ${over.cls} only`;
  const v = guard.image?.[i];
  if (v === undefined) return "the slice's intensities are still loading";
  return `intensity ${+v.toPrecision(5)} is outside the range ${+(guard.range?.lo ?? 0).toPrecision(5)}–${+(guard.range?.hi ?? 0).toPrecision(5)}`;
}

interface Region {
  indices: Int32Array;
  touchesBorder: boolean;
}

function collectRegion(mask: Uint8Array, w: number, h: number, start: number, target: number, inRange: ((i: number) => boolean) | null): Region {
  const seen = new Uint8Array(w * h);
  const stack = new Int32Array(w * h);
  const found = new Int32Array(w * h);
  let top = 0;
  let count = 0;
  let touchesBorder = false;
  stack[top++] = start;
  seen[start] = 1;
  const visit = (j: number) => {
    if (seen[j] === 0 && mask[j] === target && (inRange === null || inRange(j))) {
      seen[j] = 1;
      stack[top++] = j;
    }
  };
  while (top > 0) {
    const i = stack[--top] as number;
    found[count++] = i;
    const px = i % w;
    const py = (i - px) / w;
    if (px === 0 || py === 0 || px === w - 1 || py === h - 1) touchesBorder = true;
    if (px > 0) visit(i - 1);
    if (px < w - 1) visit(i + 1);
    if (py > 0) visit(i - w);
    if (py < h - 1) visit(i + w);
  }
  return { indices: found.subarray(0, count), touchesBorder };
}
