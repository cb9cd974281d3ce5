// Interpolation drafts in the viewer: the request for the interpolate API (selected slices, or every gap of a
// class, or a copy from the slice above/below), decoding its answer, and what accepting one draft or all of them
// does: never replacing a label without asking. Pure, so the unit tests cover it; the viewer does the network
// and the asking.
import type { SliceInfo } from "../api";

export interface InterpolateBody {
  slices?: number[];
  class?: number;
  align?: boolean;
  copyFrom?: number;
  into?: number;
}

export type Built = { body: InterpolateBody; what: string } | { problem: string };

/** Whether a slice has a live label (saved, not deleted). */
export function liveLabel(s: Pick<SliceInfo, "status" | "verified">): boolean {
  return s.verified || s.status === "labelled" || s.status === "verified";
}

/**
 * The body interpolating between the selected labelled slices (two or more), or, with no selection and a class,
 * every gap of that class (all labelled slices bound the gaps).
 */
export function interpolateBody(selected: readonly number[], cls: number | null, info: readonly SliceInfo[], align = false): Built {
  const labelled = info.filter(liveLabel).map((s) => s.index);
  const base: InterpolateBody = {};
  if (cls !== null) base.class = cls;
  if (align) base.align = true;
  if (selected.length === 0) {
    if (labelled.length < 2) return { problem: `interpolation needs two labelled slices; this volume has ${labelled.length}` };
    return { body: base, what: `every gap between the ${labelled.length} labelled slices` };
  }
  const slices = [...new Set(selected)].sort((a, b) => a - b);
  const unlabelled = slices.filter((z) => !info[z] || !liveLabel(info[z] as SliceInfo));
  if (unlabelled.length > 0) return { problem: `slice ${unlabelled.join(", ")} ${unlabelled.length === 1 ? "has" : "have"} no label to interpolate from` };
  if (slices.length < 2) return { problem: "select two or more labelled slices to interpolate between" };
  if (slices.every((z, i) => i === 0 || z === (slices[i - 1] as number) + 1)) return { problem: "the selected slices are adjacent: there is no gap between them" };
  return { body: { ...base, slices }, what: `the gaps between slices ${slices.join(", ")}` };
}

/**
 * The body copying the label of the nearest labelled slice above (superior: higher index, the canonical third
 * axis runs inferior -> superior) or below z into z.
 */
export function copyBody(z: number, direction: "above" | "below", info: readonly SliceInfo[], cls: number | null = null): Built {
  const step = direction === "above" ? 1 : -1;
  for (let k = z + step; k >= 0 && k < info.length; k += step) {
    if (liveLabel(info[k] as SliceInfo)) {
      const body: InterpolateBody = { copyFrom: k, into: z };
      if (cls !== null) body.class = cls;
      return { body, what: `slice ${k}'s label` };
    }
  }
  return { problem: `no labelled slice ${direction} slice ${z}` };
}

export interface DraftExisting {
  version: number;
  origin: string;
  verified: boolean;
}

export interface Draft {
  slice: number;
  mask: Uint8Array;
  existing: DraftExisting | null;
  baseVersion: number;
}

interface DraftJSON {
  slice: number;
  mask: string;
  existing: DraftExisting | null;
  baseVersion: number;
}

/** Decodes the API's answer, checking each draft's size and classes against the volume. */
export function decodeDrafts(res: { drafts: DraftJSON[]; width: number; height: number }, w: number, h: number, classCount: number): Draft[] {
  if (res.width !== w || res.height !== h) throw new Error(`drafts are ${res.width}x${res.height}, the slice ${w}x${h}`);
  return res.drafts.map((d) => {
    const bin = atob(d.mask);
    if (bin.length !== w * h) throw new Error(`draft for slice ${d.slice} has ${bin.length} bytes, want ${w * h}`);
    const mask = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) {
      const c = bin.charCodeAt(i);
      if (c > classCount) throw new Error(`draft for slice ${d.slice} holds class ${c}; the project has ${classCount}`);
      mask[i] = c;
    }
    return { slice: d.slice, mask, existing: d.existing, baseVersion: d.baseVersion };
  });
}

/**
 * The mask accepting draft gives slice: the draft as it is, or with cls (a one-class draft) merged into the
 * slice's current mask: its class-cls voxels cleared, then the draft's set, its other classes kept.
 */
export function mergeDraft(current: Uint8Array | null, draft: Uint8Array, cls: number | null): Uint8Array {
  if (cls === null || !current) return draft.slice();
  const out = current.slice();
  for (let i = 0; i < out.length; i++) {
    const d = draft[i] as number;
    if (d !== 0) out[i] = d;
    else if (out[i] === cls) out[i] = 0;
  }
  return out;
}

/** What the viewer knows now about a draft's slice (it may have changed since the drafts were made). */
export interface LocalSlice {
  /** Live label (saved) or strokes here. */
  labelled: boolean;
  verified: boolean;
  dirty: boolean;
}

/** Why accepting a draft into slice needs a yes first, or null: a label (made here or when drafted) is replaced. */
export function replaceQuestion(d: Draft, local: LocalSlice): string | null {
  if (!d.existing && !local.labelled && !local.dirty) return null;
  const what = local.dirty ? "unsaved changes" : d.existing
    ? `a ${d.existing.origin} label (version ${d.existing.version}${d.existing.verified || local.verified ? ", verified" : ""})`
    : "a label";
  return `Slice ${d.slice} has ${what}. Replace it with the interpolated draft? The history keeps the current version.`;
}

/** Accept all: the drafts stored at once, and those that replace a label, asked about once together. */
export function acceptAllPlan(drafts: readonly Draft[], local: (slice: number) => LocalSlice): { free: Draft[]; replacing: Draft[]; question: string | null } {
  const free: Draft[] = [];
  const replacing: Draft[] = [];
  for (const d of drafts) (replaceQuestion(d, local(d.slice)) ? replacing : free).push(d);
  const n = replacing.length;
  const question = n === 0 ? null
    : `${n} of the ${drafts.length} drafted slices already ${n === 1 ? "has a label" : "have labels"} (${replacing.map((d) => d.slice).join(", ")}). ` +
      `Replace ${n === 1 ? "it" : "them"} too? "No" accepts only the other ${free.length}.`;
  return { free, replacing, question };
}
