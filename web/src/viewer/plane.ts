// Drawing one plane: the axial slice (grey levels, label, prediction outline, brush ring) or a sagittal or
// coronal reformat of the whole volume, scaled onto its canvas with the shared crosshair.
import { fitView, type View } from "../lib/geometry";
import { Palette, parseColor } from "../lib/render";
import type { ViewerContext } from "./context";
import { fromPlane, planeAspect, planeSize, toPlane, type PlaneKind, type Voxel } from "./planes";
import { composeReformat } from "./reformat";
import { composeReview } from "./tools-overlay";

const CROSS_COLOR = "rgba(74, 222, 128, 0.7)";

/** The label shown on slice z: a conflict's other version, a previewed history version, or the current one. */
export function shownMask(v: ViewerContext, z: number): Uint8Array | null {
  const c = v.edits.conflicts.get(z);
  if (c?.preview) return c.theirs?.mask ?? null;
  if (v.edits.historyPreview?.slice === z) return v.edits.historyPreview.mask;
  return v.data.masks.get(z) ?? null;
}

export function makePalette(v: ViewerContext): Palette {
  return new Palette(v.project.classes.map((c) => parseColor(c.color)), v.state.opacity);
}

export class PlaneView {
  readonly cols: number;
  readonly rows: number;
  readonly aspect: number;
  private readonly ctx2d: CanvasRenderingContext2D;
  private readonly off: HTMLCanvasElement;
  private readonly offCtx: CanvasRenderingContext2D;
  private readonly imageData: ImageData;
  private readonly pixels: Uint32Array;
  /** The reformats' own zoom and pan; the axial plane's is state.view (the e2e hook and the brush read it). */
  private ownView: View = { zoom: 1, panX: 0, panY: 0 };
  /** The view fit() or resetView() last set: while the user has not zoomed or panned since, a resize refits. */
  private lastFit: View | null = null;
  /** Set while panning or windowing: no brush ring then. */
  dragging = false;
  /** What the reformat's pixels were composed from; see render(sliceChangeOnly). */
  private composedKey = "";
  /** The last compose kept the previous pixels (already on the offscreen canvas). */
  private reused = false;

  constructor(private readonly v: ViewerContext, readonly kind: PlaneKind, readonly canvas: HTMLCanvasElement) {
    const size = planeSize(kind, { w: v.W, h: v.H, d: v.D });
    this.cols = size.cols;
    this.rows = size.rows;
    this.aspect = planeAspect(kind, v.vol.spacing ?? [1, 1, 1]);
    this.ctx2d = canvas.getContext("2d", { alpha: false }) as CanvasRenderingContext2D;
    this.off = document.createElement("canvas");
    this.off.width = this.cols;
    this.off.height = this.rows;
    this.offCtx = this.off.getContext("2d") as CanvasRenderingContext2D;
    this.imageData = this.offCtx.createImageData(this.cols, this.rows);
    this.pixels = new Uint32Array(this.imageData.data.buffer);
  }

  get view(): View {
    return this.kind === "axial" ? this.v.state.view : this.ownView;
  }

  set view(view: View) {
    if (this.kind === "axial") this.v.state.view = view;
    else this.ownView = view;
  }

  /** Whether the plane is laid out (a hidden plane has no size and is not drawn). */
  visible(): boolean {
    return this.canvas.clientWidth > 0 && this.canvas.clientHeight > 0;
  }

  /** The view that fits the plane in its canvas. */
  fittedView(): View {
    const f = fitView(this.cols, this.rows * this.aspect, this.canvas.width, this.canvas.height);
    return f;
  }

  /** Sizes the canvas to its box (device pixels) and fits the view the first time it has a size. */
  fit(): void {
    const rect = this.canvas.getBoundingClientRect();
    if (rect.width === 0 || rect.height === 0) return;
    const dpr = window.devicePixelRatio || 1;
    const cw = Math.max(1, Math.round(rect.width * dpr));
    const ch = Math.max(1, Math.round(rect.height * dpr));
    if (this.canvas.width === cw && this.canvas.height === ch) return;
    const first = this.kind === "axial" ? !this.v.state.viewFitted : this.lastFit === null;
    // A plane still at its fitted view follows its box (a layout change, a window resize); a zoomed one stays.
    const refit = first || this.view === this.lastFit;
    this.canvas.width = cw;
    this.canvas.height = ch;
    if (refit) {
      this.resetView();
      if (this.kind === "axial") this.v.state.viewFitted = true;
    }
  }

  resetView(): void {
    this.lastFit = this.fittedView();
    this.view = this.lastFit;
  }

