// The slice status strip under the viewer: one cell per slice coloured by status, unsaved slices marked.
import type { SliceInfo } from "../api";
import type { ViewerContext } from "./context";

const STATUS_COLORS: Record<string, string> = {
  unlabelled: "#3a4150",
  labelled: "#3b82f6",
  predicted: "#f59e0b",
  empty: "#6b5b3e",
  verified: "#22c55e",
};

/** Sizes the strip to its box (device pixels); true when it changed and needs a redraw. */
export function fitStrip(strip: HTMLCanvasElement): boolean {
  const dpr = window.devicePixelRatio || 1;
  const sw = strip.getBoundingClientRect().width;
  if (sw > 0 && strip.width !== Math.round(sw * dpr)) {
    strip.width = Math.round(sw * dpr);
    strip.height = Math.round(14 * dpr);
    return true;
  }
  return false;
}

export function drawStrip(v: ViewerContext): void {
  const strip = v.ui.strip;
  const sctx = strip.getContext("2d");
  if (!sctx || strip.width === 0) return;
  const D = v.D;
  const cw = strip.width / D;
  sctx.clearRect(0, 0, strip.width, strip.height);
  for (let i = 0; i < D; i++) {
    const s = v.info[i] as SliceInfo;
    sctx.fillStyle = v.edits.conflicts.has(i) ? "#ef4444" : STATUS_COLORS[s.verified ? "verified" : s.status] ?? "#444";
    sctx.fillRect(Math.floor(i * cw), 2, Math.max(1, Math.ceil(cw) - (cw > 4 ? 1 : 0)), strip.height - 4);
    if (v.saver.isDirty(i)) {
      sctx.fillStyle = "#facc15";
      sctx.fillRect(Math.floor(i * cw), 0, Math.max(1, Math.ceil(cw) - 1), 2);
    }
  }
  sctx.strokeStyle = "#ffffff";
  sctx.lineWidth = 2;
  sctx.strokeRect(Math.floor(v.state.z * cw) + 1, 1, Math.max(2, Math.ceil(cw) - 2), strip.height - 2);
}
