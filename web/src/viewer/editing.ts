// Edits of the shown slice's label: the undo stack per slice, the checks before any change, and recording a
// change so that it is drawn, marked on the strip and saved.
import { toast } from "../dom";
import { UndoStack } from "../lib/undo";
import type { ViewerContext } from "./context";

export function undoFor(v: ViewerContext, slice: number): UndoStack {
  let u = v.edits.undos.get(slice);
  if (!u) {
    u = new UndoStack(v.N);
    v.edits.undos.set(slice, u);
  }
  return u;
}

/** Whether the shown slice may be edited now; says why not. */
export function editable(v: ViewerContext): boolean {
  const z = v.state.z;
  if (!v.data.labelReady(z)) {
    toast("the label of this slice is still loading");
    void v.data.loadLabel(z);
    return false;
  }
  if (v.edits.conflicts.has(z)) {
    toast("resolve the conflict on this slice first", "error");
    return false;
  }
  const refused = v.tools.refusal(z);
  if (refused) {
    toast(refused, "error");
    return false;
  }
  return true;
}

/** The shown slice's local mask, created empty on the first edit. */
export function maskForEdit(v: ViewerContext, slice = v.state.z): Uint8Array {
  let m = v.data.masks.get(slice);
  if (!m) {
    m = new Uint8Array(v.N);
    v.data.masks.set(slice, m);
  }
  return m;
}

/** Records that slice's mask changed (with the given origin): schedules the save and marks the strip. */
export function changed(v: ViewerContext, slice: number, origin: "manual" | "prediction" | "interpolated" = "manual"): void {
  v.edits.origins.set(slice, origin);
  v.saver.changed(slice);
  v.drawStrip();
}

export function applyUndo(v: ViewerContext, redo: boolean): void {
  if (!editable(v)) return;
  const z = v.state.z;
  const current = maskForEdit(v);
  const u = undoFor(v, z);
  const restored = redo ? u.redo(current) : u.undo(current);
  if (!restored) {
    toast(redo ? "nothing to redo on this slice" : "nothing to undo on this slice");
    return;
  }
  v.data.masks.set(z, restored);
  changed(v, z);
  v.render();
}
