// Geometry of the three planes, pure: which canonical voxel each display pixel of a plane shows, in
// radiological convention as the axial view (DESIGN.md decision 6). The canonical grid runs x left->right,
// y posterior->anterior, z inferior->superior.
//   axial    (z fixed): column = W-1-x (patient's right on the left), row = H-1-y (anterior up)
//   coronal  (y fixed): column = W-1-x (right on the left),          row = D-1-z (superior up)
//   sagittal (x fixed): column = H-1-y (anterior on the left),       row = D-1-z (superior up)

export type PlaneKind = "axial" | "coronal" | "sagittal";
export const PLANES: PlaneKind[] = ["axial", "sagittal", "coronal"];

export interface Voxel {
  x: number;
  y: number;
  z: number;
}

export interface Dims {
  w: number;
  h: number;
  d: number;
}

export interface PlaneSize {
  cols: number;
  rows: number;
}

export function planeSize(kind: PlaneKind, g: Dims): PlaneSize {
  switch (kind) {
    case "axial": return { cols: g.w, rows: g.h };
    case "coronal": return { cols: g.w, rows: g.d };
    case "sagittal": return { cols: g.h, rows: g.d };
  }
}

/** How tall a row is on screen relative to a column's width: voxel spacing of the row axis over the column's. */
export function planeAspect(kind: PlaneKind, spacing: number[]): number {
  const [sx = 1, sy = 1, sz = 1] = spacing.map((s) => (s > 0 && Number.isFinite(s) ? s : 1));
  switch (kind) {
    // The axial view keeps square pixels, as it always has (in-plane voxels are square in practice).
    case "axial": return 1;
    case "coronal": return sz / sx;
    case "sagittal": return sz / sy;
  }
}

/** The display column and row of a voxel in a plane (the voxel's own coordinate along the plane's normal is ignored). */
export function toPlane(kind: PlaneKind, g: Dims, v: Voxel): { col: number; row: number } {
  switch (kind) {
    case "axial": return { col: g.w - 1 - v.x, row: g.h - 1 - v.y };
    case "coronal": return { col: g.w - 1 - v.x, row: g.d - 1 - v.z };
    case "sagittal": return { col: g.h - 1 - v.y, row: g.d - 1 - v.z };
  }
}

/** The voxel at display (col, row) of a plane through the crosshair point at (its normal coordinate is kept). */
export function fromPlane(kind: PlaneKind, g: Dims, col: number, row: number, at: Voxel): Voxel {
  switch (kind) {
    case "axial": return { x: g.w - 1 - col, y: g.h - 1 - row, z: at.z };
    case "coronal": return { x: g.w - 1 - col, y: at.y, z: g.d - 1 - row };
    case "sagittal": return { x: at.x, y: g.h - 1 - col, z: g.d - 1 - row };
  }
}

export function inVolume(v: Voxel, g: Dims): boolean {
  return v.x >= 0 && v.y >= 0 && v.z >= 0 && v.x < g.w && v.y < g.h && v.z < g.d;
}

/** The patient directions at the plane's left, right, top and bottom edges. */
export function planeLetters(kind: PlaneKind): { left: string; right: string; top: string; bottom: string } {
  switch (kind) {
    case "axial": return { left: "R", right: "L", top: "A", bottom: "P" };
    case "coronal": return { left: "R", right: "L", top: "S", bottom: "I" };
    case "sagittal": return { left: "A", right: "P", top: "S", bottom: "I" };
  }
}

/** The canonical axis a plane's own slice index runs along: its normal. */
export function normalAxis(kind: PlaneKind): "x" | "y" | "z" {
  return kind === "axial" ? "z" : kind === "coronal" ? "y" : "x";
}

/** The crosshair moved one plane step along the plane's normal, clamped into the volume. */
export function stepAlongNormal(kind: PlaneKind, g: Dims, at: Voxel, delta: number | "first" | "last"): Voxel {
  const axis = normalAxis(kind);
  const size = axis === "x" ? g.w : axis === "y" ? g.h : g.d;
  const cur = at[axis];
  const next = delta === "first" ? 0 : delta === "last" ? size - 1 : cur + delta;
  return { ...at, [axis]: Math.min(size - 1, Math.max(0, Math.round(next))) };
}

export type Layout = "1x3" | "2x2" | "axial";
export const LAYOUTS: Layout[] = ["1x3", "2x2", "axial"];

export function isLayout(s: unknown): s is Layout {
  return typeof s === "string" && (LAYOUTS as string[]).includes(s);
}

/** The localStorage key of a user's layout: each signed-in user (or the local user) keeps their own. */
export function layoutKey(user: string | null | undefined): string {
  return `workbench.viewer.layout.${user && user.length > 0 ? user : "local"}`;
}
