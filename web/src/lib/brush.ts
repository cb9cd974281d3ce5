// Brush rasterisation on a class-index mask (row-major, x fastest, w x h voxels), with the two guards that keep a
// stroke off what it must not change: an intensity range (paint only voxels whose intensity lies in [lo, hi], as
// Slicer's "editable intensity range") and a "paint over" mode (ITK-SNAP's draw-over: background only, one class
// only, or everything), so painting grey matter inside white matter cannot spill into the CSF or over another class.

/** Which existing voxels a stroke or fill may replace. */
export type PaintOver = { kind: "all" } | { kind: "background" } | { kind: "class"; cls: number };

/** An inclusive intensity window; voxels outside it (and NaN) are never painted. */
export interface IntensityRange {
  lo: number;
  hi: number;
}

/**
 * What a stroke may touch. image holds the slice's intensities in voxel order and is required when range is set:
 * without it nothing is painted (the intensities are still loading), never everything.
 */
export interface PaintGuard {
  over: PaintOver;
  range: IntensityRange | null;
  image: Float32Array | null;
}

export const PAINT_EVERYTHING: PaintGuard = { over: { kind: "all" }, range: null, image: null };

/** Whether the guard lets voxel i (currently class current) be changed. */
export function paintable(guard: PaintGuard, current: number, i: number): boolean {
  const over = guard.over;
  if (over.kind === "background" && current !== 0) return false;
  if (over.kind === "class" && current !== over.cls) return false;
  const range = guard.range;
  if (range) {
    const v = guard.image ? guard.image[i] : undefined;
    // NaN and a missing image fail both comparisons' conjunction: nothing is painted.
    if (v === undefined || !(v >= range.lo && v <= range.hi)) return false;
  }
  return true;
}

/**
 * Why a stroke of value under guard could change nothing at all, before it starts (shown as a one-line toast);
 * null when it can change something.
 */
export function strokeRefusal(value: number, guard: PaintGuard, classNames: readonly string[] = []): string | null {
  const name = (k: number) => classNames[k - 1] ?? `class ${k}`;
  if (guard.range && !guard.image) return "the slice's intensities are still loading";
  if (guard.range && !(guard.range.hi >= guard.range.lo)) return `the intensity range ${guard.range.lo}–${guard.range.hi} is empty`;
  const over = guard.over;
  if (value === 0 && over.kind === "background") return "the eraser changes nothing while painting over background only";
  if (over.kind === "class" && over.cls === value) return `painting ${name(value)} over ${name(value)} only changes nothing`;
  return null;
}

/** Offsets (dx, dy pairs) of a disk brush of the given diameter in voxels: dx^2 + dy^2 <= (size/2)^2. */
export function diskOffsets(size: number): Int32Array {
  const r = Math.max(0.5, size / 2);
  const r2 = r * r;
  const reach = Math.floor(r);
  const out: number[] = [];
  for (let dy = -reach; dy <= reach; dy++) {
    for (let dx = -reach; dx <= reach; dx++) {
      if (dx * dx + dy * dy <= r2) out.push(dx, dy);
    }
  }
  return Int32Array.from(out);
}

/**
 * Writes value under the disk centred on voxel (cx, cy), clipped to the grid and to what guard allows; returns
 * how many voxels changed.
 */
export function stamp(
  mask: Uint8Array, w: number, h: number, cx: number, cy: number, disk: Int32Array, value: number,
  guard: PaintGuard = PAINT_EVERYTHING,
): number {
  const free = guard.over.kind === "all" && !guard.range;
  let changed = 0;
  for (let k = 0; k < disk.length; k += 2) {
    const x = cx + (disk[k] as number);
    const y = cy + (disk[k + 1] as number);
    if (x < 0 || y < 0 || x >= w || y >= h) continue;
    const i = y * w + x;
    const current = mask[i] as number;
    if (current === value) continue;
    if (!free && !paintable(guard, current, i)) continue;
    mask[i] = value;
    changed++;
  }
  return changed;
}

/**
 * Stamps the disk at every voxel step of the segment (x0, y0) -> (x1, y1), so fast pointer moves leave a
 * continuous stroke rather than dots. Returns how many voxels changed.
 */
export function strokeSegment(
  mask: Uint8Array, w: number, h: number,
  x0: number, y0: number, x1: number, y1: number,
  disk: Int32Array, value: number, guard: PaintGuard = PAINT_EVERYTHING,
): number {
  const steps = Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0));
  let changed = 0;
  if (steps === 0) return stamp(mask, w, h, x0, y0, disk, value, guard);
  for (let s = 0; s <= steps; s++) {
    const t = s / steps;
    changed += stamp(mask, w, h, Math.round(x0 + (x1 - x0) * t), Math.round(y0 + (y1 - y0) * t), disk, value, guard);
  }
  return changed;
}

/**
 * The intensity range sampled under the brush at (cx, cy): mean ± k standard deviations of the slice's finite
 * intensities under the disk (k = 2 keeps about 95% of a homogeneous tissue and drops the odd partial-volume
 * voxel at its edge). null when no finite voxel lies under the disk.
 */
export function sampleRange(image: Float32Array, w: number, h: number, cx: number, cy: number, disk: Int32Array, k = 2): IntensityRange | null {
  let n = 0;
  let sum = 0;
  let sum2 = 0;
  for (let j = 0; j < disk.length; j += 2) {
    const x = cx + (disk[j] as number);
    const y = cy + (disk[j + 1] as number);
    if (x < 0 || y < 0 || x >= w || y >= h) continue;
    const v = image[y * w + x] as number;
    if (!Number.isFinite(v)) continue;
    n++;
    sum += v;
    sum2 += v * v;
  }
  if (n === 0) return null;
  const mean = sum / n;
  const sd = Math.sqrt(Math.max(0, sum2 / n - mean * mean));
  // A flat patch still gets a usable width: 1% of its value (or 1 for a zero patch).
  const half = Math.max(k * sd, Math.abs(mean) * 0.01 || 1);
  return { lo: mean - half, hi: mean + half };
}
