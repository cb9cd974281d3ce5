// window.workbench: the handle the browser tests (e2e/) drive and read the viewer through.
import { voxelToScreen } from "../lib/geometry";
import { countClasses } from "../lib/codec";
import type { ViewerContext } from "./context";
import type { PlaneView } from "./plane";
import type { Layout, PlaneKind } from "./planes";
import type { Tool } from "./state";

export interface WorkbenchHook {
  ready: boolean;
  slice: () => number;
  shape: () => number[];
  setSlice: (z: number) => void;
  setClass: (k: number) => void;
  setTool: (t: Tool) => void;
  setBrushSize: (s: number) => void;
  voxelToClient: (x: number, y: number) => { x: number; y: number };
  classCounts: (z: number) => number[] | null;
  saveState: () => string;
  hasUnsaved: () => boolean;
  labelVersion: (z: number) => number;
  cachedSlices: () => number[];
  conflicts: () => number[];
  whenSaved: () => Promise<void>;
  /** The crosshair voxel [x, y, z]. */
  cross: () => number[];
  /** The client (CSS pixel) position of voxel (x, y, z)'s centre in a plane. */
  planeVoxelToClient: (plane: PlaneKind, x: number, y: number, z: number) => { x: number; y: number };
  /** Whether the whole volume (for the reformats) and all masks have arrived. */
  volumeReady: () => boolean;
  layout: () => Layout;
  setLayout: (l: Layout) => void;
  /** Draws every visible plane now; for timing redraws. */
  renderAll: () => void;
  /** performance.now() (ms since navigation) of the first drawn axial slice and of the whole volume's arrival. */
  marks: () => { firstDrawn: number | null; volumeReady: number | null };
}

declare global {
  interface Window {
    workbench?: WorkbenchHook;
  }
}

export function installHook(v: ViewerContext, planes: Record<PlaneKind, PlaneView>,
  controls: Pick<WorkbenchHook, "setClass" | "setTool" | "setBrushSize" | "setLayout" | "volumeReady">): () => void {
  const { W, H, D, ui, data, saver } = v;
  window.workbench = {
    ready: true,
    slice: () => v.state.z,
    shape: () => [W, H, D],
    setSlice: (z) => v.setSlice(z),
    ...controls,
    voxelToClient: (x, y) => {
      const p = voxelToScreen(v.state.view, W, H, x, y);
      const r = ui.canvas.getBoundingClientRect();
      const k = r.width / ui.canvas.width;
      return { x: r.left + p.x * k, y: r.top + p.y * k };
    },
    classCounts: (slice) => {
      const m = data.masks.get(slice);
      return m ? countClasses(m, v.project.classes.length) : null;
    },
    saveState: () => ui.saveEl.className.replace("save-state ", ""),
    hasUnsaved: () => saver.hasUnsaved,
    labelVersion: (slice) => saver.version(slice),
    cachedSlices: () => [...data.images.keys()].sort((a, b) => a - b),
    conflicts: () => [...v.edits.conflicts.keys()],
    whenSaved: () => saver.whenIdle(),
    cross: () => [v.state.cross.x, v.state.cross.y, v.state.z],
    planeVoxelToClient: (kind, x, y, z) => {
      const plane = planes[kind];
      const p = plane.screenOf({ x, y, z });
      const r = plane.canvas.getBoundingClientRect();
      const k = r.width / Math.max(1, plane.canvas.width);
      return { x: r.left + p.x * k, y: r.top + p.y * k };
    },
    layout: () => v.state.layout,
    renderAll: () => v.render(),
    marks: () => ({ ...v.marks }),
  };
  return () => {
    window.workbench = undefined;
  };
}
