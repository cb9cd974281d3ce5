import { test } from "node:test";
import assert from "node:assert/strict";
import { backoffDelay } from "../src/lib/backoff";

test("doubles from the base up to the cap; jitter stays within its fraction", () => {
  assert.deepEqual([0, 1, 2, 3, 10].map((a) => backoffDelay(a, 500, 3000)), [500, 1000, 2000, 3000, 3000]);
  assert.equal(backoffDelay(2, 500, 3000, 0.5, () => 0), 1000);
  assert.equal(backoffDelay(2, 500, 3000, 0.5, () => 1), 2000);
});
