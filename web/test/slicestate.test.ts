import { test } from "node:test";
import assert from "node:assert/strict";
import { labelDeleted, queueNote, unlabelledStatus } from "../src/lib/slicestate";

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

test("slices without a live label follow the model: unlabelled, predicted, or predicted empty", () => {
  for (const s of ["unlabelled", "predicted", "empty"]) assert.equal(unlabelledStatus(s), true, s);
  for (const s of ["labelled", "verified"]) assert.equal(unlabelledStatus(s), false, s);
});

test("the queue says where the model found nothing", () => {
  assert.equal(queueNote({ uncertainty: 0.51234 }), " uncertainty 0.512");
  assert.equal(queueNote({ uncertainty: 0.2, empty: false }), " uncertainty 0.200");
  assert.equal(queueNote({ uncertainty: 0.9, empty: true }), " nothing found · uncertainty 0.900");
});
