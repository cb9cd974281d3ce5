// Review actions: accepting the model's prediction, toggling verified, and walking the review queue.
import { reviewQueue, setVerified, type ReviewItem, type SliceInfo } from "../api";
import { errorText, toast } from "../dom";
import type { Navigate } from "../router";
import type { ViewerContext } from "./context";
import { changed, editable, maskForEdit, undoFor } from "./editing";
import { confirmDialog } from "./tools-confirm";

export async function acceptPrediction(v: ViewerContext): Promise<void> {
  const z = v.state.z;
  // A labelled or verified slice asks first (tools-review.ts decides); the prediction must still be there after.
  const decision = v.tools.acceptDecision(z);
  if (decision.kind === "refuse") {
    toast(decision.reason);
    return;
  }
  if (decision.kind === "confirm" && !(await confirmDialog(decision.question))) return;
  const p = v.data.preds.get(z);
  if (!p || v.state.z !== z) return;
  if (!editable(v)) return;
  undoFor(v, z).record(maskForEdit(v));
  v.data.masks.set(z, p.mask.slice());
  changed(v, z, "prediction");
  v.render();
  toast("prediction accepted into the label: correct it as needed");
}

export async function toggleVerified(v: ViewerContext): Promise<void> {
  const slice = v.state.z;
  const s = v.info[slice] as SliceInfo;
  await v.saver.whenIdle();
  if (v.saver.version(slice) === 0) {
    toast("paint or accept a label before verifying this slice", "error");
    return;
  }
  try {
    const label = await setVerified(v.vol.id, slice, !s.verified, v.saver.version(slice));
    v.saver.setVersion(slice, label.version);
    s.labelVersion = label.version;
    s.verified = label.verified ?? !s.verified;
    s.status = s.verified ? "verified" : "labelled";
    v.drawStrip();
    if (slice === v.state.z) v.updateSliceUi();
  } catch (err) {
    toast(`could not change verified: ${errorText(err)}`, "error");
  }
}

export function nextInQueue(v: ViewerContext, navigate: Navigate): void {
  while (v.queue.length > 0) {
    const item = v.queue.shift() as ReviewItem;
    if (String(item.volumeId) === String(v.vol.id)) {
      const s = v.info[item.slice];
      if (!s || s.labelVersion > 0) continue;
      v.setSlice(item.slice);
      v.updateSliceUi();
      return;
    }
    navigate(`/volumes/${item.volumeId}?z=${item.slice}`);
    return;
  }
  toast("the review queue is empty");
  v.updateSliceUi();
}

/** Reloads the project's review queue, less the slice shown now. */
export function refreshQueue(v: ViewerContext): void {
  reviewQueue(v.vol.projectId, 100).then((q) => {
    v.queue = q.filter((it) => !(String(it.volumeId) === String(v.vol.id) && it.slice === v.state.z));
    v.updateSliceUi();
  }).catch(() => {});
}
