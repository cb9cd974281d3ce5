// Pointer input on the axial canvas: brush and eraser strokes, fill, pan (middle or Space+drag), window/level
// (right-drag), zoom (wheel), and the cursor readout.
import { toast } from "../dom";
import { diskOffsets, strokeSegment } from "../lib/brush";
import { floodFill } from "../lib/floodfill";
import { inGrid, panBy, zoomAt, type Point, type View } from "../lib/geometry";
import { dragWindow, type WindowLevel } from "../lib/windowlevel";
import type { ViewerContext } from "./context";
import { changed, editable, maskForEdit, undoFor } from "./editing";
import type { PlaneView } from "./plane";
import { readoutText, sourceVoxel, worldMm } from "./readout";

interface Stroke {
  before: Uint8Array;
  last: Point;
  changed: boolean;
  pointerId: number;
}

export class PointerInput {
  private painting: Stroke | null = null;
  private panning: { sx: number; sy: number; view: View } | null = null;
  private windowing: { sx: number; sy: number; wl: WindowLevel } | null = null;
  private disk: Int32Array;

  constructor(private readonly v: ViewerContext, private readonly plane: PlaneView) {
    this.disk = diskOffsets(v.state.brushSize);
    const c = v.ui.canvas;
    c.addEventListener("contextmenu", (e) => e.preventDefault());
    c.addEventListener("pointerdown", (e) => this.down(e));
    c.addEventListener("pointermove", (e) => this.move(e));
    c.addEventListener("pointerup", (e) => this.end(e));
    c.addEventListener("pointercancel", (e) => this.end(e));
    c.addEventListener("pointerenter", () => (v.state.activePlane = "axial"));
    c.addEventListener("pointerleave", () => {
      v.state.cursor = null;
      v.state.hover = null;
      showReadout(v);
      v.requestRender();
    });
    c.addEventListener("wheel", (e) => {
      e.preventDefault();
      const p = this.canvasPoint(e);
      v.state.view = zoomAt(v.state.view, Math.exp(-e.deltaY * 0.0015), p.sx, p.sy);
      v.render();
    }, { passive: false });
  }

  /** The brush size changed: the stroke footprint follows. */
  brushChanged(): void {
    this.disk = diskOffsets(this.v.state.brushSize);
  }

  private canvasPoint(e: MouseEvent): { sx: number; sy: number } {
    const c = this.v.ui.canvas;
    const r = c.getBoundingClientRect();
    const dpr = c.width / Math.max(1, r.width);
    return { sx: (e.clientX - r.left) * dpr, sy: (e.clientY - r.top) * dpr };
  }

  private voxelAt(p: { sx: number; sy: number }): Point {
    return this.plane.voxelAt(p.sx, p.sy);
  }

  private paintTo(x: number, y: number): void {
    const stroke = this.painting;
    if (!stroke) return;
    const { state, W, H } = this.v;
    const mask = maskForEdit(this.v);
    const value = state.tool === "eraser" ? 0 : state.cls;
    const n = strokeSegment(mask, W, H, stroke.last.x, stroke.last.y, x, y, this.disk, value, this.v.tools.guard(state.z));
    stroke.last = { x, y };
    // The undo step is recorded on the stroke's first change, so clicks that change nothing leave no step.
    if (n > 0 && !stroke.changed) {
      stroke.changed = true;
      undoFor(this.v, state.z).record(stroke.before);
      changed(this.v, state.z);
    }
    if (n > 0) this.v.requestRender();
  }

