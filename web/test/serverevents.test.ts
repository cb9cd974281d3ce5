import { test } from "node:test";
import assert from "node:assert/strict";
import { isServerEventType, parseServerEvent, serverEventTypes, type ServerEvent } from "../src/serverevents";

const progress = {
  runId: 3, iteration: 40, epoch: 2, trainLoss: 0.41, learningRate: 0.002, secondsPerIteration: 0.25, eta: -1, elapsed: 10,
};

// One event of each type as the Go server sends it (internal/event).
const samples: ServerEvent[] = [
  { type: "label", volumeId: 9, slice: 12, version: 3, author: "ann", origin: "manual", verified: true, deleted: false },
  {
    type: "volume",
    volume: {
      id: 9, projectId: 4, name: "case 1", originalName: "case1.nii.gz", shape: [64, 64, 20], spacing: [1, 1, 2.5],
      counts: { unlabelled: 20, labelled: 0, predicted: 0, verified: 0 }, createdAt: "2024-05-01T10:00:00Z",
    },
  },
  { type: "volumeDeleted", volumeId: 9 },
  { type: "projectDeleted", projectId: 4 },
  {
    type: "run",
    run: {
      id: 3, projectId: 4, status: "running", createdAt: "2024-05-01T10:00:00Z", startedAt: "2024-05-01T10:00:01Z",
      settings: { preset: "default", fromScratch: true, train: { arch: "unet", epochs: 0, budget_seconds: 120, batch_size: 8, learning_rate: 0.002 } },
    },
  },
  { type: "iteration", ...progress },
  { type: "epoch", ...progress, valLoss: 0.5, valDice: [0.8, 0.6], best: true },
  { type: "predictions", runId: 3, modelId: 2, slices: 20 },
  { type: "activeModel", modelId: 2 },
  { type: "evaluation", modelId: 2, status: "done", method: "k-fold-slices", folds: 3, slices: 10, summary: "Dice 0.81 ± 0.04, 3-fold over 10 slices" },
];

test("every type of the catalogue parses, fields and all", () => {
  assert.deepEqual(samples.map((e) => e.type), [...serverEventTypes]);
  for (const e of samples) {
    assert.deepEqual(parseServerEvent(JSON.stringify(e)), e, e.type);
    assert.ok(isServerEventType(e.type), e.type);
  }
});

test("optional fields may be absent", () => {
  const epoch = parseServerEvent(JSON.stringify({ type: "epoch", ...progress }));
  assert.equal(epoch?.type, "epoch");
  if (epoch?.type === "epoch") {
    assert.equal(epoch.valLoss, undefined);
    assert.equal(epoch.valDice, undefined);
    assert.equal(epoch.best, undefined);
  }
  const predictions = parseServerEvent(JSON.stringify({ type: "predictions", modelId: 2, slices: 5 }));
  assert.deepEqual(predictions, { type: "predictions", modelId: 2, slices: 5 });
});

test("an unknown or missing type is ignored", () => {
  assert.equal(parseServerEvent(JSON.stringify({ type: "somethingNew", volumeId: 9 })), null);
  assert.equal(parseServerEvent(JSON.stringify({ type: "Label", volumeId: 9 })), null);
  assert.equal(parseServerEvent(JSON.stringify({ type: "" })), null);
  assert.equal(parseServerEvent(JSON.stringify({ type: 1 })), null);
  assert.equal(parseServerEvent(JSON.stringify({ type: null })), null);
  assert.equal(parseServerEvent(JSON.stringify({ volumeId: 9 })), null);
  // Not a property of the object itself.
  assert.equal(parseServerEvent(JSON.stringify({ type: "toString" })), null);
  assert.ok(!isServerEventType("constructor"));
});

test("malformed JSON is ignored", () => {
  assert.equal(parseServerEvent(""), null);
  assert.equal(parseServerEvent("{"), null);
  assert.equal(parseServerEvent("{type: 'label'}"), null);
  assert.equal(parseServerEvent('{"type":"label"} trailing'), null);
  assert.equal(parseServerEvent("undefined"), null);
});

test("a JSON value other than an object is ignored", () => {
  for (const raw of ["null", "true", "42", '"label"', "[]", '[{"type":"label"}]']) {
    assert.equal(parseServerEvent(raw), null, raw);
  }
});
