import { test } from "node:test";
import assert from "node:assert/strict";
import { areasText, classComparisonText, comparisonText, flagText, promotionOf, type Promotion } from "../src/lib/promotion";

const areas = { slices: 30, flagged: 0, activeSlices: 30, activeFlagged: 0, blocking: false, limits: [] };

const candidate: Promotion = {
  decision: "candidate", rule: "kept as a candidate: Dice 0.113 against the active model's 0.207 on 2 slices labelled since the active model",
  againstModelId: 3,
  comparison: {
    possible: true, basis: "labelled since the active model", slices: 2, newDice: 0.1134, activeDice: 0.2071,
    classes: [{ name: "wm", newDice: 0.2, activeDice: 0.3 }, { name: "gm", newDice: 0.0268, activeDice: 0.1142 }],
  },
  areas: { ...areas, flagged: 12, activeFlagged: 1, blocking: true,
    flags: [{ volumeId: 2, slice: 14, class: "wm", areaMm2: 512, limitMm2: 301.54 }] },
};

test("the promotion record is read from a model's metrics, and only a whole one", () => {
  assert.equal(promotionOf({ iterations: 3, promotion: candidate })?.decision, "candidate");
  assert.equal(promotionOf({ iterations: 3 }), null);
  assert.equal(promotionOf(null), null);
  assert.equal(promotionOf({ promotion: { decision: "promoted" } }), null);
});

test("the comparison reads as both models' Dice on the fair slices, or says why there is none", () => {
  assert.equal(comparisonText(candidate), "Dice 0.113 vs 0.207 (active #3) on 2 slices labelled since the active model");
  assert.deepEqual(classComparisonText(candidate.comparison), ["wm 0.20 vs 0.30", "gm 0.03 vs 0.11"]);
  const none: Promotion = { ...candidate, againstModelId: undefined, comparison: { possible: false, reason: "no active model", slices: 0, newDice: 0, activeDice: 0 } };
  assert.equal(comparisonText(none), "no comparison: no active model");
  assert.deepEqual(classComparisonText(none.comparison), []);
  const one = { ...candidate, comparison: { ...candidate.comparison, slices: 1 } };
  assert.match(comparisonText(one), / on 1 slice labelled/);
});

test("the area check counts flagged slices beside the active model's and says when they block", () => {
  assert.equal(areasText(candidate.areas), "12 of 30 predicted slices flagged (active model: 1 of 30): too many to promote automatically");
  assert.equal(areasText(areas), "no outlier areas in 30 predicted slices");
  assert.equal(areasText({ ...areas, slices: 0 }), "no predicted slices to check");
  assert.equal(areasText({ ...areas, flagged: 1, activeSlices: 0 }), "1 of 30 predicted slices flagged");
  assert.equal(flagText(candidate.areas.flags![0]!), "volume 2 slice 14: wm 512.0 mm² > 301.5");
});
