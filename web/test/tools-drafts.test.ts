import { test } from "node:test";
import assert from "node:assert/strict";
import type { SliceInfo } from "../src/api";
import {
  acceptAllPlan, copyBody, decodeDrafts, interpolateBody, mergeDraft, replaceQuestion, type Draft,
} from "../src/viewer/tools-drafts";

function slices(labelled: number[], depth = 20, verified: number[] = []): SliceInfo[] {
  return Array.from({ length: depth }, (_, i) => ({
    index: i, status: verified.includes(i) ? "verified" : labelled.includes(i) ? "labelled" : "unlabelled",
    labelVersion: labelled.includes(i) || verified.includes(i) ? 1 : 0, verified: verified.includes(i),
  }));
}

test("interpolateBody: selected labelled slices, or every gap (of a class) without a selection", () => {
  const info = slices([0, 4, 8], 20, [12]);
  assert.deepEqual(interpolateBody([8, 0, 4], null, info), { body: { slices: [0, 4, 8] }, what: "the gaps between slices 0, 4, 8" });
  assert.deepEqual(interpolateBody([], 2, info, true), { body: { class: 2, align: true }, what: "every gap between the 4 labelled slices" });
  assert.match((interpolateBody([0, 5], null, info) as { problem: string }).problem, /slice 5 has no label/);
  assert.match((interpolateBody([4], null, info) as { problem: string }).problem, /two or more/);
  assert.match((interpolateBody([4, 4], null, info) as { problem: string }).problem, /two or more/);
  assert.match((interpolateBody([], null, slices([3])) as { problem: string }).problem, /has 1$/);
  assert.match((interpolateBody([3, 4], null, slices([3, 4])) as { problem: string }).problem, /adjacent/);
});

test("copyBody takes the nearest labelled slice above (higher index) or below", () => {
  const info = slices([2, 9]);
  assert.deepEqual(copyBody(5, "above", info), { body: { copyFrom: 9, into: 5 }, what: "slice 9's label" });
  assert.deepEqual(copyBody(5, "below", info, 1), { body: { copyFrom: 2, into: 5, class: 1 }, what: "slice 2's label" });
  assert.match((copyBody(10, "above", info) as { problem: string }).problem, /no labelled slice above slice 10/);
  assert.match((copyBody(2, "below", info) as { problem: string }).problem, /below slice 2/);
});

test("decodeDrafts checks sizes and classes", () => {
  const mask = btoa(String.fromCharCode(0, 1, 2, 0));
  const d = decodeDrafts({ drafts: [{ slice: 3, mask, existing: null, baseVersion: 0 }], width: 2, height: 2 }, 2, 2, 2);
  assert.deepEqual([...(d[0] as Draft).mask], [0, 1, 2, 0]);
  assert.throws(() => decodeDrafts({ drafts: [], width: 3, height: 2 }, 2, 2, 2), /3x2/);
  assert.throws(() => decodeDrafts({ drafts: [{ slice: 3, mask: btoa("\x00"), existing: null, baseVersion: 0 }], width: 2, height: 2 }, 2, 2, 2), /1 bytes, want 4/);
  assert.throws(() => decodeDrafts({ drafts: [{ slice: 3, mask, existing: null, baseVersion: 0 }], width: 2, height: 2 }, 2, 2, 1), /class 2/);
});

test("mergeDraft: a whole draft replaces; a one-class draft replaces only that class", () => {
  const current = Uint8Array.of(1, 1, 2, 2, 0);
  const draft = Uint8Array.of(0, 2, 2, 0, 2);
  assert.deepEqual([...mergeDraft(current, draft, null)], [0, 2, 2, 0, 2]);
  assert.deepEqual([...mergeDraft(current, draft, 2)], [1, 2, 2, 0, 2]);
  assert.deepEqual([...mergeDraft(null, draft, 2)], [0, 2, 2, 0, 2]);
  assert.deepEqual([...current], [1, 1, 2, 2, 0], "the current mask is not modified");
});

test("accepting asks before replacing a manual label or unsaved strokes; accept all asks once", () => {
  const free: Draft = { slice: 2, mask: new Uint8Array(4), existing: null, baseVersion: 0 };
  const manual: Draft = { slice: 3, mask: new Uint8Array(4), existing: { version: 2, origin: "manual", verified: true }, baseVersion: 2 };
  const none = { labelled: false, verified: false, dirty: false };
  assert.equal(replaceQuestion(free, none), null);
  assert.match(replaceQuestion(manual, none) ?? "", /^Slice 3 has a manual label \(version 2, verified\)\. Replace it/);
  assert.match(replaceQuestion(free, { ...none, dirty: true }) ?? "", /unsaved changes/);
  assert.match(replaceQuestion(free, { ...none, labelled: true }) ?? "", /has a label\./);
  const plan = acceptAllPlan([free, manual], (z) => (z === 3 ? { labelled: true, verified: true, dirty: false } : none));
  assert.deepEqual(plan.free.map((d) => d.slice), [2]);
  assert.deepEqual(plan.replacing.map((d) => d.slice), [3]);
  assert.match(plan.question ?? "", /^1 of the 2 drafted slices already has a label \(3\)\. Replace it too\? "No" accepts only the other 1\./);
  assert.equal(acceptAllPlan([free], () => none).question, null);
});
