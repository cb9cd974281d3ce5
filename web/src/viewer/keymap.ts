// One definition of the viewer's keyboard: a pure key -> named action map (the shape of niivue's
// interaction/KeyboardController.ts), from which both the key handling and the "?" shortcut table come.

export type ActionName =
  | "slice.next" | "slice.prev" | "slice.up5" | "slice.down5" | "slice.first" | "slice.last"
  | "class.pick" | "tool.brush" | "tool.eraser" | "tool.fill" | "brush.smaller" | "brush.larger"
  | "undo" | "redo" | "overlay.toggle" | "prediction.accept" | "verified.toggle" | "queue.next"
  | "view.reset" | "history.toggle" | "help.toggle" | "escape" | "pan.hold" | "model.flip";

export interface Action {
  name: ActionName;
  /** The class for class.pick. */
  arg?: number;
}

/** The parts of a KeyboardEvent the map reads. */
export interface KeyLike {
  key: string;
  ctrlKey?: boolean;
  metaKey?: boolean;
  altKey?: boolean;
  shiftKey?: boolean;
}

interface Binding {
  /** Keys (KeyboardEvent.key values) that trigger the action; letters match either case. */
  keys: string[];
  /** Ctrl (or Cmd) held; shift is then part of the binding too. */
  ctrl?: boolean;
  shift?: boolean;
  action: ActionName;
}

interface Shortcut {
  /** What the help table shows in the key column. */
  label: string;
  description: string;
  bindings: Binding[];
}

const SHORTCUTS: Shortcut[] = [
  { label: "↑ / ↓, ← / →", description: "next / previous slice of the plane under the cursor", bindings: [
    { keys: ["ArrowUp", "ArrowRight"], action: "slice.next" }, { keys: ["ArrowDown", "ArrowLeft"], action: "slice.prev" }] },
  { label: "PageUp / PageDown", description: "5 slices up / down", bindings: [
    { keys: ["PageUp"], action: "slice.up5" }, { keys: ["PageDown"], action: "slice.down5" }] },
  { label: "Home / End", description: "first / last slice", bindings: [
    { keys: ["Home"], action: "slice.first" }, { keys: ["End"], action: "slice.last" }] },
  { label: "1 – 9", description: "pick class", bindings: [
    { keys: ["1", "2", "3", "4", "5", "6", "7", "8", "9"], action: "class.pick" }] },
  { label: "B / E / F", description: "brush / eraser / fill a closed region", bindings: [
    { keys: ["b"], action: "tool.brush" }, { keys: ["e"], action: "tool.eraser" }, { keys: ["f"], action: "tool.fill" }] },
  { label: "[ / ]", description: "smaller / larger brush", bindings: [
    { keys: ["["], action: "brush.smaller" }, { keys: ["]"], action: "brush.larger" }] },
  { label: "Ctrl+Z / Ctrl+Shift+Z (or Ctrl+Y)", description: "undo / redo on this slice", bindings: [
    { keys: ["z"], ctrl: true, action: "undo" }, { keys: ["z"], ctrl: true, shift: true, action: "redo" },
    { keys: ["y"], ctrl: true, action: "redo" }, { keys: ["y"], ctrl: true, shift: true, action: "redo" }] },
  { label: "O", description: "overlay on / off", bindings: [{ keys: ["o"], action: "overlay.toggle" }] },
  { label: "A", description: "accept the model's prediction into the label", bindings: [{ keys: ["a"], action: "prediction.accept" }] },
  { label: "M", description: "show the newest candidate model's predictions / the active model's again", bindings: [{ keys: ["m"], action: "model.flip" }] },
  { label: "V", description: "toggle verified", bindings: [{ keys: ["v"], action: "verified.toggle" }] },
  { label: "N", description: "next slice of the review queue", bindings: [{ keys: ["n"], action: "queue.next" }] },
  { label: "R", description: "reset zoom, pan and window", bindings: [{ keys: ["r"], action: "view.reset" }] },
  { label: "H", description: "history of this slice's label: preview or restore any version", bindings: [{ keys: ["h"], action: "history.toggle" }] },
  { label: "Escape", description: "close panels and give the keyboard back to the viewer", bindings: [{ keys: ["Escape"], action: "escape" }] },
  { label: "wheel", description: "zoom at the cursor", bindings: [] },
  { label: "middle-drag or Space+drag", description: "pan", bindings: [{ keys: [" "], action: "pan.hold" }] },
  { label: "right-drag", description: "window (left/right) and level (up/down)", bindings: [] },
  { label: "?", description: "show / hide this help", bindings: [{ keys: ["?"], action: "help.toggle" }] },
];

/** The help table's rows: [keys, what they do]. */
export function shortcutTable(): Array<[string, string]> {
  return SHORTCUTS.map((s) => [s.label, s.description]);
}

const norm = (k: string) => (k.length === 1 ? k.toLowerCase() : k);

/** The action a key press stands for, or null when the viewer does not handle it. */
export function actionFor(e: KeyLike): Action | null {
  const ctrl = e.ctrlKey === true || e.metaKey === true;
  if (e.altKey && !ctrl) return null;
  const key = norm(e.key);
  for (const s of SHORTCUTS) {
    for (const b of s.bindings) {
      if ((b.ctrl ?? false) !== ctrl || !b.keys.some((k) => norm(k) === key)) continue;
      // Without Ctrl, Shift only changes which character arrives (?, capitals), so it is not compared.
      if (ctrl && (b.shift ?? false) !== (e.shiftKey === true)) continue;
      return b.action === "class.pick" ? { name: b.action, arg: Number(key) } : { name: b.action };
    }
  }
  return null;
}

/** Whether a key press in this element belongs to the element (typing) rather than to the viewer. */
export function typingTarget(el: { tagName: string; type?: string } | null): boolean {
  if (!el) return false;
  if (el.tagName === "TEXTAREA") return true;
  return el.tagName === "INPUT" && el.type !== "range" && el.type !== "checkbox";
}
