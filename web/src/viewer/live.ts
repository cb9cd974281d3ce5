// Live updates from the server's event stream: other tabs' labels, a new active model's predictions, and the
// volume or project being deleted elsewhere.
import { getVolume, type Id } from "../api";
import { ProjectEvents, type Connection } from "../events";
import { deletedBy } from "../lib/deletion";
import { labelDeleted, unlabelledStatus } from "../lib/slicestate";
import type { LabelEvent, ServerEvent } from "../serverevents";
import type { ViewerContext } from "./context";
import { historyOpen, showHistory } from "./history";
import { refreshQueue } from "./review";

export type LabelChange = Pick<LabelEvent, "slice" | "version" | "verified" | "deleted"> & { volumeId: Id };

export interface LiveHooks {
  /** Several annotators, this one editing its own read: others' labels are not its base. */
  ownReads: boolean;
  /** The volume or its project is gone. */
  deleted(what: "volume" | "project"): void;
}

/** A slice's new label version, from another tab's event or from the volume reloaded after a reconnect. */
export function onLabel(v: ViewerContext, hooks: LiveHooks, e: LabelChange): void {
  if (String(e.volumeId) !== String(v.vol.id) || hooks.ownReads) return;
  const { saver, data } = v;
  const s = v.info[e.slice];
  if (!s || e.version <= saver.version(e.slice)) return;
  s.labelVersion = e.version;
  s.verified = e.verified;
  // A deleted label leaves the slice to the active model's prediction where it has one.
  s.status = e.deleted ? (s.uncertainty != null ? "predicted" : "unlabelled") : e.verified ? "verified" : "labelled";
  v.drawStrip();
  const shown = e.slice === v.state.z;
  if (shown) v.updateSliceUi();
  if (shown && historyOpen(v)) void showHistory(v);
  // Our unsaved strokes win locally; their save will report the conflict and keep both.
  if (saver.isDirty(e.slice)) return;
  if (e.deleted) {
    data.masks.delete(e.slice);
    saver.setVersion(e.slice, e.version);
    if (shown) v.render();
    return;
  }
  if (data.labelReady(e.slice) || shown) void data.loadLabel(e.slice, true);
}

/** Another model is active (a run finished, or a user picked one): new statuses, uncertainties and overlays. */
function reloadPredictions(v: ViewerContext): void {
  getVolume(v.vol.id).then((fresh) => {
    if (v.disposed()) return;
    for (const s of fresh.slices) {
      const mine = v.info[s.index];
      if (!mine) continue;
      mine.uncertainty = s.uncertainty;
      // Label statuses are this tab's to track (its unsaved strokes); only prediction states follow the model.
      if (unlabelledStatus(mine.status) && unlabelledStatus(s.status)) mine.status = s.status;
    }
    v.data.preds.clear();
    v.reloadMasks?.();
    v.refreshModels?.();
    v.data.ensure(v.state.z);
    void v.data.prefetchVolume(v.state.z);
    v.drawStrip();
    v.updateSliceUi();
    v.render();
  }).catch(() => {});
  refreshQueue(v);
}

/** Subscribes to the project's events; returns the connection to close. */
export function connectLive(v: ViewerContext, hooks: LiveHooks): ProjectEvents {
  const onEvent = (ev: ServerEvent) => {
    const gone = deletedBy(ev, v.vol.projectId, v.vol.id);
    if (gone) {
      hooks.deleted(gone);
      return;
    }
    if (ev.type === "predictions" || ev.type === "activeModel") {
      reloadPredictions(v);
      return;
    }
    if (ev.type === "label") onLabel(v, hooks, ev);
  };
  return new ProjectEvents(v.vol.projectId, onEvent, (c: Connection, retry?: number) => {
    v.ui.connEl.className = `conn ${c}`;
    v.ui.connEl.textContent = c === "live" ? "live" : c === "connecting" ? "connecting…" : `reconnecting${retry ? ` in ${Math.ceil(retry / 1000)} s` : "…"}`;
  }, () => {
    // Missed events while disconnected: reload the slices' versions.
    getVolume(v.vol.id).then((fresh) => {
      for (const s of fresh.slices) {
        const mine = v.info[s.index];
        if (mine && s.labelVersion > v.saver.version(s.index)) {
          onLabel(v, hooks, { volumeId: v.vol.id, slice: s.index, version: s.labelVersion, verified: s.verified, deleted: labelDeleted(s) });
        }
      }
    }).catch(() => {});
  });
}
