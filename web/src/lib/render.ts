// Composes grey levels, the label overlay and the prediction outline into RGBA pixels in display order.
// Pixels are written as 32-bit words into a Uint32Array view of an ImageData buffer (little-endian: 0xAABBGGRR).
// Everything per-pixel comes from lookup tables built once per colour/opacity change, so a 320x320 slice composes
// in about a millisecond.

export interface Rgb {
  r: number;
  g: number;
  b: number;
}

export function parseColor(hex: string): Rgb {
  const m = /^#?([0-9a-f]{6})$/i.exec(hex.trim());
  const v = m ? parseInt(m[1] as string, 16) : 0xff00ff;
  return { r: (v >> 16) & 255, g: (v >> 8) & 255, b: v & 255 };
}

function pack(r: number, g: number, b: number): number {
  return (0xff000000 | (b << 16) | (g << 8) | r) >>> 0;
}

/**
 * Lookup tables: blend[c*256 + g] is grey g under class c at the given opacity (c = 0 is plain grey), and
 * solid[c] is class c's colour, used for prediction outlines.
 */
export class Palette {
  readonly blend: Uint32Array;
  readonly solid: Uint32Array;

  constructor(colors: Rgb[], opacity: number) {
    const a = Math.min(1, Math.max(0, opacity));
    const n = colors.length + 1;
    this.blend = new Uint32Array(n * 256);
    this.solid = new Uint32Array(n);
    for (let g = 0; g < 256; g++) this.blend[g] = pack(g, g, g);
    colors.forEach((c, k) => {
      const cls = k + 1;
      this.solid[cls] = pack(c.r, c.g, c.b);
      for (let g = 0; g < 256; g++) {
        const mix = (v: number) => Math.round(g * (1 - a) + v * a);
        this.blend[cls * 256 + g] = pack(mix(c.r), mix(c.g), mix(c.b));
      }
    });
  }
}

/**
 * Fills out (display order, radiological: display index = n-1-voxel index) from grey levels in voxel order, the
 * label mask (filled) and the prediction outline (solid), either of which may be null.
 */
export function compose(gray: Uint8Array, mask: Uint8Array | null, outline: Uint8Array | null, palette: Palette, out: Uint32Array): void {
  const n = gray.length;
  const blend = palette.blend;
  const solid = palette.solid;
  const last = n - 1;
  if (!mask && !outline) {
    for (let i = 0; i < n; i++) out[last - i] = blend[gray[i] as number] as number;
    return;
  }
  for (let i = 0; i < n; i++) {
    const o = outline ? (outline[i] as number) : 0;
    if (o !== 0) {
      out[last - i] = solid[o] as number;
      continue;
    }
    const c = mask ? (mask[i] as number) : 0;
    out[last - i] = blend[(c << 8) | (gray[i] as number)] as number;
  }
}

/** The boundary voxels of each class region of a mask (a voxel whose 4-neighbour differs), others 0. */
export function outlineOf(mask: Uint8Array, w: number, h: number): Uint8Array {
  const out = new Uint8Array(mask.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      const c = mask[i] as number;
      if (c === 0) continue;
      const edge =
        x === 0 || y === 0 || x === w - 1 || y === h - 1 ||
        mask[i - 1] !== c || mask[i + 1] !== c || mask[i - w] !== c || mask[i + w] !== c;
      if (edge) out[i] = c;
    }
  }
  return out;
}
