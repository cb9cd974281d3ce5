// Pointer input on the sagittal and coronal planes: a click or drag moves the shared crosshair (the axial plane
// follows its slice), the wheel zooms at the cursor, middle-drag pans, right-drag sets window and level.
import { panBy, zoomAt, type View } from "../lib/geometry";
import { dragWindow, type WindowLevel } from "../lib/windowlevel";
import type { ViewerContext } from "./context";
import type { PlaneView } from "./plane";
import { inVolume } from "./planes";
import { showReadout } from "./pointer";

export class PlaneInput {
  private crossing: number | null = null;
  private panning: { sx: number; sy: number; view: View } | null = null;
  private windowing: { sx: number; sy: number; wl: WindowLevel } | null = null;

  constructor(private readonly v: ViewerContext, private readonly plane: PlaneView, private readonly windowChanged: () => void) {
    const c = plane.canvas;
    c.addEventListener("contextmenu", (e) => e.preventDefault());
    c.addEventListener("pointerenter", () => (v.state.activePlane = plane.kind));
    c.addEventListener("pointerdown", (e) => this.down(e));
    c.addEventListener("pointermove", (e) => this.move(e));
    c.addEventListener("pointerup", (e) => this.end(e));
    c.addEventListener("pointercancel", (e) => this.end(e));
    c.addEventListener("pointerleave", () => {
      v.state.hover = null;
      showReadout(v);
    });
    c.addEventListener("wheel", (e) => {
      e.preventDefault();
      const p = this.point(e);
      this.plane.view = zoomAt(this.plane.view, Math.exp(-e.deltaY * 0.0015), p.sx, p.sy);
      this.plane.render();
    }, { passive: false });
  }

  private point(e: MouseEvent): { sx: number; sy: number } {
    const c = this.plane.canvas;
    const r = c.getBoundingClientRect();
    const k = c.width / Math.max(1, r.width);
    return { sx: (e.clientX - r.left) * k, sy: (e.clientY - r.top) * k };
  }

  private crossTo(p: { sx: number; sy: number }): void {
    const at = this.plane.voxelAt(p.sx, p.sy);
    const dims = { w: this.v.W, h: this.v.H, d: this.v.D };
    // Clamped, so a drag past the edge keeps the crosshair on the volume's border.
    const clamped = { x: clamp(at.x, dims.w), y: clamp(at.y, dims.h), z: clamp(at.z, dims.d) };
    this.v.moveCross(clamped);
  }

  private down(e: PointerEvent): void {
    const { state } = this.v;
    state.activePlane = this.plane.kind;
    this.plane.canvas.focus();
    const p = this.point(e);
    if (e.button === 1 || (e.button === 0 && state.spaceHeld)) {
      e.preventDefault();
      this.panning = { sx: p.sx, sy: p.sy, view: this.plane.view };
    } else if (e.button === 2) {
      this.windowing = { sx: p.sx, sy: p.sy, wl: state.wl };
    } else if (e.button === 0) {
      this.crossing = e.pointerId;
      this.crossTo(p);
    } else {
      return;
    }
    this.plane.canvas.setPointerCapture(e.pointerId);
  }

  private move(e: PointerEvent): void {
    const v = this.v;
    const p = this.point(e);
    if (this.panning) {
      this.plane.view = panBy(this.panning.view, p.sx - this.panning.sx, p.sy - this.panning.sy);
      this.plane.render();
      return;
    }
    if (this.windowing) {
      v.state.wl = dragWindow(this.windowing.wl, p.sx - this.windowing.sx, this.windowing.sy - p.sy, Math.max(1e-6, v.vol.stats.p99 - v.vol.stats.p1) * 2);
      this.windowChanged();
      return;
    }
    if (this.crossing === e.pointerId) this.crossTo(p);
    const at = this.plane.voxelAt(p.sx, p.sy);
    v.state.hover = inVolume(at, { w: v.W, h: v.H, d: v.D }) ? at : null;
    showReadout(v);
  }

  private end(e: PointerEvent): void {
    this.crossing = null;
    this.panning = null;
    this.windowing = null;
    const c = this.plane.canvas;
    if (c.hasPointerCapture(e.pointerId)) c.releasePointerCapture(e.pointerId);
  }
}

function clamp(i: number, n: number): number {
  return Math.min(n - 1, Math.max(0, i));
}
