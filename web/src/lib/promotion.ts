// How a finished run's model was judged against the active model (internal/job/compare.go, stored in the
// model's metrics as "promotion"), worded for the models table.

export interface ClassComparison {
  name: string;
  newDice: number;
  activeDice: number;
}

export interface Comparison {
  possible: boolean;
  reason?: string;
  basis?: string;
  slices: number;
  newDice: number;
  activeDice: number;
  classes?: ClassComparison[];
}

export interface AreaLimit {
  class: string;
  labelledSlices: number;
  labelledMaxMm2: number;
  limitMm2: number;
}

export interface AreaFlag {
  volumeId: number;
  slice: number;
  class: string;
  areaMm2: number;
  limitMm2: number;
}

export interface AreaCheck {
  slices: number;
  flagged: number;
  activeSlices: number;
  activeFlagged: number;
  blocking: boolean;
  limits: AreaLimit[];
  flags?: AreaFlag[];
}

export interface Promotion {
  decision: "promoted" | "candidate";
  rule: string;
  againstModelId?: number;
  comparison: Comparison;
  areas: AreaCheck;
}

/** The model's promotion record, or null for a model stored without one (before promotion, or imported). */
export function promotionOf(metrics: unknown): Promotion | null {
  const p = (metrics as { promotion?: Promotion } | null)?.promotion;
  return p && typeof p.decision === "string" && p.comparison && p.areas ? p : null;
}

/** "Dice 0.812 vs 0.790 (active #3) on 4 slices labelled since the active model", or why there was none. */
export function comparisonText(p: Promotion): string {
  const c = p.comparison;
  const against = p.againstModelId ? ` (active #${p.againstModelId})` : "";
  if (!c.possible) return `no comparison: ${c.reason ?? "not possible"}`;
  const slices = `${c.slices} slice${c.slices === 1 ? "" : "s"}`;
  return `Dice ${c.newDice.toFixed(3)} vs ${c.activeDice.toFixed(3)}${against} on ${slices} ${c.basis ?? ""}`.trim();
}

/** Per class: "wm 0.84 vs 0.80". */
export function classComparisonText(c: Comparison): string[] {
  return (c.classes ?? []).map((x) => `${x.name} ${x.newDice.toFixed(2)} vs ${x.activeDice.toFixed(2)}`);
}

/** "2 of 30 predicted slices flagged (active model: 0 of 30)", or "no outlier areas in 30 predicted slices". */
export function areasText(a: AreaCheck): string {
  if (a.slices === 0) return "no predicted slices to check";
  if (a.flagged === 0) return `no outlier areas in ${a.slices} predicted slice${a.slices === 1 ? "" : "s"}`;
  const active = a.activeSlices > 0 ? ` (active model: ${a.activeFlagged} of ${a.activeSlices})` : "";
  return `${a.flagged} of ${a.slices} predicted slices flagged${active}${a.blocking ? ": too many to promote automatically" : ""}`;
}

/** One flagged slice: "volume 2 slice 14: wm 512.0 mm² > 301.5". */
export function flagText(f: AreaFlag): string {
  return `volume ${f.volumeId} slice ${f.slice}: ${f.class} ${f.areaMm2.toFixed(1)} mm² > ${f.limitMm2.toFixed(1)}`;
}
