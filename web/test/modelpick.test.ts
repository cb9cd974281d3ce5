import { test } from "node:test";
import assert from "node:assert/strict";
import { flipped, modelChoices } from "../src/viewer/modelpick";

const promotion = (newDice: number, activeDice: number) => ({
  promotion: { decision: "candidate", rule: "", comparison: { possible: true, slices: 4, newDice, activeDice }, areas: { slices: 0, flagged: 0, limits: [] } },
});

test("the picker offers the active model, then the candidates with their comparison", () => {
  const models = [
    { id: 7, status: "candidate" as const, active: false, metrics: promotion(0.712, 0.805) as never },
    { id: 6, status: "previous" as const, active: false, metrics: null },
    { id: 5, status: "candidate" as const, active: false, metrics: null },
    { id: 4, status: "active" as const, active: true, metrics: null },
  ];
  const choices = modelChoices(models);
  assert.deepEqual(choices, [
    { id: null, label: "active #4" },
    { id: 7, label: "candidate #7 (Dice 0.71 vs 0.81)" },
    { id: 5, label: "candidate #5" },
  ]);
  assert.equal(flipped(choices, null), 7, "M shows the newest candidate");
  assert.equal(flipped(choices, 5), null, "and from any candidate back to the active model");
  assert.equal(flipped(modelChoices([models[3]!]), null), null, "without candidates it stays on the active model");
});
