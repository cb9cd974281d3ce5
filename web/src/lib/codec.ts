// Binary payloads of the API and the compact form of mask snapshots kept for undo.

/** Decodes a slice body: little-endian float32, w*h values. */
export function decodeSlice(buf: ArrayBuffer, w: number, h: number): Float32Array {
  if (buf.byteLength !== w * h * 4) throw new Error(`slice body has ${buf.byteLength} bytes, want ${w * h * 4}`);
  const out = new Float32Array(w * h);
  const dv = new DataView(buf);
  for (let i = 0; i < out.length; i++) out[i] = dv.getFloat32(i * 4, true);
  return out;
}

/** Decodes a label body (uint8 class indices) and checks its size and class range. */
export function decodeMask(buf: ArrayBuffer, w: number, h: number, classCount: number): Uint8Array {
  if (buf.byteLength !== w * h) throw new Error(`mask body has ${buf.byteLength} bytes, want ${w * h}`);
  const mask = new Uint8Array(buf.slice(0));
  for (let i = 0; i < mask.length; i++) {
    if ((mask[i] as number) > classCount) throw new Error(`mask voxel ${i} has class ${mask[i]}, project has ${classCount}`);
  }
  return mask;
}

/** Voxel count per class index 0..classCount. */
export function countClasses(mask: Uint8Array, classCount: number): number[] {
  const counts = new Array<number>(classCount + 1).fill(0);
  for (let i = 0; i < mask.length; i++) {
    const c = mask[i] as number;
    if (c <= classCount) counts[c] = (counts[c] as number) + 1;
  }
  return counts;
}

export function masksEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Run-length encoding: (value, run length as unsigned LEB128) pairs. Masks are mostly background, so an undo
 * history of hundreds of steps of a 320x320 slice costs kilobytes rather than tens of megabytes.
 */
export function rleEncode(mask: Uint8Array): Uint8Array {
  const out: number[] = [];
  let i = 0;
  while (i < mask.length) {
    const v = mask[i] as number;
    let j = i + 1;
    while (j < mask.length && mask[j] === v) j++;
    out.push(v);
    let run = j - i;
    while (run >= 0x80) {
      out.push((run & 0x7f) | 0x80);
      run >>>= 7;
    }
    out.push(run);
    i = j;
  }
  return Uint8Array.from(out);
}

export function rleDecode(data: Uint8Array, n: number): Uint8Array {
  const out = new Uint8Array(n);
  let pos = 0;
  let k = 0;
  while (k < data.length) {
    const v = data[k++] as number;
    let run = 0;
    let shift = 0;
    for (;;) {
      if (k >= data.length) throw new Error("truncated run length");
      const b = data[k++] as number;
      run += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if ((b & 0x80) === 0) break;
    }
    if (pos + run > n) throw new Error(`runs cover more than ${n} voxels`);
    out.fill(v, pos, pos + run);
    pos += run;
  }
  if (pos !== n) throw new Error(`runs cover ${pos} voxels, want ${n}`);
  return out;
}
