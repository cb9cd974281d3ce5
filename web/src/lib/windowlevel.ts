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

// ---------- windows from a region of interest ----------
// Measured on real cord MRI (nibabel + numpy, grey levels 0-255, mean over the slices with grey matter): the
// volume's 1st-99th percentile window leaves grey and white matter 28 grey levels apart on gm-challenge, t2s and
// t2s_uncropped alike, and a box around the cord is no better (19-28: it holds the bright CSF). A window from
// the 1st-99th percentile of the voxels inside the structure, widened by a quarter of that span on each side,
// gives 50, 59 and 33 levels, and the cord against the 3 voxels around it 131, 96 and 25 (volume window: 62,
// 43, 15). So the auto window looks at the structure (labels, else prediction) when a slice has one, and at the
// visible area otherwise.

/** An inclusive voxel box of a slice. */
export interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** The bounding box of a mask's non-zero voxels, null when it has none. */
export function maskBox(mask: Uint8Array, w: number, h: number): Box | null {
  let x0 = w, y0 = h, x1 = -1, y1 = -1;
  for (let y = 0; y < h; y++) {
    const row = y * w;
    for (let x = 0; x < w; x++) {
      if (mask[row + x] === 0) continue;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      y1 = y;
    }
  }
  return x1 < 0 ? null : { x0, y0, x1, y1 };
}

/** The box grown by margin voxels on every side, clipped to the w x h grid. */
export function growBox(b: Box, margin: number, w: number, h: number): Box {
  return { x0: Math.max(0, b.x0 - margin), y0: Math.max(0, b.y0 - margin), x1: Math.min(w - 1, b.x1 + margin), y1: Math.min(h - 1, b.y1 + margin) };
}

/**
 * The voxels of a w x h slice visible in a cw x ch canvas under view (zoom = canvas pixels per voxel, pan = the
 * image's top-left; radiological display: display column c shows x = w-1-c, row r shows y = h-1-r); null when
 * the slice is panned out of sight.
 */
export function visibleBox(view: { zoom: number; panX: number; panY: number }, w: number, h: number, cw: number, ch: number): Box | null {
  const c0 = Math.max(0, Math.floor(-view.panX / view.zoom));
  const c1 = Math.min(w - 1, Math.ceil((cw - view.panX) / view.zoom) - 1);
  const r0 = Math.max(0, Math.floor(-view.panY / view.zoom));
  const r1 = Math.min(h - 1, Math.ceil((ch - view.panY) / view.zoom) - 1);
  if (c1 < c0 || r1 < r0) return null;
  return { x0: w - 1 - c1, x1: w - 1 - c0, y0: h - 1 - r1, y1: h - 1 - r0 };
}

/** Percentiles (0-100) of the finite values, linearly interpolated between order statistics (numpy's default). */
export function percentiles(values: Float32Array, ps: readonly number[]): number[] | null {
  const finite = values.filter(Number.isFinite).sort();
  const n = finite.length;
  if (n === 0) return null;
  return ps.map((p) => {
    const at = (Math.min(100, Math.max(0, p)) / 100) * (n - 1);
    const i = Math.floor(at);
    const lo = finite[i] as number;
    const hi = finite[Math.min(n - 1, i + 1)] as number;
    return lo + (hi - lo) * (at - i);
  });
}

function spanWindow(lo: number, hi: number): WindowLevel {
  if (!(hi > lo)) hi = lo + Math.max(1, Math.abs(lo) * 0.01);
  return { center: (lo + hi) / 2, width: hi - lo };
}

/** The window from the 1st-99th percentile inside the structure (mask > 0), widened by widen of its span per side. */
export function structureWindow(image: Float32Array, mask: Uint8Array, widen = 0.25): WindowLevel | null {
  let n = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i] !== 0) n++;
  if (n === 0) return null;
  const inside = new Float32Array(n);
  n = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i] !== 0) inside[n++] = image[i] as number;
  const p = percentiles(inside, [1, 99]);
  if (!p) return null;
  const [lo, hi] = p as [number, number];
  const pad = (hi - lo) * widen;
  return spanWindow(lo - pad, hi + pad);
}

