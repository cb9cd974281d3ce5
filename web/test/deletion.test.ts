import { test } from "node:test";
import assert from "node:assert/strict";
import { deletedBy, labelledSlices, plural, projectLoss, volumeLoss } from "../src/lib/deletion";

const counts = (labelled: number, verified: number, unlabelled = 10, predicted = 0) => ({ unlabelled, labelled, predicted, verified });

test("labelled slices count verified ones, not predictions", () => {
  assert.equal(labelledSlices(counts(3, 2, 10, 7)), 5);
  assert.equal(labelledSlices(counts(0, 0, 10, 7)), 0);
});

test("plural words", () => {
  assert.equal(plural(1, "volume"), "1 volume");
  assert.equal(plural(0, "volume"), "0 volumes");
  assert.equal(plural(2, "labelled slice"), "2 labelled slices");
});

test("a volume's confirm text names its labelled slices and the file", () => {
  const text = volumeLoss(counts(3, 1));
  assert.match(text, /Its 4 labelled slices \(1 verified\) will be lost/);
  assert.match(text, /uploaded file/);
  assert.match(text, /cannot be undone/);
  assert.match(volumeLoss(counts(1, 0)), /Its 1 labelled slice will be lost/);
  assert.doesNotMatch(volumeLoss(counts(1, 0)), /verified/);
  assert.match(volumeLoss(counts(0, 0)), /^It has no labelled slices\./);
});

test("a project's confirm text sums its volumes' labelled slices", () => {
  const text = projectLoss("Cord", [counts(3, 1), counts(0, 2), counts(0, 0)], 1);
  assert.match(text, /"Cord"/);
  assert.match(text, /3 volumes, 6 labelled slices, 1 trained model,/);
  assert.match(projectLoss("empty", [], 0), /0 volumes, 0 labelled slices, 0 trained models/);
});

test("deletion events concern the page that shows what they deleted", () => {
  assert.equal(deletedBy({ type: "projectDeleted", projectId: 4 }, "4", 9), "project");
  assert.equal(deletedBy({ type: "projectDeleted", projectId: 5 }, 4, 9), null);
  assert.equal(deletedBy({ type: "volumeDeleted", volumeId: 9 }, 4, "9"), "volume");
  assert.equal(deletedBy({ type: "volumeDeleted", volumeId: 8 }, 4, 9), null);
  // The project page shows no single volume: a volume's deletion only refreshes its list.
  assert.equal(deletedBy({ type: "volumeDeleted", volumeId: 9 }, 4), null);
  assert.equal(deletedBy({ type: "label", volumeId: 9, slice: 0, version: 2, author: "ann", origin: "manual", verified: false, deleted: true }, 4, 9), null);
});
