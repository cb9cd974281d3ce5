// The label history panel: every saved version of the shown slice's label, previewed or restored on top.
import { getLabelVersion, labelHistory } from "../api";
import { clear, errorText, h, toast } from "../dom";
import type { ViewerContext } from "./context";
import { changed, editable, maskForEdit, undoFor } from "./editing";

export function historyOpen(v: ViewerContext): boolean {
  return !v.ui.historyEl.hidden;
}

export function toggleHistory(v: ViewerContext): void {
  if (historyOpen(v)) hideHistory(v);
  else void showHistory(v);
}

export async function showHistory(v: ViewerContext): Promise<void> {
  const { ui, saver, edits } = v;
  const slice = v.state.z;
  const el = ui.historyEl;
  el.hidden = false;
  ui.historyBtn.classList.add("on");
  ui.stage.classList.add("with-history");
  clear(el);
  el.append(h("h3", {}, `Slice ${slice}: label history`));
  if (saver.version(slice) === 0) {
    el.append(h("p.muted", {}, "never labelled"));
    return;
  }
  let versions;
  try {
    versions = await labelHistory(v.vol.id, slice);
  } catch (err) {
    el.append(h("p.error", {}, errorText(err)));
    return;
  }
  if (slice !== v.state.z || el.hidden) return;
  const list = h("ol.versions");
  for (const ver of versions) {
    const when = ver.createdAt ? new Date(ver.createdAt).toLocaleString() : "";
    const previewing = edits.historyPreview?.slice === slice && edits.historyPreview.version === ver.version;
    const tags = [ver.origin === "prediction" ? "accepted prediction" : "", ver.verified ? "verified" : "", ver.deleted ? "deleted" : ""].filter(Boolean).join(", ");
    list.append(h("li", { "data-version": ver.version },
      h("div", {}, h("strong", {}, `v${ver.version}`), ` ${ver.author ?? ""}`, tags ? h("span.muted", {}, ` · ${tags}`) : null),
      h("div.muted.small", {}, when),
      ver.deleted ? null : h("div.row", {},
        h("button.small", { onclick: () => void previewVersion(v, slice, ver.version) }, previewing ? "Hide" : "Show"),
        ver.version === saver.version(slice) && !saver.isDirty(slice) ? h("span.muted.small", {}, "current") :
          h("button.small", { onclick: () => void restoreVersion(v, slice, ver.version) }, "Restore")),
    ));
  }
  el.append(list, h("p.muted.small", {}, "Restore saves that version again on top; nothing is removed from the history."));
}

export function hideHistory(v: ViewerContext): void {
  v.ui.historyEl.hidden = true;
  v.ui.historyBtn.classList.remove("on");
  v.ui.stage.classList.remove("with-history");
  if (v.edits.historyPreview) {
    v.edits.historyPreview = null;
    v.render();
  }
}

async function previewVersion(v: ViewerContext, slice: number, version: number): Promise<void> {
  const p = v.edits.historyPreview;
  if (p?.slice === slice && p.version === version) {
    v.edits.historyPreview = null;
  } else {
    try {
      v.edits.historyPreview = { slice, version, mask: await getLabelVersion(v.vol.id, slice, version, v.W, v.H, v.project.classes.length) };
    } catch (err) {
      toast(`could not load version ${version}: ${errorText(err)}`, "error");
      return;
    }
  }
  v.render();
  void showHistory(v);
}

async function restoreVersion(v: ViewerContext, slice: number, version: number): Promise<void> {
  if (slice !== v.state.z || !editable(v)) return;
  let mask: Uint8Array;
  try {
    mask = await getLabelVersion(v.vol.id, slice, version, v.W, v.H, v.project.classes.length);
  } catch (err) {
    toast(`could not load version ${version}: ${errorText(err)}`, "error");
    return;
  }
  undoFor(v, slice).record(maskForEdit(v, slice));
  v.data.masks.set(slice, mask);
  v.edits.restoredFrom.set(slice, version);
  v.edits.historyPreview = null;
  changed(v, slice);
  v.render();
  toast(`version ${version} restored: saving it as the newest version`);
  await v.saver.whenIdle();
  if (historyOpen(v) && v.state.z === slice) void showHistory(v);
}
