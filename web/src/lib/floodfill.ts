// Flood fill of a closed region of a class-index mask (4-connected).

export type FillResult = { filled: number } | { filled: 0; reason: string };

/**
 * Fills the 4-connected region of equal value containing (x, y) with value. A background region that touches the
 * border of the slice is not closed: filling it would paint the whole background, so it is refused with a reason.
 */
export function floodFill(mask: Uint8Array, w: number, h: number, x: number, y: number, value: number): FillResult {
  if (x < 0 || y < 0 || x >= w || y >= h) return { filled: 0, reason: "outside the slice" };
  const target = mask[y * w + x] as number;
  if (target === value) return { filled: 0, reason: "already that class" };
  const region = collectRegion(mask, w, h, x, y, target);
  if (target === 0 && region.touchesBorder) return { filled: 0, reason: "region is not closed (it reaches the slice border)" };
  for (const i of region.indices) mask[i] = value;
  return { filled: region.indices.length };
}

interface Region {
  indices: Int32Array;
  touchesBorder: boolean;
}

function collectRegion(mask: Uint8Array, w: number, h: number, x: number, y: number, target: number): Region {
  const seen = new Uint8Array(w * h);
  const stack = new Int32Array(w * h);
  const found = new Int32Array(w * h);
  let top = 0;
  let count = 0;
  let touchesBorder = false;
  const start = y * w + x;
  stack[top++] = start;
  seen[start] = 1;
  while (top > 0) {
    const i = stack[--top] as number;
    found[count++] = i;
    const px = i % w;
    const py = (i - px) / w;
    if (px === 0 || py === 0 || px === w - 1 || py === h - 1) touchesBorder = true;
    if (px > 0) top = visit(i - 1, mask, seen, stack, top, target);
    if (px < w - 1) top = visit(i + 1, mask, seen, stack, top, target);
    if (py > 0) top = visit(i - w, mask, seen, stack, top, target);
    if (py < h - 1) top = visit(i + w, mask, seen, stack, top, target);
  }
  return { indices: found.subarray(0, count), touchesBorder };
}

function visit(j: number, mask: Uint8Array, seen: Uint8Array, stack: Int32Array, top: number, target: number): number {
  if (seen[j] === 0 && mask[j] === target) {
    seen[j] = 1;
    stack[top++] = j;
  }
  return top;
}
