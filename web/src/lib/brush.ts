// Brush rasterisation on a class-index mask (row-major, x fastest, w x h voxels).

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

/** Writes value under the disk centred on voxel (cx, cy), clipped to the grid; returns how many voxels changed. */
export function stamp(mask: Uint8Array, w: number, h: number, cx: number, cy: number, disk: Int32Array, value: number): number {
  let changed = 0;
  for (let k = 0; k < disk.length; k += 2) {
    const x = cx + (disk[k] as number);
    const y = cy + (disk[k + 1] as number);
    if (x < 0 || y < 0 || x >= w || y >= h) continue;
    const i = y * w + x;
    if (mask[i] !== value) {
      mask[i] = value;
      changed++;
    }
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
  disk: Int32Array, value: number,
): number {
  const steps = Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0));
  let changed = 0;
  if (steps === 0) return stamp(mask, w, h, x0, y0, disk, value);
  for (let s = 0; s <= steps; s++) {
    const t = s / steps;
    changed += stamp(mask, w, h, Math.round(x0 + (x1 - x0) * t), Math.round(y0 + (y1 - y0) * t), disk, value);
  }
  return changed;
}
