// How a model's evaluation was obtained, in words: a held-out split for large label sets, or, with few labelled
// slices, a k-fold cross-validation whose every slice also trained the model (ml/train/folds.go). Pure, so that
// the unit tests cover it.

/** One class's Dice across the folds (diceSd 0 for a held-out split). */
export interface ClassEvaluation {
  class: number;
  name?: string;
  diceMean: number;
  diceSd: number;
}

/** The model metrics' "evaluation" field (ml/train.Evaluation). Dice is the mean over the classes. */
export interface Evaluation {
  method: string; // "holdout", "k-fold-slices" or "k-fold-volumes"
  folds: number;
  slices: number;
  volumes?: number;
  diceMean: number;
  diceSd: number;
  classes: ClassEvaluation[];
  foldSeconds?: number;
  foldTraining?: number; // each fold model's training relative to the final model's (a third by default)
}

/** Whether the scores come from fold models (no validation split, no best iteration to show). */
export function crossValidated(e: Evaluation | undefined): boolean {
  return e !== undefined && e.method !== "holdout";
}

const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? "" : "s"}`;

const dice = (mean: number, sd: number, folds: number) =>
  folds > 1 ? `${mean.toFixed(2)} ± ${sd.toFixed(2)}` : mean.toFixed(2);

/** The headline, e.g. "Dice 0.81 ± 0.04, 3-fold over 10 slices" or "Dice 0.84 on 6 held-out slices". */
export function evaluationSummary(e: Evaluation): string {
  const d = `Dice ${dice(e.diceMean, e.diceSd, e.folds)}`;
  switch (e.method) {
    case "k-fold-slices":
      return `${d}, ${e.folds}-fold over ${plural(e.slices, "slice")}`;
    case "k-fold-volumes":
      return `${d}, ${e.folds}-fold over ${plural(e.volumes ?? e.folds, "volume")} (${plural(e.slices, "slice")})`;
  }
  return `${d} on ${plural(e.slices, "held-out slice")}`;
}

/** Per class, e.g. "wm 0.80 ± 0.05 · gm 0.85 ± 0.03". */
export function classSummary(e: Evaluation): string {
  return e.classes.map((c) => `${c.name ?? `class ${c.class}`} ${dice(c.diceMean, c.diceSd, e.folds)}`).join(" · ");
}

/** What the scores rest on, for the line under the headline. */
export function evaluationDetail(e: Evaluation): string {
  if (e.method === "holdout") return "the slices were held out of training (70/15/15 split)";
  const unit = e.method === "k-fold-volumes" ? "volume" : "slice";
  const shorter = e.foldTraining && e.foldTraining < 1
    ? `; each fold model had ${fraction(e.foldTraining)} of this model's training, so the scores are conservative`
    : "";
  return `every labelled slice trained this model; each ${unit} was scored by a fold model trained without it` +
    (e.foldSeconds ? ` (folds took ${Math.round(e.foldSeconds)} s)` : "") + shorter;
}

/** 1/2 -> "half", 1/3 -> "a third", else a percentage. */
function fraction(x: number): string {
  if (Math.abs(x - 1 / 2) < 0.01) return "half";
  if (Math.abs(x - 1 / 3) < 0.01) return "a third";
  return `${Math.round(x * 100)}%`;
}
