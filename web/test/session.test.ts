import { test } from "node:test";
import assert from "node:assert/strict";
import { roleIncludes } from "../src/session";

test("roles include the ones below them, and nothing includes a missing role", () => {
  assert.equal(roleIncludes("admin", "reviewer"), true);
  assert.equal(roleIncludes("admin", "annotator"), true);
  assert.equal(roleIncludes("reviewer", "reviewer"), true);
  assert.equal(roleIncludes("reviewer", "admin"), false);
  assert.equal(roleIncludes("annotator", "reviewer"), false);
  assert.equal(roleIncludes(undefined, "annotator"), false);
});
