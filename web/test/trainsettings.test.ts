import { test } from "node:test";
import assert from "node:assert/strict";
import type { MemoryEstimate } from "../src/api";
import { estimatedMemory, formatBytes, largestBatch, memoryNote } from "../src/pages/trainsettings";

const MiB = 2 ** 20, GiB = 2 ** 30;
// The shape of the server's answer: 100 MiB fixed, 4 KiB per batch pixel for smallunet, a 2 GiB budget.
const memory: MemoryEstimate = {
  bytes: 200 * MiB, budget: 2 * GiB,
  fixed: { smallunet: 100 * MiB, unet: 3 * GiB }, perCropPixel: { smallunet: 4096, unet: 12000 },
};

test("the estimate follows the server's linear model", () => {
  assert.equal(estimatedMemory(memory, { arch: "smallunet", batch_size: 8, crop_w: 64, crop_h: 32 }), 100 * MiB + 4096 * 8 * 64 * 32);
  assert.equal(estimatedMemory(memory, { arch: "resnet", batch_size: 8, crop_w: 64, crop_h: 32 }), null);
  assert.equal(estimatedMemory(memory, { arch: "smallunet", crop_w: 64, crop_h: 32 }), null);
});

test("the largest batch fits the budget and one more does not", () => {
  const s = { arch: "smallunet", crop_w: 256, crop_h: 256 };
  const most = largestBatch(memory, s)!;
  assert.ok(most >= 1);
  assert.ok(estimatedMemory(memory, { ...s, batch_size: most })! <= memory.budget);
  assert.ok(estimatedMemory(memory, { ...s, batch_size: most + 1 })! > memory.budget);
  assert.equal(largestBatch(memory, { arch: "unet", crop_w: 32, crop_h: 32 }), 0);
});

test("settings over the budget are flagged with what to lower", () => {
  const fits = memoryNote(memory, { arch: "smallunet", batch_size: 8, crop_w: 48, crop_h: 48 });
  assert.equal(fits.over, false);
  assert.match(fits.text, /^needs about 172 MiB of the 2\.0 GiB training memory budget$/);
  const issue = memoryNote(memory, { arch: "smallunet", batch_size: 400, crop_w: 1024, crop_h: 1024 });
  assert.equal(issue.over, true);
  assert.match(issue.text, /1\.6 TiB, over the 2\.0 GiB training memory budget: lower the crop/);
  const batch = memoryNote(memory, { arch: "smallunet", batch_size: 64, crop_w: 256, crop_h: 256 });
  assert.match(batch.text, /lower batch to 7 or less, or the crop/);
  assert.equal(memoryNote(memory, { arch: "unet", batch_size: 1, crop_w: 32, crop_h: 32 }).over, true);
});

test("sizes read as MiB up to a GiB, then with one decimal", () => {
  assert.equal(formatBytes(512 * MiB), "512 MiB");
  assert.equal(formatBytes(1.5 * GiB), "1.5 GiB");
  assert.equal(formatBytes(3 * 1024 * GiB), "3.0 TiB");
});
