// How a model's evaluation was obtained, in words: a held-out split for large label sets, or, with few labelled
// slices, a k-fold cross-validation whose every slice also trained the model (ml/train/folds.go). Pure, so that
// the unit tests cover it.

const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? "" : "s"}`;

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
  foldTraining?: number; // each fold model's training relative to the final model's (1 by default)
}

/** A k-fold evaluation running after its model's run (the models list's "evaluating"). */
export interface EvaluationProgress {
  modelId: number;
  method: string;
  folds: number;
  slices: number;
  fold: number; // the fold model training now, 1-based; 0 before its first step
  eta: number; // seconds left; -1 unknown
  elapsed?: number;
}

/** E.g. "cross-validating over 10 slices: fold 2 of 3, about 2 min left". */
export function progressText(p: { method: string; folds: number; slices: number; fold?: number; eta?: number }): string {
  const over = p.method === "k-fold-volumes" ? "volumes" : "slices";
  const where = p.fold ? `fold ${p.fold} of ${p.folds}` : `starting ${p.folds} fold models`;
  const left = p.eta !== undefined && p.eta >= 0 ? `, about ${aboutTime(p.eta)} left` : "";
  return `cross-validating over ${over === "slices" ? plural(p.slices, "slice") : "the volumes"}: ${where}${left}`;
}

/** Why a model has no scores, or null when it has (or never could have) them. */
export function notEvaluatedText(m: { classes?: unknown[]; evaluationStopped?: string; trainSlices: number; valSlices: number }): string | null {
  if (m.classes && m.classes.length > 0) return null;
  if (m.evaluationStopped) return `not evaluated: the evaluation ${m.evaluationStopped}; every one of the ${m.trainSlices} labelled slices trained it`;
  if (m.valSlices === 0 && m.trainSlices > 1) return `not evaluated; every one of the ${m.trainSlices} labelled slices trained it`;
  return null;
}

function aboutTime(seconds: number): string {
  if (seconds < 60) return `${Math.max(1, Math.round(seconds / 5) * 5)} s`;
  return `${Math.round(seconds / 60)} min`;
}

/** Whether the scores come from fold models (no validation split, no best iteration to show). */
export function crossValidated(e: Evaluation | undefined): boolean {
  return e !== undefined && e.method !== "holdout";
}


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
  return `every labelled slice trained this model; after it, each ${unit} was scored by a fold model trained without it` +
    (e.foldSeconds ? ` (folds took ${Math.round(e.foldSeconds)} s)` : "") + shorter;
}

/** 1/2 -> "half", 1/3 -> "a third", else a percentage. */
function fraction(x: number): string {
  if (Math.abs(x - 1 / 2) < 0.01) return "half";
  if (Math.abs(x - 1 / 3) < 0.01) return "a third";
  return `${Math.round(x * 100)}%`;
}
