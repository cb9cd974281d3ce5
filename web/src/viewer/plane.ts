// Drawing the axial plane: the composed slice (grey levels, label, prediction outline) scaled onto the canvas,
// and the brush ring under the cursor.
import { fitView, screenToVoxel, voxelToScreen } from "../lib/geometry";
import { Palette, parseColor } from "../lib/render";
import { composeReview } from "./tools-overlay";
import type { ViewerContext } from "./context";

export class AxialPlane {
  private readonly ctx2d: CanvasRenderingContext2D;
  private readonly off: HTMLCanvasElement;
  private readonly offCtx: CanvasRenderingContext2D;
  private readonly imageData: ImageData;
  private readonly pixels: Uint32Array;
  palette: Palette;
  /** Set while panning or windowing: no brush ring then. */
  dragging = false;

  constructor(private readonly v: ViewerContext) {
    this.ctx2d = v.ui.canvas.getContext("2d", { alpha: false }) as CanvasRenderingContext2D;
    this.off = document.createElement("canvas");
    this.off.width = v.W;
    this.off.height = v.H;
    this.offCtx = this.off.getContext("2d") as CanvasRenderingContext2D;
    this.imageData = this.offCtx.createImageData(v.W, v.H);
    this.pixels = new Uint32Array(this.imageData.data.buffer);
    this.palette = this.makePalette();
  }

  makePalette(): Palette {
    return new Palette(this.v.project.classes.map((c) => parseColor(c.color)), this.v.state.opacity);
  }

  /** Sizes the canvas to the stage (device pixels) and fits the view the first time. */
  fit(): void {
    const { ui, state, W, H } = this.v;
    const rect = ui.stage.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    const cw = Math.max(1, Math.round(rect.width * dpr));
    const ch = Math.max(1, Math.round(rect.height * dpr));
    if (ui.canvas.width !== cw || ui.canvas.height !== ch) {
      ui.canvas.width = cw;
      ui.canvas.height = ch;
      if (!state.viewFitted) {
        state.view = fitView(W, H, cw, ch);
        state.viewFitted = true;
      }
    }
  }

  /** The label shown on slice z: a conflict's other version, a previewed history version, or the current one. */
  shownMask(z: number): Uint8Array | null {
    const { edits, data } = this.v;
    const c = edits.conflicts.get(z);
    if (c?.preview) return c.theirs?.mask ?? null;
    if (edits.historyPreview?.slice === z) return edits.historyPreview.mask;
    return data.masks.get(z) ?? null;
  }

  /** Draws the current slice now (synchronously: switching between cached slices is one call). */
  render(): void {
    const { ui, state, data, W, H, project } = this.v;
    const ctx = this.ctx2d;
    const canvas = ui.canvas;
    const z = state.z;
    const gray = data.gray(z, state.wl);
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#0b0d12";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    if (!gray) {
      ctx.fillStyle = "#8891a5";
      ctx.font = `${14 * (window.devicePixelRatio || 1)}px system-ui, sans-serif`;
      ctx.fillText(`loading slice ${z}…`, 20, 30);
      return;
    }
    composeReview(this.v.tools.layers(z, gray, this.shownMask(z)), this.palette, this.v.tools.predPalette, this.pixels);
    this.offCtx.putImageData(this.imageData, 0, 0);
    const view = state.view;
    ctx.imageSmoothingEnabled = view.zoom < 1;
    ctx.drawImage(this.off, view.panX, view.panY, W * view.zoom, H * view.zoom);
    const cursor = state.cursor;
    if (cursor && (state.tool === "brush" || state.tool === "eraser") && !this.dragging) {
      const vx = screenToVoxel(view, W, H, cursor.sx, cursor.sy);
      const p = voxelToScreen(view, W, H, vx.x, vx.y);
      ctx.strokeStyle = state.tool === "eraser" ? "#ffffff" : project.classes[state.cls - 1]?.color ?? "#ffffff";
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.arc(p.x, p.y, Math.max(1, (state.brushSize / 2) * view.zoom), 0, Math.PI * 2);
      ctx.stroke();
    }
  }
}
