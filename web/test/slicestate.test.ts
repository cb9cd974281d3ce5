import { test } from "node:test";
import assert from "node:assert/strict";
import { labelDeleted } from "../src/lib/slicestate";

test("a version without a live label is a deletion, whether or not the model predicted the slice", () => {
  assert.equal(labelDeleted({ status: "unlabelled", labelVersion: 3 }), true);
  assert.equal(labelDeleted({ status: "predicted", labelVersion: 2 }), true);
  assert.equal(labelDeleted({ status: "labelled", labelVersion: 2 }), false);
  assert.equal(labelDeleted({ status: "verified", labelVersion: 4 }), false);
});

test("never labelled slices are not deletions", () => {
  assert.equal(labelDeleted({ status: "unlabelled", labelVersion: 0 }), false);
  assert.equal(labelDeleted({ status: "predicted", labelVersion: 0 }), false);
});

test("the server's deleted flag wins where it is sent", () => {
  assert.equal(labelDeleted({ status: "predicted", labelVersion: 2, deleted: false }), false);
  assert.equal(labelDeleted({ status: "labelled", labelVersion: 2, deleted: true }), true);
});
