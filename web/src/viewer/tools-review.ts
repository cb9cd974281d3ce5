// Review that shows what changed: whether the prediction is drawn (and how), when painting is refused, when
// Accept must ask first, and where the view zooms when a review slice opens. Pure decisions over typed inputs,
// so the unit tests cover them; the viewer's modules do the drawing and the asking.
import type { SliceStatus } from "../api";
import type { View } from "../lib/geometry";
import { growBox, maskBox, type Box } from "../lib/windowlevel";

export type PredictionStyle = "outline" | "filled";

/** The reviewer's display settings, remembered in localStorage. */
export interface ReviewSettings {
  /** Opacity of the prediction overlay, 0..1, independent of the labels' opacity. */
  predOpacity: number;
  predStyle: PredictionStyle;
  /** Draw the prediction on a slice that already has a label (hidden by default: the label is what counts). */
  predOnLabelled: boolean;
  /** Zoom to the structure (the label's, else the prediction's) when a slice the model predicted opens. */
  autoZoom: boolean;
}

export const DEFAULT_REVIEW: ReviewSettings = { predOpacity: 0.9, predStyle: "outline", predOnLabelled: false, autoZoom: true };
export const REVIEW_KEY = "workbench.review";

/** The stored settings, each field checked; anything missing or malformed takes its default. */
export function parseReviewSettings(raw: string | null): ReviewSettings {
  let v: Record<string, unknown> = {};
  try {
    const parsed: unknown = raw ? JSON.parse(raw) : {};
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) v = parsed as Record<string, unknown>;
  } catch {
    // A damaged entry is as good as none.
  }
  const o = v.predOpacity;
  return {
    predOpacity: typeof o === "number" && o >= 0 && o <= 1 ? o : DEFAULT_REVIEW.predOpacity,
    predStyle: v.predStyle === "filled" || v.predStyle === "outline" ? v.predStyle : DEFAULT_REVIEW.predStyle,
    predOnLabelled: typeof v.predOnLabelled === "boolean" ? v.predOnLabelled : DEFAULT_REVIEW.predOnLabelled,
    autoZoom: typeof v.autoZoom === "boolean" ? v.autoZoom : DEFAULT_REVIEW.autoZoom,
  };
}

/** What the viewer knows about the shown slice's label. */
export interface SliceLabelState {
  status: SliceStatus;
  verified: boolean;
  /** The live label's version (0: none). */
  labelVersion: number;
  /** The slice has strokes or an accepted prediction not yet saved. */
  dirty: boolean;
  /** The local mask has at least one labelled voxel. */
  localLabel: boolean;
}

/** Whether the slice counts as labelled for review: saved (labelled or verified), or changed here. */
export function hasLabel(s: SliceLabelState): boolean {
  return s.verified || s.status === "labelled" || s.status === "verified" || s.dirty || s.localLabel;
}

/** Whether the prediction is drawn: overlays on, and either the slice has no label or the reviewer asked for it. */
export function predictionShown(overlayOn: boolean, s: SliceLabelState, settings: ReviewSettings): boolean {
  return overlayOn && (settings.predOnLabelled || !hasLabel(s));
}

/** An old version of a slice's label shown instead of the current one. */
export interface Preview {
  slice: number;
  version: number;
}

/** Why painting the slice z is refused now (a one-line reason), null when it may be painted. */
export function paintRefusal(z: number, preview: Preview | null, conflictPreview: boolean): string | null {
  if (preview && preview.slice === z) {
    return `previewing version ${preview.version}: painting is off (Hide the preview, or Restore this version to edit it)`;
  }
  if (conflictPreview) return "showing the other version of a conflict: painting is off (Show mine to paint)";
  return null;
}

export type AcceptDecision =
  | { kind: "accept" }
  | { kind: "confirm"; question: string }
  | { kind: "refuse"; reason: string };

/**
 * What pressing Accept (A) does on slice z: accept at once where nothing would be lost, ask first where a label
 * (verified, saved, or unsaved strokes) would be replaced, refuse without a prediction or while previewing.
 */
export function acceptDecision(z: number, hasPrediction: boolean, s: SliceLabelState, preview: Preview | null): AcceptDecision {
  if (!hasPrediction) return { kind: "refuse", reason: "no prediction for this slice" };
  if (preview && preview.slice === z) return { kind: "refuse", reason: `previewing version ${preview.version}: hide the preview before accepting` };
  const kept = "the history keeps the current version";
  if (s.verified || s.status === "verified") {
    return { kind: "confirm", question: `Slice ${z} is verified${s.dirty ? " and has unsaved changes" : ""}. Replace its label with the model's prediction? It will no longer be verified; ${kept}.` };
  }
  if (s.dirty) return { kind: "confirm", question: `Slice ${z} has unsaved changes. Replace them with the model's prediction? Ctrl+Z brings them back.` };
  if (s.labelVersion > 0 && s.status === "labelled" || s.localLabel) {
    return { kind: "confirm", question: `Slice ${z} already has a label${s.labelVersion > 0 ? ` (version ${s.labelVersion})` : ""}. Replace it with the model's prediction? ${kept[0]?.toUpperCase()}${kept.slice(1)}.` };
  }
  return { kind: "accept" };
}

/** The box the review zooms to: the label's where the slice has one, else the prediction's; null for neither. */
export function structureBox(label: Uint8Array | null, prediction: Uint8Array | null, w: number, h: number): Box | null {
  return (label ? maskBox(label, w, h) : null) ?? (prediction ? maskBox(prediction, w, h) : null);
}

/**
 * The view that shows box (voxels of a w x h slice, radiological display) centred in a cw x ch canvas with a
 * margin of its own size (at least 12 voxels) on every side, so the structure fills about a third of the view
 * and its surroundings stay in sight; never zoomed out beyond fitting the whole slice nor in beyond maxZoom
 * canvas pixels per voxel. A 55-voxel cord on a 320-voxel slice gets about twice the fitted zoom.
 */
export function zoomToBox(box: Box, w: number, h: number, cw: number, ch: number, maxZoom = 24): View {
  const bw = box.x1 - box.x0 + 1;
  const bh = box.y1 - box.y0 + 1;
  const g = growBox(box, Math.max(12, Math.max(bw, bh)), Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY);
  const fit = Math.min(cw / w, ch / h) * 0.95;
  const zoom = Math.min(maxZoom, Math.max(fit, Math.min(cw / (g.x1 - g.x0 + 1), ch / (g.y1 - g.y0 + 1))));
  // Display column of voxel x is w-1-x, row of y is h-1-y; centre the box's centre.
  const col = w - 1 - (box.x0 + box.x1) / 2 + 0.5;
  const row = h - 1 - (box.y0 + box.y1) / 2 + 0.5;
  return { zoom, panX: cw / 2 - col * zoom, panY: ch / 2 - row * zoom };
}

/**
 * Auto-zoom follows the structure from slice to slice until the user zooms or pans by hand; "Reset view" (R)
 * hands the view back to it.
 */
export class AutoZoom {
  private manual = false;

  /** The user zoomed or panned. */
  userMoved(): void {
    this.manual = true;
  }

  reset(): void {
    this.manual = false;
  }

  get following(): boolean {
    return !this.manual;
  }

  /** The view for a slice that opens with this structure box, or null to keep the current view. */
  viewFor(settings: ReviewSettings, box: Box | null, w: number, h: number, cw: number, ch: number): View | null {
    if (!settings.autoZoom || this.manual || !box) return null;
    return zoomToBox(box, w, h, cw, ch);
  }
}
