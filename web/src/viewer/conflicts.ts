// Save conflicts: another client saved a slice while this tab had unsaved strokes on it. The banner shows both
// versions and lets the user keep theirs or mine; nothing is overwritten until they choose.
import { getLabel } from "../api";
import { clear, errorText, h, toast } from "../dom";
import type { Conflict, ViewerContext } from "./context";
import { undoFor } from "./editing";

export async function openConflict(v: ViewerContext, slice: number, currentVersion: number): Promise<void> {
  const c: Conflict = { theirs: null, version: currentVersion, preview: false };
  v.edits.conflicts.set(slice, c);
  renderConflict(v);
  v.drawStrip();
  try {
    c.theirs = await getLabel(v.vol.id, slice, v.W, v.H, v.project.classes.length);
    if (c.theirs) c.version = c.theirs.version;
  } catch (err) {
    toast(`could not fetch the other version: ${errorText(err)}`, "error");
  }
  renderConflict(v);
}

export function renderConflict(v: ViewerContext): void {
  const el = v.ui.conflictEl;
  const conflicts = v.edits.conflicts;
  const z = v.state.z;
  clear(el);
  const first = conflicts.has(z) ? z : [...conflicts.keys()][0];
  if (first === undefined) {
    el.hidden = true;
    return;
  }
  const c = conflicts.get(first) as Conflict;
  el.hidden = false;
  const who = c.theirs?.author ? ` by ${c.theirs.author}` : "";
  if (first !== z) {
    el.append(h("span", {}, `Conflict on slice ${first}. `), h("button", { onclick: () => v.setSlice(first) }, "Go to slice"));
    return;
  }
  el.append(
    h("strong", {}, "Conflict: "),
    h("span", {}, `version ${c.version} of slice ${first} was saved${who} while you were editing. Your strokes are kept as a draft; nothing was overwritten. `),
    h("button#show-theirs", { disabled: !c.theirs, onclick: () => { c.preview = !c.preview; renderConflict(v); v.render(); } },
      c.preview ? "Show mine" : "Show theirs"),
    h("button#keep-mine.primary", { onclick: () => keepMine(v, first) }, "Keep mine (save on top)"),
    h("button#take-theirs", { disabled: !c.theirs, onclick: () => takeTheirs(v, first) }, "Take theirs"),
  );
  if (c.preview) el.append(h("span.muted", {}, " (showing theirs)"));
}

function keepMine(v: ViewerContext, slice: number): void {
  const c = v.edits.conflicts.get(slice);
  if (!c) return;
  v.edits.conflicts.delete(slice);
  v.saver.keepMine(slice, c.version);
  renderConflict(v);
  v.render();
  v.drawStrip();
}

function takeTheirs(v: ViewerContext, slice: number): void {
  const c = v.edits.conflicts.get(slice);
  if (!c) return;
  const masks = v.data.masks;
  const mine = masks.get(slice);
  // Mine stays reachable with Ctrl+Z.
  if (mine) undoFor(v, slice).record(mine);
  if (c.theirs?.mask) masks.set(slice, c.theirs.mask.slice());
  else masks.delete(slice);
  v.edits.conflicts.delete(slice);
  v.saver.takeTheirs(slice, c.version);
  renderConflict(v);
  v.render();
  v.drawStrip();
}
