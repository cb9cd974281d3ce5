// Uploading a label map onto a volume: the request's form and the words shown for its outcome. Pure, so that
// the unit tests cover it; the project page does the asking and the network.

/** What a label map upload asks for: which slices (all when absent) and whether to replace labelled ones. */
export interface LabelMapOptions {
  slices?: number[];
  replace?: boolean;
}

/** The multipart form POST /api/volumes/{vid}/labelmap takes. */
export function labelMapForm(file: Blob, fileName: string, opts: LabelMapOptions = {}): FormData {
  const form = new FormData();
  if (opts.slices && opts.slices.length > 0) form.append("slices", opts.slices.join(","));
  if (opts.replace) form.append("replace", "true");
  form.append("file", file, fileName);
  return form;
}

/** Why a file cannot be a label map, before it is sent; null when it may be one. */
export function labelMapFileProblem(fileName: string): string | null {
  return /\.nii(\.gz)?$/i.test(fileName) ? null : `${fileName}: a label map is a .nii or .nii.gz file`;
}

/** Slice indices as ranges: [0, 1, 2, 5, 7, 8] is "0–2, 5, 7–8". */
export function sliceRanges(slices: readonly number[]): string {
  const sorted = [...new Set(slices)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && (sorted[j + 1] as number) === (sorted[j] as number) + 1) j++;
    parts.push(i === j ? String(sorted[i]) : `${sorted[i]}–${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(", ");
}

/** The line shown once a label map is stored. */
export function labelMapDone(labels: ReadonlyArray<{ slice: number; version: number }>): string {
  if (labels.length === 0) return "no slice labelled";
  const replaced = labels.filter((l) => l.version > 1).length;
  const n = labels.length;
  return `${n} ${n === 1 ? "slice" : "slices"} labelled (${sliceRanges(labels.map((l) => l.slice))})` +
    (replaced > 0 ? `; ${replaced} replaced, their earlier versions kept in the history` : "");
}

/**
 * The question asked when the server refused a map over labelled slices (409): its reason up to the API's
 * advice ("…; upload with replace=true …"), then what replacing does.
 */
export function replaceQuestion(conflict: string): string {
  const reason = conflict.split(";")[0]?.trim() ?? conflict;
  const one = /^slice \d/.test(reason);
  return `${reason.charAt(0).toUpperCase()}${reason.slice(1)}. Replace ${one ? "it" : "them"} with the map's labels? ` +
    `${one ? "It gets" : "Each gets"} a new version; the history keeps the old ones.`;
}
