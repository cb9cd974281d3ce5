// The whole canonical volume in the browser, for the sagittal and coronal reformats: uint16 voxels with an
// offset and scale (GET /api/volumes/{vid}/data), and every slice's label and prediction (GET .../masks).
import type { WindowLevel } from "../lib/windowlevel";

/** Splits a length-prefixed payload into its JSON header and the byte offset where the voxels start. */
export function parseFramed<T>(buf: ArrayBuffer): { meta: T; start: number } {
  if (buf.byteLength < 4) throw new Error(`payload of ${buf.byteLength} bytes has no header`);
  const n = new DataView(buf).getUint32(0, true);
  if (4 + n > buf.byteLength) throw new Error(`payload header claims ${n} bytes of ${buf.byteLength}`);
  const meta = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 4, n))) as T;
  return { meta, start: 4 + n };
}

interface DataMeta {
  width: number;
  height: number;
  depth: number;
  dtype: string;
  scale: number;
  offset: number;
  exact: boolean;
}

export class VolumeImage {
  private lutKey = "";
  private lut = new Uint8Array(65536);

  constructor(
    readonly w: number,
    readonly h: number,
    readonly d: number,
    /** x fastest, then y, then z. */
    readonly raw: Uint16Array,
    readonly offset: number,
    readonly scale: number,
    readonly exact: boolean,
  ) {
    if (raw.length !== w * h * d) throw new Error(`volume of ${raw.length} voxels, shape ${w}x${h}x${d} holds ${w * h * d}`);
  }

  /** Parses GET /api/volumes/{vid}/data, checking it against the shape the volume detail gave. */
  static parse(buf: ArrayBuffer, shape: number[]): VolumeImage {
    const { meta, start } = parseFramed<DataMeta>(buf);
    if (meta.dtype !== "uint16") throw new Error(`volume data type ${meta.dtype}, want uint16`);
    if (meta.width !== shape[0] || meta.height !== shape[1] || meta.depth !== shape[2]) {
      throw new Error(`volume data ${meta.width}x${meta.height}x${meta.depth} differs from the volume's ${shape.join("x")}`);
    }
    const count = meta.width * meta.height * meta.depth;
    if (start + 2 * count > buf.byteLength) throw new Error(`volume data holds ${buf.byteLength - start} bytes, want ${2 * count}`);
    // The server aligns the voxels to 8 bytes: a view, not a copy.
    const raw = start % 2 === 0 ? new Uint16Array(buf, start, count) : new Uint16Array(buf.slice(start, start + 2 * count));
    return new VolumeImage(meta.width, meta.height, meta.depth, raw, meta.offset, meta.scale, meta.exact);
  }

  value(x: number, y: number, z: number): number {
    return this.offset + this.scale * (this.raw[x + this.w * (y + this.h * z)] as number);
  }

  /** Axial slice z as float32 intensities, as GET .../slices/{z} sends them (exactly so when exact). */
  sliceFloat(z: number): Float32Array {
    const n = this.w * this.h;
    const out = new Float32Array(n);
    const base = z * n;
    for (let i = 0; i < n; i++) out[i] = this.offset + this.scale * (this.raw[base + i] as number);
    return out;
  }

  /** Grey level of every raw value under the window (one table read per voxel), rebuilt when it changes. */
  grayLut(wl: WindowLevel): Uint8Array {
    const key = `${wl.center}/${wl.width}`;
    if (key !== this.lutKey) {
      // The same arithmetic as applyWindow on the axial slice, so that the planes agree grey for grey.
      const width = Math.max(wl.width, 1e-12);
      const lo = wl.center - width / 2;
      const k = 255 / width;
      const one = new Float32Array(1);
      for (let r = 0; r < 65536; r++) {
        one[0] = this.offset + this.scale * r;
        const g = ((one[0] as number) - lo) * k;
        this.lut[r] = g > 0 ? (g < 255 ? g + 0.5 : 255) : 0;
      }
      this.lutKey = key;
    }
    return this.lut;
  }
}

export interface MaskEntry {
  slice: number;
  version?: number;
  verified?: boolean;
  uncertainty?: number;
}

interface MasksMeta {
  width: number;
  height: number;
  depth: number;
  modelId?: number;
  labels: MaskEntry[];
  predictions: MaskEntry[];
}

export interface VolumeMasks {
  labels: Array<MaskEntry & { mask: Uint8Array }>;
  predictions: Array<MaskEntry & { mask: Uint8Array }>;
}

/** Parses GET /api/volumes/{vid}/masks; every mask is checked against the class count. */
export function parseMasks(buf: ArrayBuffer, shape: number[], classCount: number): VolumeMasks {
  const { meta, start } = parseFramed<MasksMeta>(buf);
  if (meta.width !== shape[0] || meta.height !== shape[1] || meta.depth !== shape[2]) {
    throw new Error(`masks ${meta.width}x${meta.height}x${meta.depth} differ from the volume's ${shape.join("x")}`);
  }
  const n = meta.width * meta.height;
  const total = (meta.labels.length + meta.predictions.length) * n;
  if (start + total !== buf.byteLength) throw new Error(`masks payload holds ${buf.byteLength - start} bytes, want ${total}`);
  let at = start;
  const take = (e: MaskEntry) => {
    if (!Number.isInteger(e.slice) || e.slice < 0 || e.slice >= meta.depth) throw new Error(`mask of slice ${e.slice} outside the volume`);
    const mask = new Uint8Array(buf, at, n);
    at += n;
    for (let i = 0; i < n; i++) if ((mask[i] as number) > classCount) throw new Error(`slice ${e.slice}: class ${mask[i]} above ${classCount}`);
    return { ...e, mask };
  };
  return { labels: meta.labels.map(take), predictions: meta.predictions.map(take) };
}
