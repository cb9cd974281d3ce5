import { test } from "node:test";
import assert from "node:assert/strict";
import {
  classSummary, crossValidated, evaluationDetail, evaluationSummary, notEvaluatedText, progressText, type Evaluation,
} from "../src/lib/evaluation";

const folds: Evaluation = {
  method: "k-fold-slices", folds: 3, slices: 10, diceMean: 0.8134, diceSd: 0.0421, foldSeconds: 29.6,
  classes: [{ class: 1, name: "wm", diceMean: 0.79, diceSd: 0.05 }, { class: 2, name: "gm", diceMean: 0.8368, diceSd: 0.031 }],
};

test("a k-fold evaluation says so, with its spread and what it rests on", () => {
  assert.equal(evaluationSummary(folds), "Dice 0.81 ± 0.04, 3-fold over 10 slices");
  assert.equal(classSummary(folds), "wm 0.79 ± 0.05 · gm 0.84 ± 0.03");
  assert.equal(evaluationDetail(folds),
    "every labelled slice trained this model; after it, each slice was scored by a fold model trained without it (folds took 30 s)");
  assert.equal(evaluationDetail({ ...folds, foldTraining: 1 / 3 }),
    "every labelled slice trained this model; after it, each slice was scored by a fold model trained without it (folds took 30 s)" +
    "; each fold model had a third of this model's training, so the scores are conservative");
  assert.match(evaluationDetail({ ...folds, foldTraining: 0.125 }), /had 13% of this model's training/);
});

test("folds over volumes name the volumes and the slices", () => {
  const e: Evaluation = { ...folds, method: "k-fold-volumes", volumes: 4, slices: 21, foldSeconds: undefined };
  assert.equal(evaluationSummary(e), "Dice 0.81 ± 0.04, 3-fold over 4 volumes (21 slices)");
  assert.match(evaluationDetail(e), /each volume was scored by a fold model trained without it$/);
});

test("a held-out split shows no spread, and one slice is singular", () => {
  const e: Evaluation = { method: "holdout", folds: 1, slices: 1, diceMean: 0.9, diceSd: 0, classes: [{ class: 1, diceMean: 0.9, diceSd: 0 }] };
  assert.equal(evaluationSummary(e), "Dice 0.90 on 1 held-out slice");
  assert.equal(classSummary(e), "class 1 0.90");
  assert.equal(evaluationSummary({ ...e, slices: 6 }), "Dice 0.90 on 6 held-out slices");
  assert.match(evaluationDetail(e), /70\/15\/15/);
  assert.equal(crossValidated(e), false);
  assert.equal(crossValidated(undefined), false);
  assert.equal(crossValidated(folds), true);
});

test("a running evaluation says where it is and how long it has left", () => {
  const p = { modelId: 4, method: "k-fold-slices", folds: 3, slices: 10, fold: 2, eta: 130 };
  assert.equal(progressText(p), "cross-validating over 10 slices: fold 2 of 3, about 2 min left");
  assert.equal(progressText({ ...p, fold: 0, eta: -1 }), "cross-validating over 10 slices: starting 3 fold models");
  assert.equal(progressText({ ...p, method: "k-fold-volumes", eta: 12 }), "cross-validating over the volumes: fold 2 of 3, about 10 s left");
});

test("a model without scores says why", () => {
  assert.equal(notEvaluatedText({ classes: [], evaluationStopped: "stopped: a new training run of the project started", trainSlices: 4, valSlices: 0 }),
    "not evaluated: the evaluation stopped: a new training run of the project started; every one of the 4 labelled slices trained it");
  assert.equal(notEvaluatedText({ classes: [], trainSlices: 4, valSlices: 0 }), "not evaluated; every one of the 4 labelled slices trained it");
  assert.equal(notEvaluatedText({ classes: [], trainSlices: 1, valSlices: 0 }), null);
  assert.equal(notEvaluatedText({ classes: [{}], trainSlices: 4, valSlices: 0 }), null);
});
