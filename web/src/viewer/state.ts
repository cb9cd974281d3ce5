// The viewer's mutable state in one typed object, with the pure transitions the key map and the toolbar share.
// Everything here is plain data: the page owns the DOM, SliceData owns the voxels.
import type { View } from "../lib/geometry";
import type { Layout, PlaneKind } from "./planes";
import type { WindowLevel } from "../lib/windowlevel";

export type Tool = "brush" | "eraser" | "fill";

export const MIN_BRUSH = 1;
export const MAX_BRUSH = 60;

export interface ViewerState {
  /** The axial slice shown (and painted). */
  z: number;
  /** Number of axial slices. */
  readonly depth: number;
  readonly classCount: number;
  tool: Tool;
  /** The class painted by the brush and fill, 1-based. */
  cls: number;
  brushSize: number;
  opacity: number;
  overlayOn: boolean;
  readonly autoWindow: WindowLevel;
  wl: WindowLevel;
  view: View;
  viewFitted: boolean;
  /** The pointer over the axial canvas, in canvas pixels; null when it is elsewhere. */
  cursor: { sx: number; sy: number } | null;
  /** The crosshair's x and y; its z is the axial slice z. */
  cross: { x: number; y: number };
  /** The voxel under the pointer in any plane, for the readout; null when the pointer is off the planes. */
  hover: { x: number; y: number; z: number } | null;
  /** The plane keys and wheel act on: the one last under the pointer. */
  activePlane: PlaneKind;
  layout: Layout;
  spaceHeld: boolean;
}

export function createState(shape: number[], classCount: number, autoWindow: WindowLevel, initialZ: number | null, layout: Layout = "1x3"): ViewerState {
  const [w = 1, h = 1, depth = 1] = shape;
  return {
    z: clampSlice(initialZ ?? Math.floor(depth / 2), depth),
    depth,
    classCount,
    tool: "brush",
    cls: 1,
    brushSize: 5,
    opacity: 0.45,
    overlayOn: true,
    autoWindow,
    wl: { ...autoWindow },
    view: { zoom: 1, panX: 0, panY: 0 },
    viewFitted: false,
    cursor: null,
    cross: { x: Math.floor(w / 2), y: Math.floor(h / 2) },
    hover: null,
    activePlane: "axial",
    layout,
    spaceHeld: false,
  };
}

/** The nearest valid slice index to next (rounded, clamped to 0..depth-1). */
export function clampSlice(next: number, depth: number): number {
  return Math.min(depth - 1, Math.max(0, Math.round(next)));
}

export function clampBrush(size: number): number {
  return Math.min(MAX_BRUSH, Math.max(MIN_BRUSH, Math.round(size)));
}

/** The brush size one step smaller (dir -1) or larger (+1): steps of 2 above 10 px, of 1 below. */
export function stepBrush(size: number, dir: 1 | -1): number {
  const step = dir > 0 ? (size >= 10 ? 2 : 1) : (size > 10 ? 2 : 1);
  return clampBrush(size + dir * step);
}

/** Whether k names a class of the project (1-based). */
export function validClass(k: number, classCount: number): boolean {
  return Number.isInteger(k) && k >= 1 && k <= classCount;
}
