// Screen <-> voxel mapping for axial slices in radiological convention.
// The canonical grid has axis 0 running left->right and axis 1 posterior->anterior. Radiological display puts the
// patient's right on the screen's left and anterior up, so display column c = W-1-x and display row r = H-1-y:
// the display image is the voxel array rotated by 180 degrees (display index = W*H-1 - voxel index).

/** Where the slice image sits on the canvas: canvas pixels per voxel and the canvas position of the image's top-left. */
export interface View {
  zoom: number;
  panX: number;
  panY: number;
}

export interface Point {
  x: number;
  y: number;
}

/** The view that fits a w x h slice centred in a canvas of cw x ch pixels, with a small margin. */
export function fitView(w: number, h: number, cw: number, ch: number, margin = 0.95): View {
  const zoom = Math.max(1e-3, Math.min(cw / w, ch / h) * margin);
  return { zoom, panX: (cw - w * zoom) / 2, panY: (ch - h * zoom) / 2 };
}

/** The voxel (integer, possibly outside the grid) under canvas point (sx, sy). */
export function screenToVoxel(view: View, w: number, h: number, sx: number, sy: number): Point {
  const col = Math.floor((sx - view.panX) / view.zoom);
  const row = Math.floor((sy - view.panY) / view.zoom);
  return { x: w - 1 - col, y: h - 1 - row };
}

/** The canvas position of the centre of voxel (x, y). */
export function voxelToScreen(view: View, w: number, h: number, x: number, y: number): Point {
  return { x: view.panX + (w - 1 - x + 0.5) * view.zoom, y: view.panY + (h - 1 - y + 0.5) * view.zoom };
}

export function inGrid(p: Point, w: number, h: number): boolean {
  return p.x >= 0 && p.y >= 0 && p.x < w && p.y < h;
}

/** Zooms by factor while keeping the canvas point (sx, sy) over the same spot of the image. */
export function zoomAt(view: View, factor: number, sx: number, sy: number, minZoom = 0.05, maxZoom = 64): View {
  const zoom = Math.min(maxZoom, Math.max(minZoom, view.zoom * factor));
  const k = zoom / view.zoom;
  return { zoom, panX: sx - (sx - view.panX) * k, panY: sy - (sy - view.panY) * k };
}

export function panBy(view: View, dx: number, dy: number): View {
  return { zoom: view.zoom, panX: view.panX + dx, panY: view.panY + dy };
}

/** Index into the display image (row-major, radiological) of voxel index i of a slice of n voxels. */
export function displayIndex(i: number, n: number): number {
  return n - 1 - i;
}
