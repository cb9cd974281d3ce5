// Losses as the training panel shows them: lower is better and 0 is perfect, on an axis that a single early
// spike does not flatten. Pure, so that the unit tests cover it.
//
// The engine (ml/loss.go) reports DiceWeight * soft Dice term + CEWeight * cross-entropy, where the soft Dice
// term is -(2·Σpg - s)/(Σp² + Σg² + s), in [-1, 0] (about -Dice), and every preset weighs Dice by 1: a perfect
// model scores -1 with a Dice loss, 0 with cross-entropy alone. Adding the Dice weight back shows 1 - soft
// Dice (+ cross-entropy), which is 0 for a perfect model and never negative.

/** The losses whose objective has a soft Dice term of weight 1 (ml/train/settings.go Loss* names). */
const DICE_LOSSES: ReadonlySet<string> = new Set(["dice", "dice-perclass", "dice+ce"]);

/** What to add to a reported loss of the named objective so that 0 is perfect: 1 with a Dice term, else 0. */
export function lossOffset(loss: string | undefined): number {
  return loss !== undefined && DICE_LOSSES.has(loss) ? 1 : 0;
}

/** Names what the shown loss is, for the chart's caption. */
export function lossMeaning(loss: string | undefined): string {
  switch (loss) {
    case "dice":
      return "1 − soft Dice over all classes";
    case "dice-perclass":
      return "1 − mean soft Dice per class";
    case "dice+ce":
      return "1 − mean soft Dice per class + cross-entropy";
    case "ce":
      return "cross-entropy";
  }
  return "loss";
}

/** The values shifted by offset (see lossOffset). */
export function shifted(ys: ArrayLike<number>, offset: number): number[] {
  return Array.from(ys, (v) => v + offset);
}

/** The q-quantile (0..1) of the finite values, interpolated linearly as numpy.percentile does; NaN when none. */
export function quantile(values: Iterable<number>, q: number): number {
  const v = [...values].filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const pos = Math.min(1, Math.max(0, q)) * (v.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(v.length - 1, lo + 1);
  return (v[lo] as number) + ((v[hi] as number) - (v[lo] as number)) * (pos - lo);
}

/**
 * The top of the loss axis when a few values would flatten the rest: the 95th percentile of all the series'
 * values with 25% headroom, when some value lies above that; undefined (show everything) otherwise, or with
 * fewer than 20 values, where there is no "rest" to protect.
 */
export function clipTop(series: ReadonlyArray<ArrayLike<number>>, q = 0.95, headroom = 1.25): number | undefined {
  const all: number[] = [];
  for (const ys of series) for (let i = 0; i < ys.length; i++) all.push(ys[i] as number);
  const finite = all.filter(Number.isFinite);
  if (finite.length < 20) return undefined;
  const top = quantile(finite, q) * headroom;
  if (!(top > 0)) return undefined;
  return finite.some((v) => v > top) ? top : undefined;
}
