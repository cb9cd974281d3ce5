// The cursor readout's coordinates: canonical voxel indices, the source file's voxel indices (what FSLeyes or
// ITK-SNAP show for the same voxel) and world coordinates in mm.
import type { Voxel } from "./planes";

export interface Orientation {
  perm: number[];
  flip: boolean[];
}

/** The source file's voxel index of canonical voxel v: canonical axis a is source axis perm[a], reversed where flip[a]. */
export function sourceVoxel(o: Orientation | undefined, canonicalShape: number[], v: Voxel): [number, number, number] {
  const ijk = [v.x, v.y, v.z];
  if (!o || o.perm.length !== 3) return [v.x, v.y, v.z];
  const src: [number, number, number] = [0, 0, 0];
  for (let a = 0; a < 3; a++) {
    const p = o.perm[a] as number;
    const i = ijk[a] as number;
    src[p] = o.flip[a] ? (canonicalShape[a] as number) - 1 - i : i;
  }
  return src;
}

/** World (RAS mm) coordinates of a canonical voxel's centre under the canonical affine; null without one. */
export function worldMm(affine: number[][] | undefined, v: Voxel): [number, number, number] | null {
  if (!affine || affine.length < 3) return null;
  const out: [number, number, number] = [0, 0, 0];
  for (let r = 0; r < 3; r++) {
    const row = affine[r] as number[];
    out[r] = (row[0] as number) * v.x + (row[1] as number) * v.y + (row[2] as number) * v.z + (row[3] as number);
  }
  return out;
}

const mm = (n: number) => (Math.abs(n) < 0.005 ? 0 : n).toFixed(1);

/** The readout line: "voxel x y z · file i j k · R/A/S mm · value · class". */
export function readoutText(v: Voxel, src: [number, number, number], world: [number, number, number] | null,
  value: number | undefined, className: string): string {
  const parts = [`voxel ${v.x} ${v.y} ${v.z}`, `file ${src[0]} ${src[1]} ${src[2]}`];
  if (world) parts.push(`${mm(world[0])} ${mm(world[1])} ${mm(world[2])} mm`);
  parts.push(value === undefined ? "…" : String(+value.toPrecision(5)));
  if (className) parts.push(className);
  return parts.join("  ·  ");
}
