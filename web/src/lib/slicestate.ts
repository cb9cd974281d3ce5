import type { ReviewItem, SliceInfo } from "../api";

// labelDeleted tells whether a slice's current label version is a deletion. The server sends `deleted` where
// it knows it; otherwise a slice with a version but no live label (status neither "labelled" nor "verified";
// a deleted slice the model predicted is "predicted") has had its label deleted.
export function labelDeleted(s: Pick<SliceInfo, "status" | "labelVersion" | "deleted">): boolean {
  if (s.deleted !== undefined) return s.deleted;
  return s.labelVersion > 0 && s.status !== "labelled" && s.status !== "verified";
}

/** unlabelledStatus tells the statuses of a slice without a live label, which follow the active model. */
export function unlabelledStatus(status: string): boolean {
  return status === "unlabelled" || status === "predicted" || status === "empty";
}

/** queueNote is what the review queue says beside a slice: its uncertainty, and whether the model found nothing. */
export function queueNote(item: Pick<ReviewItem, "uncertainty" | "empty">): string {
  const u = ` uncertainty ${item.uncertainty.toFixed(3)}`;
  return item.empty ? ` nothing found ·${u}` : u;
}
