// A small line chart on a canvas: nice axis ticks, linear scales, per-pixel decimation of long series, and the
// drawing itself. The arithmetic is pure and unit-tested; drawChart only issues canvas calls.

export interface Series {
  name: string;
  color: string;
  xs: ArrayLike<number>;
  ys: ArrayLike<number>;
  /** Joined by a line (default), or only marked with dots. */
  line?: boolean;
  /**
   * Dots at every point: filled, hollow (e.g. a prediction rather than a label; hides the lines under it), ring
   * (an outline only, so that lines drawn under it stay visible), or none where null.
   */
  marks?: ArrayLike<"filled" | "hollow" | "ring" | null>;
  dash?: number[];
}

export interface Extent {
  min: number;
  max: number;
}

/** The step of about maxTicks ticks over range: 1, 2 or 5 times a power of ten, the nearest on a log scale. */
export function niceStep(range: number, maxTicks: number): number {
  if (!(range > 0) || !Number.isFinite(range)) return 1;
  const raw = range / Math.max(1, maxTicks);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  const nice = f >= Math.SQRT2 * 5 ? 10 : f >= Math.sqrt(10) ? 5 : f >= Math.SQRT2 ? 2 : 1;
  return nice * mag;
}

/** Multiples of a nice step inside [min, max] (inclusive, with a tolerance for rounding). */
export function niceTicks(min: number, max: number, maxTicks: number): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max) || max < min) return [];
  if (max === min) return [min];
  const step = niceStep(max - min, maxTicks);
  const eps = step * 1e-9;
  const ticks: number[] = [];
  for (let v = Math.ceil((min - eps) / step) * step; v <= max + eps; v += step) {
    // Rounded to the step's decimals so that 0.30000000000000004 prints as 0.3.
    ticks.push(Number(v.toFixed(decimalsOf(step))));
  }
  return ticks;
}

/** Decimals needed to print multiples of step exactly. */
export function decimalsOf(step: number): number {
  if (!(step > 0) || !Number.isFinite(step)) return 0;
  return Math.max(0, Math.min(12, -Math.floor(Math.log10(step) + 1e-9)));
}

/** A tick label: the step's decimals, thousands without grouping. */
export function formatTick(v: number, step: number): string {
  const s = v.toFixed(decimalsOf(step));
  return /^-0(\.0*)?$/.test(s) ? s.slice(1) : s;
}

