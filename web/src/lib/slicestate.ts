import type { SliceInfo } from "../api";

// labelDeleted tells whether a slice's current label version is a deletion. The server sends `deleted` where
// it knows it; otherwise a slice with a version but no live label (status neither "labelled" nor "verified";
// a deleted slice the model predicted is "predicted") has had its label deleted.
export function labelDeleted(s: Pick<SliceInfo, "status" | "labelVersion" | "deleted">): boolean {
  if (s.deleted !== undefined) return s.deleted;
  return s.labelVersion > 0 && s.status !== "labelled" && s.status !== "verified";
}