  /** The voxel under canvas point (sx, sy), possibly outside the volume. */
  voxelAt(sx: number, sy: number): Voxel {
    const view = this.view;
    const col = Math.floor((sx - view.panX) / view.zoom);
    const row = Math.floor((sy - view.panY) / (view.zoom * this.aspect));
    const s = this.v.state;
    return fromPlane(this.kind, { w: this.v.W, h: this.v.H, d: this.v.D }, col, row, { x: s.cross.x, y: s.cross.y, z: s.z });
  }

  /** The canvas position of the centre of voxel p in this plane. */
  screenOf(p: Voxel): { x: number; y: number } {
    const { col, row } = toPlane(this.kind, { w: this.v.W, h: this.v.H, d: this.v.D }, p);
    const view = this.view;
    return { x: view.panX + (col + 0.5) * view.zoom, y: view.panY + (row + 0.5) * view.zoom * this.aspect };
  }

  /**
   * Draws the plane now (synchronously: a slice change redraws every visible plane in one call). sliceChangeOnly
   * says that only the axial slice moved since the last draw: a reformat then keeps its composed pixels (they
   * do not depend on the axial slice) unless its own plane, the window, the overlay or the palette changed, and
   * only its crosshair moves. Every other draw recomposes, so label edits always show.
   */
  render(sliceChangeOnly = false): void {
    if (!this.visible()) return;
    const ctx = this.ctx2d;
    const canvas = this.canvas;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#0b0d12";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    const what = this.compose(sliceChangeOnly);
    if (what) {
      ctx.fillStyle = "#8891a5";
      ctx.font = `${14 * (window.devicePixelRatio || 1)}px system-ui, sans-serif`;
      ctx.fillText(what, 20, 30);
      return;
    }
    if (!this.reused) this.offCtx.putImageData(this.imageData, 0, 0);
    if (this.kind === "axial" && this.v.marks.firstDrawn === null) this.v.marks.firstDrawn = performance.now();
    const view = this.view;
    ctx.imageSmoothingEnabled = view.zoom < 1;
    ctx.drawImage(this.off, view.panX, view.panY, this.cols * view.zoom, this.rows * view.zoom * this.aspect);
    this.drawCross();
    if (this.kind === "axial") this.drawBrush();
  }

  /** Fills the pixels; returns what is still loading instead, if anything. */
  private compose(sliceChangeOnly: boolean): string | null {
    const { state, data } = this.v;
    this.reused = false;
    if (this.kind === "axial") {
      const z = state.z;
      const gray = data.gray(z, state.wl);
      if (!gray) return `loading slice ${z}…`;
      composeReview(this.v.tools.layers(z, gray, shownMask(this.v, z)), this.v.palette, this.v.tools.predPalette, this.pixels);
      return null;
    }
    const vol = this.v.volume;
    if (!vol) return this.v.volumeError ?? "loading volume…";
    const at = { x: state.cross.x, y: state.cross.y, z: state.z };
    const key = `${this.kind === "coronal" ? at.y : at.x}|${state.wl.center}/${state.wl.width}|${state.overlayOn}|${state.opacity}|${this.v.volume ? 1 : 0}`;
    if (sliceChangeOnly && key === this.composedKey) {
      this.reused = true;
      return null;
    }
    this.composedKey = key;
    const labels = state.overlayOn ? (z: number) => shownMask(this.v, z) : null;
    const preds = state.overlayOn ? (z: number) => data.preds.get(z)?.mask : null;
    composeReformat(this.kind, at, vol, vol.grayLut(state.wl), labels, preds, this.v.palette, this.pixels);
    return null;
  }

  private drawCross(): void {
    const s = this.v.state;
    const p = this.screenOf({ x: s.cross.x, y: s.cross.y, z: s.z });
    const ctx = this.ctx2d;
    ctx.strokeStyle = CROSS_COLOR;
    ctx.lineWidth = Math.max(1, Math.round(window.devicePixelRatio || 1));
    ctx.setLineDash([6, 4]);
    ctx.beginPath();
    ctx.moveTo(Math.round(p.x) + 0.5, 0);
    ctx.lineTo(Math.round(p.x) + 0.5, this.canvas.height);
    ctx.moveTo(0, Math.round(p.y) + 0.5);
    ctx.lineTo(this.canvas.width, Math.round(p.y) + 0.5);
    ctx.stroke();
    ctx.setLineDash([]);
  }

  private drawBrush(): void {
    const { state, project } = this.v;
    const cursor = state.cursor;
    if (!cursor || (state.tool !== "brush" && state.tool !== "eraser") || this.dragging) return;
    const p = this.screenOf(this.voxelAt(cursor.sx, cursor.sy));
    const ctx = this.ctx2d;
    ctx.strokeStyle = state.tool === "eraser" ? "#ffffff" : project.classes[state.cls - 1]?.color ?? "#ffffff";
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.arc(p.x, p.y, Math.max(1, (state.brushSize / 2) * state.view.zoom), 0, Math.PI * 2);
    ctx.stroke();
  }
}