  private down(e: PointerEvent): void {
    const v = this.v;
    const { state, ui, W, H } = v;
    ui.canvas.focus();
    const p = this.canvasPoint(e);
    if (e.button === 1 || (e.button === 0 && state.spaceHeld)) {
      e.preventDefault();
      this.panning = { sx: p.sx, sy: p.sy, view: state.view };
      this.plane.dragging = true;
      ui.canvas.setPointerCapture(e.pointerId);
      return;
    }
    if (e.button === 2) {
      this.windowing = { sx: p.sx, sy: p.sy, wl: state.wl };
      this.plane.dragging = true;
      ui.canvas.setPointerCapture(e.pointerId);
      return;
    }
    if (e.button !== 0) return;
    const at = this.voxelAt(p);
    if (!inGrid(at, W, H)) return;
    // A click on the axial plane also moves the crosshair there, so the other planes show what is painted.
    v.moveCross({ x: at.x, y: at.y, z: state.z });
    if (!editable(v)) return;
    const problem = v.tools.strokeProblem(state.z, state.tool === "eraser" ? 0 : state.cls);
    if (problem) {
      toast(problem, "error");
      return;
    }
    if (state.tool === "fill") {
      const mask = maskForEdit(v);
      const before = mask.slice();
      const res = floodFill(mask, W, H, at.x, at.y, state.cls, v.tools.guard(state.z));
      if (res.filled > 0) {
        undoFor(v, state.z).record(before);
        changed(v, state.z);
        v.render();
      } else if ("reason" in res) {
        toast(`fill: ${res.reason}`);
      }
      return;
    }
    ui.canvas.setPointerCapture(e.pointerId);
    v.saver.hold(state.z, true);
    this.painting = { before: maskForEdit(v).slice(), last: at, changed: false, pointerId: e.pointerId };
    this.paintTo(at.x, at.y);
  }

  private move(e: PointerEvent): void {
    const v = this.v;
    const { state, ui, vol } = v;
    const p = this.canvasPoint(e);
    state.cursor = p;
    if (this.panning) {
      state.view = panBy(this.panning.view, p.sx - this.panning.sx, p.sy - this.panning.sy);
      v.requestRender();
      return;
    }
    if (this.windowing) {
      state.wl = dragWindow(this.windowing.wl, p.sx - this.windowing.sx, this.windowing.sy - p.sy, Math.max(1e-6, vol.stats.p99 - vol.stats.p1) * 2);
      ui.levelInput.value = String(+state.wl.center.toPrecision(5));
      ui.widthInput.value = String(+state.wl.width.toPrecision(5));
      v.requestRender();
      return;
    }
    if (this.painting) {
      // Coalesced events carry the intermediate pointer positions of a fast stroke.
      const events: PointerEvent[] = typeof e.getCoalescedEvents === "function" ? e.getCoalescedEvents() : [];
      for (const ce of events.length ? events : [e]) {
        const q = this.voxelAt(this.canvasPoint(ce));
        this.paintTo(q.x, q.y);
      }
    }
    const at = this.voxelAt(p);
    state.hover = inGrid(at, v.W, v.H) ? { x: at.x, y: at.y, z: state.z } : null;
    showReadout(v);
    v.requestRender();
  }

  private end(e: PointerEvent): void {
    if (this.painting && e.pointerId === this.painting.pointerId) {
      this.painting = null;
      this.v.saver.hold(this.v.state.z, false);
    }
    this.panning = null;
    this.windowing = null;
    this.plane.dragging = false;
    const c = this.v.ui.canvas;
    if (c.hasPointerCapture(e.pointerId)) c.releasePointerCapture(e.pointerId);
  }
}

/**
 * Shows the voxel under the pointer (or, off the planes, the crosshair's) in canonical and source-file indices
 * and in mm, with its intensity and class; called on every pointer move and slice change, so it never shows a
 * stale slice.
 */
export function showReadout(v: ViewerContext): void {
  const { W, H, D, data, state, project, ui, vol } = v;
  const hover = state.hover;
  // A hovered plane's own slice follows the keys: the pointer stays on the same in-plane voxel while the plane
  // moves along its normal (z for the axial plane, x for the sagittal, y for the coronal).
  const at = hover ? { ...hover } : { x: state.cross.x, y: state.cross.y, z: state.z };
  if (hover) {
    if (state.activePlane === "axial") at.z = state.z;
    else if (state.activePlane === "sagittal") at.x = state.cross.x;
    else at.y = state.cross.y;
  }
  if (at.x < 0 || at.y < 0 || at.z < 0 || at.x >= W || at.y >= H || at.z >= D) {
    ui.readout.textContent = "";
    return;
  }
  const i = at.y * W + at.x;
  const img = data.images.get(at.z);
  const value = img ? img[i] : v.volume?.value(at.x, at.y, at.z);
  const c = data.masks.get(at.z)?.[i] ?? 0;
  const name = c > 0 ? project.classes[c - 1]?.name ?? "" : "";
  ui.readout.textContent = readoutText(at, sourceVoxel(vol.orientation, vol.shape, at), worldMm(vol.affine, at), value, name);
  ui.readout.dataset.voxel = `${at.x},${at.y},${at.z}`;
}