/** The window from the 1st-99th percentile of the voxels in a box of a w-wide slice. */
export function boxWindow(image: Float32Array, w: number, b: Box): WindowLevel | null {
  const out = new Float32Array((b.x1 - b.x0 + 1) * (b.y1 - b.y0 + 1));
  let n = 0;
  for (let y = b.y0; y <= b.y1; y++) for (let x = b.x0; x <= b.x1; x++) out[n++] = image[y * w + x] as number;
  const p = percentiles(out.subarray(0, n), [1, 99]);
  return p ? spanWindow(p[0] as number, p[1] as number) : null;
}

export type WindowPreset = "structure" | "visible" | "volume" | "full";

export const WINDOW_PRESETS: ReadonlyArray<{ id: WindowPreset; label: string; title: string }> = [
  { id: "structure", label: "auto", title: "from the labelled (else predicted) structure on this slice, else the visible area" },
  { id: "visible", label: "visible", title: "1st-99th percentile of the visible part of the slice" },
  { id: "volume", label: "volume", title: "1st-99th percentile of the whole volume" },
  { id: "full", label: "full", title: "the volume's minimum to maximum" },
];

export interface WindowSources {
  image: Float32Array | null;
  w: number;
  h: number;
  structure: Uint8Array | null;
  visible: Box | null;
  stats: IntensityStats;
}

/** The preset's window and what it was taken from (shown in the tooltip); falls back structure -> visible -> volume. */
export function presetWindow(preset: WindowPreset, src: WindowSources): { wl: WindowLevel; from: string } {
  if (preset === "full") return { wl: spanWindow(src.stats.min, src.stats.max), from: "the volume's range" };
  if (src.image && preset === "structure" && src.structure) {
    const wl = structureWindow(src.image, src.structure);
    if (wl) return { wl, from: "the structure" };
  }
  if (src.image && (preset === "structure" || preset === "visible")) {
    const wl = boxWindow(src.image, src.w, src.visible ?? { x0: 0, y0: 0, x1: src.w - 1, y1: src.h - 1 });
    if (wl) return { wl, from: "the visible area" };
  }
  return { wl: defaultWindow(src.stats), from: "the volume" };
}

// ---------- histogram ----------

/**
 * Counts of the finite values in [lo, hi] in bins equal bins (values outside are left out); with stride s, of
 * every s-th value only (the viewer's 160-pixel histogram needs no more than a quarter of a slice's voxels).
 */
export function histogram(values: Float32Array, lo: number, hi: number, bins: number, stride = 1): Uint32Array {
  const counts = new Uint32Array(Math.max(1, bins));
  const k = counts.length / Math.max(hi - lo, 1e-12);
  const step = Math.max(1, Math.floor(stride));
  for (let i = 0; i < values.length; i += step) {
    const v = values[i] as number;
    if (!(v >= lo && v <= hi)) continue;
    const b = Math.min(counts.length - 1, Math.floor((v - lo) * k));
    counts[b] = (counts[b] as number) + 1;
  }
  return counts;
}

/** Bar heights in pixels (0..height) on a log scale, so a tissue peak next to a huge background peak still shows. */
export function histogramBars(counts: Uint32Array, height: number): Float32Array {
  let top = 0;
  for (const c of counts) top = Math.max(top, Math.log1p(c));
  const out = new Float32Array(counts.length);
  if (top === 0) return out;
  for (let i = 0; i < counts.length; i++) out[i] = (Math.log1p(counts[i] as number) / top) * height;
  return out;
}

/** Where the window's ends and centre fall on a histogram width pixels wide spanning [lo, hi], clamped to it. */
export function windowMarks(wl: WindowLevel, lo: number, hi: number, width: number): { x0: number; x1: number; xc: number } {
  const at = (v: number) => Math.min(width, Math.max(0, ((v - lo) / Math.max(hi - lo, 1e-12)) * width));
  return { x0: at(wl.center - wl.width / 2), x1: at(wl.center + wl.width / 2), xc: at(wl.center) };
}

/** The intensity under pixel x of a histogram width pixels wide spanning [lo, hi] (for picking a range on it). */
export function intensityAt(x: number, lo: number, hi: number, width: number): number {
  return lo + (Math.min(width, Math.max(0, x)) / Math.max(width, 1)) * (hi - lo);
}
