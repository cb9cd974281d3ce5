import { test } from "node:test";
import assert from "node:assert/strict";
import { actionFor, shortcutTable, typingTarget } from "../src/viewer/keymap";
import { keydownHandler, runAction, type ActionHandlers } from "../src/viewer/keyboard";

test("plain keys map to their named actions, letters in either case", () => {
  assert.deepEqual(actionFor({ key: "ArrowUp" }), { name: "slice.next" });
  assert.deepEqual(actionFor({ key: "ArrowLeft" }), { name: "slice.prev" });
  assert.deepEqual(actionFor({ key: "PageDown" }), { name: "slice.down5" });
  assert.deepEqual(actionFor({ key: "End" }), { name: "slice.last" });
  assert.deepEqual(actionFor({ key: "b" }), { name: "tool.brush" });
  assert.deepEqual(actionFor({ key: "E", shiftKey: true }), { name: "tool.eraser" });
  assert.deepEqual(actionFor({ key: "?", shiftKey: true }), { name: "help.toggle" });
  assert.deepEqual(actionFor({ key: "7" }), { name: "class.pick", arg: 7 });
  assert.deepEqual(actionFor({ key: "Escape" }), { name: "escape" });
  assert.equal(actionFor({ key: "0" }), null);
  assert.equal(actionFor({ key: "q" }), null);
});

test("Ctrl combinations: undo, redo both ways, and nothing else", () => {
  assert.deepEqual(actionFor({ key: "z", ctrlKey: true }), { name: "undo" });
  assert.deepEqual(actionFor({ key: "Z", ctrlKey: true, shiftKey: true }), { name: "redo" });
  assert.deepEqual(actionFor({ key: "y", metaKey: true }), { name: "redo" });
  // Ctrl+B, Ctrl+1 belong to the browser, not to the viewer's plain keys.
  assert.equal(actionFor({ key: "b", ctrlKey: true }), null);
  assert.equal(actionFor({ key: "1", ctrlKey: true }), null);
  assert.equal(actionFor({ key: "a", altKey: true }), null);
});

test("the help table comes from the same definition as the keys", () => {
  const rows = shortcutTable();
  assert.ok(rows.length >= 12);
  const text = rows.map(([k, d]) => `${k} ${d}`).join("\n");
  for (const needle of ["PageUp", "Ctrl+Z", "history", "wheel", "right-drag", "Escape"]) assert.ok(text.includes(needle), needle);
});

test("text fields keep their keys; sliders and checkboxes do not", () => {
  assert.equal(typingTarget({ tagName: "INPUT", type: "number" }), true);
  assert.equal(typingTarget({ tagName: "TEXTAREA" }), true);
  assert.equal(typingTarget({ tagName: "INPUT", type: "range" }), false);
  assert.equal(typingTarget({ tagName: "INPUT", type: "checkbox" }), false);
  assert.equal(typingTarget({ tagName: "CANVAS" }), false);
  assert.equal(typingTarget(null), false);
});

test("in a text field only Escape reaches the viewer, to give the keyboard back", () => {
  const calls: string[] = [];
  const on = { escape: () => calls.push("escape"), slice: (d: unknown) => calls.push(`slice ${d}`) } as unknown as ActionHandlers;
  const handle = keydownHandler(on);
  const field = { tagName: "INPUT", type: "number" };
  const canvas = { tagName: "CANVAS" };
  let prevented = 0;
  const key = (k: string, target: unknown) => ({ key: k, target, preventDefault: () => prevented++ }) as unknown as KeyboardEvent;
  handle(key("ArrowUp", field));
  handle(key("Escape", field));
  handle(key("ArrowUp", canvas));
  assert.deepEqual(calls, ["escape", "slice 1"]);
  assert.equal(prevented, 2);
});

test("runAction turns the bracket keys into brush steps and slice keys into moves", () => {
  const calls: string[] = [];
  let size = 10;
  const on: ActionHandlers = {
    slice: (d) => calls.push(`slice ${d}`),
    pickClass: (k) => calls.push(`class ${k}`),
    tool: (t) => calls.push(`tool ${t}`),
    brushSize: (s) => { size = s; calls.push(`size ${s}`); },
    brushSizeNow: () => size,
    undo: (r) => calls.push(r ? "redo" : "undo"),
    toggleOverlay: () => calls.push("overlay"),
    accept: () => calls.push("accept"),
    toggleVerified: () => calls.push("verified"),
    nextInQueue: () => calls.push("queue"),
    resetView: () => calls.push("reset"),
    toggleHistory: () => calls.push("history"),
    toggleHelp: () => calls.push("help"),
    escape: () => calls.push("escape"),
    holdPan: () => calls.push("pan"),
    flipModel: () => calls.push("model"),
  };
  for (const key of ["]", "]", "[", "PageUp", "Home", "3", "M"]) runAction(actionFor({ key })!, on);
  runAction(actionFor({ key: "z", ctrlKey: true, shiftKey: true })!, on);
  assert.deepEqual(calls, ["size 12", "size 14", "size 12", "slice 5", "slice first", "class 3", "model", "redo"]);
});
