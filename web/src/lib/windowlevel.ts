// Window/level: maps intensities to grey levels. lo = centre - width/2 maps to 0, hi = centre + width/2 to 255.

export interface WindowLevel {
  center: number;
  width: number;
}

export interface IntensityStats {
  min: number;
  max: number;
  p1: number;
  p99: number;
}

/** The default window spans the 1st to 99th percentile, which ignores the few hot voxels MRI usually has. */
export function defaultWindow(stats: IntensityStats): WindowLevel {
  let lo = stats.p1;
  let hi = stats.p99;
  if (!(hi > lo)) {
    lo = stats.min;
    hi = stats.max;
  }
  if (!(hi > lo)) hi = lo + 1;
  return { center: (lo + hi) / 2, width: hi - lo };
}

/** Maps a slice to grey levels into out (same length). */
export function applyWindow(src: Float32Array, wl: WindowLevel, out: Uint8Array): void {
  const width = Math.max(wl.width, 1e-12);
  const lo = wl.center - width / 2;
  const scale = 255 / width;
  const n = Math.min(src.length, out.length);
  for (let i = 0; i < n; i++) {
    const v = ((src[i] as number) - lo) * scale;
    // NaN compares false everywhere and lands on 0.
    out[i] = v > 0 ? (v < 255 ? v + 0.5 : 255) : 0;
  }
}

/** The grey level of one intensity, for tests and the cursor read-out. */
export function greyOf(v: number, wl: WindowLevel): number {
  const out = new Uint8Array(1);
  applyWindow(Float32Array.of(v), wl, out);
  return out[0] as number;
}

/**
 * Right-drag adjusts the window: moving right widens it, moving up raises the level (brighter image is lower level).
 * range is the intensity span that a 500-pixel drag covers.
 */
export function dragWindow(start: WindowLevel, dx: number, dy: number, range: number): WindowLevel {
  const k = range / 500;
  return { center: start.center + dy * k, width: Math.max(range * 1e-4, start.width + dx * k) };
}