/** The range of the finite values of the given series' xs or ys; null when there are none. */
export function extentOf(series: readonly Series[], axis: "x" | "y"): Extent | null {
  let min = Infinity;
  let max = -Infinity;
  for (const s of series) {
    const vs = axis === "x" ? s.xs : s.ys;
    for (let i = 0; i < vs.length; i++) {
      const v = vs[i] as number;
      if (!Number.isFinite(v)) continue;
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  return min <= max ? { min, max } : null;
}

/**
 * The axis range shown for data in e: widened to nice ticks, grown by a little padding, never empty, and
 * including the forced bounds (e.g. 0 for areas and losses).
 */
export function axisRange(e: Extent | null, opts: { includeZero?: boolean; min?: number; max?: number; maxTicks?: number } = {}): Extent {
  let min = e?.min ?? 0;
  let max = e?.max ?? 1;
  if (opts.includeZero) {
    min = Math.min(min, 0);
    max = Math.max(max, 0);
  }
  if (opts.min !== undefined) min = Math.min(min, opts.min);
  if (opts.max !== undefined) max = Math.max(max, opts.max);
  if (max === min) {
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
    min -= min === 0 && opts.includeZero ? 0 : pad;
    max += pad;
  }
  const step = niceStep(max - min, opts.maxTicks ?? 5);
  const d = decimalsOf(step);
  return { min: Number((Math.floor(min / step + 1e-9) * step).toFixed(d)), max: Number((Math.ceil(max / step - 1e-9) * step).toFixed(d)) };
}

/** Maps a domain linearly onto a pixel range (which may run backwards, as the y axis does). */
export function linearScale(domain: Extent, r0: number, r1: number): (v: number) => number {
  const span = domain.max - domain.min;
  if (span === 0) return () => (r0 + r1) / 2;
  const k = (r1 - r0) / span;
  return (v) => r0 + (v - domain.min) * k;
}

/**
 * The indices of the points to draw of a series sorted by x, at most about 4 per pixel column: the first, last,
 * lowest and highest point of each column, so that a decimated line keeps every spike. Series shorter than
 * 4 points per column come back whole.
 */
export function decimate(xs: ArrayLike<number>, ys: ArrayLike<number>, x: (v: number) => number, columns: number): number[] {
  const n = xs.length;
  const all = () => Array.from({ length: n }, (_, i) => i);
  if (n <= 4 * Math.max(1, columns)) return all();
  const out: number[] = [];
  let col = NaN;
  let first = -1, last = -1, lo = -1, hi = -1;
  const flush = () => {
    if (first < 0) return;
    for (const i of [...new Set([first, lo, hi, last])].sort((a, b) => a - b)) out.push(i);
  };
  for (let i = 0; i < n; i++) {
    const c = Math.floor(x(xs[i] as number));
    const y = ys[i] as number;
    if (c !== col) {
      flush();
      col = c;
      first = lo = hi = last = i;
      continue;
    }
    last = i;
    if (!Number.isFinite(y)) continue;
    if (!Number.isFinite(ys[lo] as number) || y < (ys[lo] as number)) lo = i;
    if (!Number.isFinite(ys[hi] as number) || y > (ys[hi] as number)) hi = i;
  }
  flush();
  return out;
}

export interface ChartOptions {
  series: readonly Series[];
  xLabel?: string;
  yLabel?: string;
  /** Axis bounds always shown (e.g. y from 0, Dice up to 1). */
  yMin?: number;
  yMax?: number;
  includeZeroY?: boolean;
  /**
   * The highest y the axis needs to show (e.g. from clipTop): higher values are drawn on the plot's top edge,
   * their dots as upward arrows, so that one spike does not flatten the rest.
   */
  yClip?: number;
  /** Shown in the middle of an empty chart. */
  empty?: string;
}

export interface Plot {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

/** The plotting area inside a canvas of the given CSS size, leaving room for tick labels and the legend. */
export function plotArea(width: number, height: number, hasLegend: boolean): Plot {
  return { left: 48, top: hasLegend ? 22 : 10, right: Math.max(49, width - 12), bottom: Math.max(11, height - 34) };
}

/** The subset of canvas calls drawChart uses, so that tests can record them. */
export type Ctx2D = Pick<CanvasRenderingContext2D,
  "save" | "restore" | "clearRect" | "beginPath" | "moveTo" | "lineTo" | "stroke" | "fill" | "arc" | "fillText" |
  "setLineDash" | "rect" | "clip" | "measureText"> & {
  strokeStyle: string | CanvasGradient | CanvasPattern;
  fillStyle: string | CanvasGradient | CanvasPattern;
  lineWidth: number;
  font: string;
  textAlign: CanvasTextAlign;
  textBaseline: CanvasTextBaseline;
};

/** Counts of what a draw put on the canvas, per series: for tests and the browser test. */
export interface DrawnCounts {
  [series: string]: number;
}

const AXIS = "#8891a5";
const GRID = "#2b3242";
const HOLLOW = "#171b24"; // the chart's background (--panel)

/** Draws the chart into a context of CSS size width x height (the caller scales for the device pixel ratio). */
export interface Layout {
  plot: Plot;
  /** The data's x extent; null when there are no points. */
  data: Extent | null;
  x: Extent;
  y: Extent;
  maxYTicks: number;
}

/** Where the chart's axes go in a canvas of CSS size width x height. */
export function layoutChart(width: number, height: number, o: ChartOptions): Layout {
  const plot = plotArea(width, height, o.series.length > 1);
  const data = extentOf(o.series, "x");
  const x = data ? (data.min === data.max ? { min: data.min - 1, max: data.max + 1 } : data) : { min: 0, max: 1 };
  const maxYTicks = Math.max(2, Math.floor((plot.bottom - plot.top) / 28));
  let ye = extentOf(o.series, "y");
  if (ye && o.yClip !== undefined && ye.max > o.yClip) ye = { min: Math.min(ye.min, o.yClip), max: o.yClip };
  const y = axisRange(ye, { includeZero: o.includeZeroY, min: o.yMin, max: o.yMax, maxTicks: maxYTicks });
  return { plot, data, x, y, maxYTicks };
}

/** The index of the x in a sorted array nearest to v; -1 when empty. */
export function nearestIndex(xs: ArrayLike<number>, v: number): number {
  const n = xs.length;
  if (n === 0) return -1;
  let lo = 0, hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((xs[mid] as number) < v) lo = mid + 1;
    else hi = mid;
  }
  return lo > 0 && Math.abs((xs[lo - 1] as number) - v) <= Math.abs((xs[lo] as number) - v) ? lo - 1 : lo;
}

export interface Reading {
  x: number;
  values: Array<{ name: string; color: string; y: number }>;
}

/**
 * What the chart shows under the horizontal position px: the data x nearest to it among all series (sorted by
 * x), and each series' finite value at exactly that x. Null outside the plot or without points.
 */
export function readingAt(layout: Layout, o: ChartOptions, px: number): Reading | null {
  const p = layout.plot;
  if (!layout.data || px < p.left - 8 || px > p.right + 8) return null;
  const v = layout.x.min + ((px - p.left) / (p.right - p.left)) * (layout.x.max - layout.x.min);
  let best = NaN;
  for (const s of o.series) {
    const i = nearestIndex(s.xs, v);
    if (i >= 0 && !(Math.abs((s.xs[i] as number) - v) >= Math.abs(best - v))) best = s.xs[i] as number;
  }
  if (Number.isNaN(best)) return null;
  const values: Reading["values"] = [];
  for (const s of o.series) {
    const i = nearestIndex(s.xs, best);
    const y = s.ys[i] as number;
    if (i >= 0 && s.xs[i] === best && Number.isFinite(y)) values.push({ name: s.name, color: s.color, y });
  }
  return { x: best, values };
}

export function drawChart(ctx: Ctx2D, width: number, height: number, o: ChartOptions): DrawnCounts {
  const drawn: DrawnCounts = {};
  ctx.clearRect(0, 0, width, height);
  const { plot: p, data: xe, x: xr, y: yr, maxYTicks } = layoutChart(width, height, o);
  const X = linearScale(xr, p.left, p.right);
  const Yfree = linearScale(yr, p.bottom, p.top);
  // Values above the axis (see yClip) sit on its top edge.
  const Y = (v: number) => Yfree(Math.min(v, yr.max));

  ctx.save();
  ctx.font = "11px system-ui, sans-serif";
  ctx.lineWidth = 1;
  // Grid and y ticks.
  const yStep = niceStep(yr.max - yr.min, maxYTicks);
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (const t of niceTicks(yr.min, yr.max, maxYTicks)) {
    const y = Math.round(Y(t)) + 0.5;
    ctx.strokeStyle = GRID;
    ctx.beginPath();
    ctx.moveTo(p.left, y);
    ctx.lineTo(p.right, y);
    ctx.stroke();
    ctx.fillStyle = AXIS;
    ctx.fillText(formatTick(t, yStep), p.left - 6, y);
  }
  // X ticks: integers only when the data are (iterations, slices).
  const maxXTicks = Math.max(2, Math.floor((p.right - p.left) / 70));
  let xStep = niceStep(xr.max - xr.min, maxXTicks);
  const integral = o.series.every((s) => Array.prototype.every.call(s.xs, (v: number) => Number.isInteger(v)));
  if (integral) xStep = Math.max(1, xStep);
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  ctx.fillStyle = AXIS;
  const xTicks = integral && xStep === 1 ? niceTicks(xr.min, xr.max, maxXTicks).filter(Number.isInteger) : niceTicks(xr.min, xr.max, maxXTicks);
  for (const t of xTicks) {
    const x = Math.round(X(t)) + 0.5;
    ctx.strokeStyle = AXIS;
    ctx.beginPath();
    ctx.moveTo(x, p.bottom);
    ctx.lineTo(x, p.bottom + 4);
    ctx.stroke();
    ctx.fillText(formatTick(t, xStep), x, p.bottom + 6);
  }
  ctx.strokeStyle = AXIS;
  ctx.beginPath();
  ctx.moveTo(p.left + 0.5, p.top);
  ctx.lineTo(p.left + 0.5, p.bottom + 0.5);
  ctx.lineTo(p.right, p.bottom + 0.5);
  ctx.stroke();
  if (o.xLabel) {
    ctx.textAlign = "right";
    ctx.fillText(o.xLabel, p.right, p.bottom + 20);
  }
  if (o.yLabel) {
    ctx.textAlign = "left";
    ctx.textBaseline = "top";
    ctx.fillText(o.yLabel, 4, 2);
  }

  // Series, clipped to the plot.
  ctx.save();
  ctx.beginPath();
  ctx.rect(p.left, p.top - 4, p.right - p.left + 4, p.bottom - p.top + 8);
  ctx.clip();
  for (const s of o.series) {
    const idx = decimate(s.xs, s.ys, X, p.right - p.left);
    let count = 0;
    ctx.strokeStyle = s.color;
    ctx.fillStyle = s.color;
    ctx.lineWidth = 1.5;
    ctx.setLineDash(s.dash ?? []);
    if (s.line !== false) {
      ctx.beginPath();
      let pen = false;
      for (const i of idx) {
        const xv = s.xs[i] as number, yv = s.ys[i] as number;
        if (!Number.isFinite(xv) || !Number.isFinite(yv)) {
          pen = false;
          continue;
        }
        if (pen) ctx.lineTo(X(xv), Y(yv));
        else ctx.moveTo(X(xv), Y(yv));
        pen = true;
        count++;
      }
      ctx.stroke();
    }
    ctx.setLineDash([]);
    const dots = s.line === false || s.marks !== undefined;
    if (dots) {
      let marked = 0;
      let clipped = 0;
      for (const i of idx) {
        const xv = s.xs[i] as number, yv = s.ys[i] as number;
        const mark = s.marks ? s.marks[i] ?? null : "filled";
        if (!mark || !Number.isFinite(xv) || !Number.isFinite(yv)) continue;
        ctx.beginPath();
        if (yv > yr.max) {
          // Off the axis: an arrow on the top edge pointing up.
          const cx = X(xv);
          ctx.moveTo(cx, p.top - 4);
          ctx.lineTo(cx + 4, p.top + 3);
          ctx.lineTo(cx - 4, p.top + 3);
          ctx.fillStyle = s.color;
          ctx.fill();
          clipped++;
        } else {
          ctx.arc(X(xv), Y(yv), 3, 0, 2 * Math.PI);
          if (mark === "ring") {
            ctx.stroke();
          } else {
            // A hollow mark hides the line through it, so that it reads as a ring.
            ctx.fillStyle = mark === "filled" ? s.color : HOLLOW;
            ctx.fill();
            if (mark === "hollow") ctx.stroke();
          }
        }
        marked++;
      }
      if (s.line === false) count = marked;
      if (clipped > 0) drawn[`${s.name} (clipped)`] = clipped;
    }
    drawn[s.name] = count;
  }
  ctx.restore();

  // Legend along the top.
  if (o.series.length > 1) {
    ctx.textAlign = "left";
    ctx.textBaseline = "middle";
    let lx = p.left;
    for (const s of o.series) {
      ctx.fillStyle = s.color;
      ctx.beginPath();
      ctx.rect(lx, 6, 10, 10);
      ctx.fill();
      ctx.fillStyle = AXIS;
      ctx.fillText(s.name, lx + 14, 11);
      lx += 14 + ctx.measureText(s.name).width + 14;
    }
  }
  if (o.empty && !xe) {
    ctx.fillStyle = AXIS;
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.fillText(o.empty, (p.left + p.right) / 2, (p.top + p.bottom) / 2);
  }
  ctx.restore();
  return drawn;
}

/**
 * A chart bound to a canvas: sized to its CSS box at the device pixel ratio, redrawn at most once a frame
 * after set(). The canvas's data-drawn attribute holds the points drawn per series (JSON), for the browser test.
 */
export class LineChart {
  private options: ChartOptions = { series: [] };
  private frame = 0;
  private readonly ro: ResizeObserver;
  private hoverX: number | null = null;

  /**
   * readout, when given, shows the values under the pointer (format prints them); a click calls pick with the
   * data x under the pointer.
   */
  constructor(
    readonly canvas: HTMLCanvasElement,
    private readonly readout?: HTMLElement,
    private readonly format: (r: Reading) => string = defaultReading,
    pick?: (x: number) => void,
  ) {
    this.ro = new ResizeObserver(() => this.schedule());
    this.ro.observe(canvas);
    const at = (e: MouseEvent) => readingAt(this.layout(), this.options, e.clientX - canvas.getBoundingClientRect().left);
    canvas.addEventListener("mousemove", (e) => {
      this.hoverX = e.clientX - canvas.getBoundingClientRect().left;
      this.showReading(at(e));
    });
    canvas.addEventListener("mouseleave", () => {
      this.hoverX = null;
      this.showReading(null);
    });
    if (pick) {
      canvas.style.cursor = "pointer";
      canvas.addEventListener("click", (e) => {
        const r = at(e);
        if (r) pick(r.x);
      });
    }
  }

  private layout(): Layout {
    return layoutChart(this.canvas.clientWidth || 600, this.canvas.clientHeight || 220, this.options);
  }

  private showReading(r: Reading | null): void {
    if (!this.readout) return;
    this.readout.textContent = r ? this.format(r) : "";
  }

  set(options: ChartOptions): void {
    this.options = options;
    this.schedule();
  }

  private schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  /** Draws now (also used when the page is hidden and animation frames do not come). */
  draw(): void {
    const c = this.canvas;
    const w = c.clientWidth || 600, h = c.clientHeight || 220;
    const dpr = window.devicePixelRatio || 1;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
    }
    const ctx = c.getContext("2d");
    if (!ctx) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const drawn = drawChart(ctx, w, h, this.options);
    c.dataset.drawn = JSON.stringify(drawn);
    // Live data moves under a still pointer: keep the readout current.
    if (this.hoverX !== null) this.showReading(readingAt(this.layout(), this.options, this.hoverX));
  }

  dispose(): void {
    this.ro.disconnect();
    if (this.frame) cancelAnimationFrame(this.frame);
  }
}

function defaultReading(r: Reading): string {
  return `${r.x}: ${r.values.map((v) => `${v.name} ${Number(v.y.toPrecision(4))}`).join(", ")}`;
}
