import { test } from "node:test";
import assert from "node:assert/strict";
import { countClasses, decodeMask, decodeSlice, masksEqual, rleDecode, rleEncode } from "../src/lib/codec";

test("decodeSlice reads little-endian float32 and checks the size", () => {
  const buf = new ArrayBuffer(4 * 6);
  const dv = new DataView(buf);
  [0, 1.5, -2, 1e6, 3.25, 7].forEach((v, i) => dv.setFloat32(i * 4, v, true));
  assert.deepEqual([...decodeSlice(buf, 3, 2)], [0, 1.5, -2, 1e6, 3.25, 7]);
  assert.throws(() => decodeSlice(buf, 3, 3), /24 bytes, want 36/);
});

test("decodeMask checks size and class range", () => {
  const buf = Uint8Array.of(0, 1, 2, 0).buffer;
  assert.deepEqual([...decodeMask(buf, 2, 2, 2)], [0, 1, 2, 0]);
  assert.throws(() => decodeMask(buf, 2, 2, 1), /class 2/);
  assert.throws(() => decodeMask(buf, 3, 2, 2), /want 6/);
});

test("countClasses", () => {
  assert.deepEqual(countClasses(Uint8Array.of(0, 1, 1, 2, 0, 0), 3), [3, 2, 1, 0]);
});

test("RLE round-trips masks, including long runs and random content", () => {
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const cases: Uint8Array[] = [new Uint8Array(0), new Uint8Array(320 * 320), Uint8Array.of(5)];
  const big = new Uint8Array(320 * 320);
  big.fill(2, 1000, 70000);
  cases.push(big);
  const noisy = new Uint8Array(5000);
  for (let i = 0; i < noisy.length; i++) noisy[i] = rand() < 0.3 ? Math.floor(rand() * 4) : 0;
  cases.push(noisy);
  for (const m of cases) {
    const enc = rleEncode(m);
    assert.ok(masksEqual(rleDecode(enc, m.length), m));
  }
  assert.ok(rleEncode(big).length < 16, "a mostly empty slice is a few bytes");
});

test("RLE decode rejects corrupt data", () => {
  assert.throws(() => rleDecode(Uint8Array.of(1, 5), 4), /more than 4/);
  assert.throws(() => rleDecode(Uint8Array.of(1, 2), 4), /cover 2/);
  assert.throws(() => rleDecode(Uint8Array.of(1, 0x80), 4), /truncated/);
});
