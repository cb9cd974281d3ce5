import { test } from "node:test";
import assert from "node:assert/strict";
import { UndoStack } from "../src/lib/undo";

test("undo and redo walk back and forth through many steps", () => {
  const n = 50;
  const u = new UndoStack(n);
  let mask: Uint8Array = new Uint8Array(n);
  const states: Uint8Array[] = [mask.slice()];
  for (let step = 0; step < 40; step++) {
    u.record(mask);
    mask = mask.slice();
    mask[step] = (step % 3) + 1;
    states.push(mask.slice());
  }
  for (let step = 39; step >= 0; step--) {
    const prev = u.undo(mask);
    assert.ok(prev);
    mask = prev;
    assert.deepEqual(mask, states[step]);
  }
  assert.equal(u.undo(mask), null);
  for (let step = 1; step <= 40; step++) {
    const next = u.redo(mask);
    assert.ok(next);
    mask = next;
    assert.deepEqual(mask, states[step]);
  }
  assert.equal(u.redo(mask), null);
});

test("a new edit after undo forgets the redo branch", () => {
  const u = new UndoStack(2);
  u.record(Uint8Array.of(0, 0));
  const back = u.undo(Uint8Array.of(1, 0));
  assert.deepEqual(back, Uint8Array.of(0, 0));
  assert.ok(u.canRedo);
  u.record(Uint8Array.of(0, 0));
  assert.ok(!u.canRedo);
  assert.equal(u.depth, 1);
});

test("the history is bounded, dropping the oldest steps", () => {
  const u = new UndoStack(1, 3);
  for (let i = 0; i < 5; i++) u.record(Uint8Array.of(i));
  assert.equal(u.depth, 3);
  assert.deepEqual(u.undo(Uint8Array.of(9)), Uint8Array.of(4));
  assert.deepEqual(u.undo(Uint8Array.of(4)), Uint8Array.of(3));
  assert.deepEqual(u.undo(Uint8Array.of(3)), Uint8Array.of(2));
  assert.equal(u.undo(Uint8Array.of(2)), null);
});
