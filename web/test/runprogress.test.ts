import { test } from "node:test";
import assert from "node:assert/strict";
import {
  RunProgress, SortedSeries, formatDuration, formatSpeed, formatValue, later, runSummary, stopRule, type ProgressEvent,
} from "../src/lib/runprogress";

const it = (iteration: number, trainLoss: number, runId = 7): ProgressEvent => ({
  type: "iteration", runId, iteration, epoch: 0, trainLoss, learningRate: 0.002, secondsPerIteration: 0.5, eta: 10, elapsed: iteration / 2,
});
const ep = (iteration: number, valLoss: number, valDice: number[]): ProgressEvent => ({
  type: "epoch", runId: 7, iteration, epoch: 1, trainLoss: 0.9, valLoss, valDice, best: true, learningRate: 0.002, secondsPerIteration: 0.5, eta: 5, elapsed: iteration / 2,
});

test("sorted series insert in order and replace repeated xs", () => {
  const s = new SortedSeries();
  assert.ok(s.put(3, 0.3));
  assert.ok(s.put(1, 0.1));
  assert.ok(s.put(2, 0.2));
  assert.ok(!s.put(2, 0.2));
  assert.ok(s.put(2, 0.25));
  assert.deepEqual(s.xs, [1, 2, 3]);
  assert.deepEqual(s.ys, [0.1, 0.25, 0.3]);
});

test("live events and the stored history merge without duplicates, in iteration order", () => {
  const p = new RunProgress(7);
  // Live events arrive while the history is being fetched; the history overlaps them.
  assert.ok(p.add(it(4, 0.8), true));
  assert.ok(p.add(it(5, 0.7), true));
  for (const e of [it(1, 1.2), it(2, 1.0), it(3, 0.9), it(4, 0.8), ep(4, 0.85, [0.3, 0.1])]) p.add(e);
  assert.ok(!p.add(it(5, 0.7), true), "a repeated event is not new");
  assert.ok(!p.add(it(6, 0.5, 8), true), "another run's event is ignored");
  assert.deepEqual(p.train.xs, [1, 2, 3, 4, 5]);
  assert.deepEqual(p.train.ys, [1.2, 1.0, 0.9, 0.8, 0.7]);
  assert.equal(p.livePoints, 2);
  assert.deepEqual(p.val.xs, [4]);
  assert.deepEqual(p.dice.map((d) => d.ys), [[0.3], [0.1]]);
  assert.equal(p.latest?.iteration, 5);
  assert.equal(p.latestEpoch?.valLoss, 0.85);
  // At the same iteration the epoch event, which carries the validation, is the latest.
  p.add(it(8, 0.6));
  p.add(ep(8, 0.7, [0.5, 0.2]));
  assert.equal(p.latest?.type, "epoch");
  p.add(it(8, 0.6));
  assert.equal(p.latest?.type, "epoch");
});

test("durations, speeds and values read well and say when unknown", () => {
  assert.equal(formatDuration(45.4), "45 s");
  assert.equal(formatDuration(185), "3 m 05 s");
  assert.equal(formatDuration(3720), "1 h 02 m");
  assert.equal(formatDuration(-1), "–");
  assert.equal(formatDuration(NaN), "–");
  assert.equal(formatSpeed(0.25), "4.0 it/s");
  assert.equal(formatSpeed(2), "2.00 s/it");
  assert.equal(formatSpeed(0), "–");
  assert.equal(formatValue(0.12345), "0.123");
  assert.equal(formatValue(null), "–");
});

test("settings read as one line: preset, start, stop rule, batch, rate, crop, loss", () => {
  assert.equal(stopRule({ epochs: 0, budget_seconds: 120 }), "2 m 00 s budget");
  assert.equal(stopRule({ epochs: 1, budget_seconds: 0 }), "1 epoch");
  assert.equal(stopRule({ epochs: 20, budget_seconds: 8 }), "20 epochs or 8 s budget");
  const train = { arch: "smallunet", epochs: 0, budget_seconds: 120, batch_size: 8, learning_rate: 0.002, schedule: "cosine", crop_w: 64, crop_h: 64, placement: "foreground", loss: "dice+ce" };
  assert.equal(runSummary({ preset: "default", fromScratch: false, warmStartModelId: 3, train }),
    "default preset · warm start from model #3 · smallunet · 2 m 00 s budget · batch 8 · lr 0.002 cosine · crop 64×64 foreground · loss dice+ce");
  assert.match(runSummary({ preset: "paper", fromScratch: true, warmStartModelId: 3, train }), /^paper preset · from scratch · /);
  assert.match(runSummary({ preset: "default", fromScratch: false, initModel: { name: "cord_model_4.wbmodel", sha256: "ab" }, train }),
    /^default preset · fine-tuning cord_model_4\.wbmodel · smallunet/);
});

test("a run's state only moves forward, whatever order answers and events arrive in", () => {
  assert.equal(later("queued", "running"), "running");
  assert.equal(later("running", "queued"), "running");
  assert.equal(later("done", "running"), "done");
  assert.equal(later("running", "cancelled"), "cancelled");
  assert.equal(later("queued", "queued"), "queued");
});
