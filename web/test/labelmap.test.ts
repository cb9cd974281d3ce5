import { test } from "node:test";
import assert from "node:assert/strict";
import { labelMapDone, labelMapFileProblem, labelMapForm, replaceQuestion, sliceRanges } from "../src/lib/labelmap";

test("the form carries the file, and slices and replace only when asked for", async () => {
  const file = new Blob([new Uint8Array([1, 2, 3])]);
  const plain = labelMapForm(file, "seg.nii.gz");
  assert.deepEqual([...plain.keys()], ["file"]);
  assert.equal((plain.get("file") as File).name, "seg.nii.gz");
  assert.equal((plain.get("file") as File).size, 3);
  const chosen = labelMapForm(file, "seg.nii.gz", { slices: [3, 1], replace: true });
  assert.equal(chosen.get("slices"), "3,1");
  assert.equal(chosen.get("replace"), "true");
  assert.equal(labelMapForm(file, "seg.nii", { slices: [], replace: false }).has("replace"), false);
  assert.equal(labelMapForm(file, "seg.nii", { slices: [] }).has("slices"), false);
});

test("only NIfTI files are sent", () => {
  assert.equal(labelMapFileProblem("case_001.nii.gz"), null);
  assert.equal(labelMapFileProblem("CASE.NII"), null);
  assert.equal(labelMapFileProblem("seg.png"), "seg.png: a label map is a .nii or .nii.gz file");
  assert.notEqual(labelMapFileProblem("seg.nii.zip"), null);
});

test("slices read as ranges", () => {
  assert.equal(sliceRanges([0, 1, 2, 5, 7, 8]), "0–2, 5, 7–8");
  assert.equal(sliceRanges([4]), "4");
  assert.equal(sliceRanges([9, 3, 3, 4]), "3–4, 9");
  assert.equal(sliceRanges([]), "");
});

test("the outcome says how many slices were labelled and replaced", () => {
  const fresh = Array.from({ length: 35 }, (_, z) => ({ slice: z, version: 1 }));
  assert.equal(labelMapDone(fresh), "35 slices labelled (0–34)");
  assert.equal(labelMapDone([{ slice: 2, version: 3 }, { slice: 0, version: 1 }]),
    "2 slices labelled (0, 2); 1 replaced, their earlier versions kept in the history");
  assert.equal(labelMapDone([{ slice: 7, version: 1 }]), "1 slice labelled (7)");
  assert.equal(labelMapDone([]), "no slice labelled");
});

test("the replace question keeps the server's reason and drops its API advice", () => {
  assert.equal(replaceQuestion("slices 1, 3 already have labels; upload with replace=true to write new versions over them"),
    "Slices 1, 3 already have labels. Replace them with the map's labels? Each gets a new version; the history keeps the old ones.");
  assert.equal(replaceQuestion("slice 2 already has a label"),
    "Slice 2 already has a label. Replace it with the map's labels? It gets a new version; the history keeps the old ones.");
});
