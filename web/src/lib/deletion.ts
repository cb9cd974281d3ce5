// What a deletion loses, in words for its confirm dialog, and which deletion events concern an open page.
import type { Id, SliceCounts } from "../api";
import type { ServerEvent } from "../serverevents";

/** "1 volume", "3 volumes". */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** Slices with a label someone drew or accepted (verified ones included): what a deletion really loses. */
export function labelledSlices(c: SliceCounts): number {
  return c.labelled + c.verified;
}

/** The confirm text of a volume's deletion (its title names the volume). */
export function volumeLoss(counts: SliceCounts): string {
  const labelled = labelledSlices(counts);
  const labels = labelled === 0
    ? "It has no labelled slices."
    : `Its ${plural(labelled, "labelled slice")}${counts.verified > 0 ? ` (${counts.verified} verified)` : ""} will be lost, with every earlier version.`;
  return `${labels} The uploaded file and the model's predictions on it go too. This cannot be undone.`;
}

/** The confirm text of a project's deletion, from its volumes' counts and its number of models. */
export function projectLoss(name: string, volumes: SliceCounts[], models: number): string {
  const labelled = volumes.reduce((sum, c) => sum + labelledSlices(c), 0);
  const parts = [plural(volumes.length, "volume"), plural(labelled, "labelled slice"), plural(models, "trained model")];
  return `Project "${name}" and everything in it will be lost: ${parts[0]}, ${parts[1]}, ${parts[2]}, and its training runs and measurements. This cannot be undone.`;
}

/** What an event deleted of a page showing projectId (and volumeId, in the viewer): nothing, the volume, or the whole project. */
export function deletedBy(ev: ServerEvent, projectId: Id, volumeId?: Id): "volume" | "project" | null {
  if (ev.type === "projectDeleted" && String(ev.projectId) === String(projectId)) return "project";
  if (ev.type === "volumeDeleted" && volumeId !== undefined && String(ev.volumeId) === String(volumeId)) return "volume";
  return null;
}
