// A training run's progress as the app shows it: the loss and Dice curves merged from the stored history and the
// live websocket events (which overlap after a reload), and the words for its settings, speed and ETA.

/**
 * The fields of a run's iteration and epoch events (internal/event ProgressEvent in Go), as published over the
 * websocket (serverevents.ts IterationEvent and EpochEvent) and as stored in the run's history.
 */
export interface ProgressFields {
  runId: number;
  iteration: number;
  epoch: number;
  /** The step's loss (iteration events) or the mean since the previous validation (epoch events). */
  trainLoss: number;
  /** Epoch events: the validation loss; absent otherwise. */
  valLoss?: number;
  /** Epoch events: the validation Dice of classes 1..K; absent otherwise. */
  valDice?: number[];
  /** Whether this is the best model so far; absent when not. */
  best?: boolean;
  learningRate: number;
  secondsPerIteration: number;
  /** Seconds left; -1 unknown. */
  eta: number;
  elapsed: number;
}

/** An iteration or epoch event of a run (server/API.md ProgressEvent). */
export interface ProgressEvent extends ProgressFields {
  type: "iteration" | "epoch";
}

/** A series sorted by x without repeated xs. */
export class SortedSeries {
  readonly xs: number[] = [];
  readonly ys: number[] = [];

  /** Adds or replaces the point at x; false when an equal point was there already. */
  put(x: number, y: number): boolean {
    const n = this.xs.length;
    if (n === 0 || x > (this.xs[n - 1] as number)) {
      this.xs.push(x);
      this.ys.push(y);
      return true;
    }
    let lo = 0, hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.xs[mid] as number) < x) lo = mid + 1;
      else hi = mid;
    }
    if (this.xs[lo] === x) {
      if (Object.is(this.ys[lo], y)) return false;
      this.ys[lo] = y;
      return true;
    }
    this.xs.splice(lo, 0, x);
    this.ys.splice(lo, 0, y);
    return true;
  }

  get length(): number {
    return this.xs.length;
  }
}

/** One run's curves by iteration: training loss of each step, validation loss and per-class Dice of each validation. */
export class RunProgress {
  readonly train = new SortedSeries();
  readonly val = new SortedSeries();
  readonly dice: SortedSeries[] = [];
  /** The newest event by iteration (epoch events win a tie: they carry the validation). */
  latest: ProgressEvent | null = null;
  /** The newest event that carried a validation. */
  latestEpoch: ProgressEvent | null = null;
  /** Iteration points that came over the websocket rather than from the stored history. */
  livePoints = 0;

  constructor(readonly runId: number | string) {}

  /** Adds an event; false when it belongs to another run or was known already (history and live overlap). */
  add(e: ProgressEvent, live = false): boolean {
    if (String(e.runId) !== String(this.runId)) return false;
    let changed = false;
    if (e.type === "iteration") {
      changed = Number.isFinite(e.trainLoss) && this.train.put(e.iteration, e.trainLoss);
      if (changed && live) this.livePoints++;
    } else if (e.type === "epoch") {
      if (typeof e.valLoss === "number") changed = this.val.put(e.iteration, e.valLoss) || changed;
      (e.valDice ?? []).forEach((d, k) => {
        while (this.dice.length <= k) this.dice.push(new SortedSeries());
        if (typeof d === "number") changed = (this.dice[k] as SortedSeries).put(e.iteration, d) || changed;
      });
      if (!this.latestEpoch || e.iteration >= this.latestEpoch.iteration) this.latestEpoch = e;
    } else {
      return false;
    }
    const l = this.latest;
    if (!l || e.iteration > l.iteration || (e.iteration === l.iteration && e.type === "epoch")) this.latest = e;
    return changed;
  }
}

export type RunStatus = "queued" | "running" | "done" | "failed" | "cancelled" | "interrupted";

/**
 * The later of two states of one run (queued, then running, then an end), as answers and events about it may
 * arrive out of order.
 */
export function later(a: RunStatus, b: RunStatus): RunStatus {
  const rank = (s: RunStatus) => (s === "queued" ? 0 : s === "running" ? 1 : 2);
  return rank(b) >= rank(a) ? b : a;
}

/** "45 s", "3 m 05 s", "1 h 02 m"; "–" when unknown (negative or not finite). */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "–";
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} m ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} m`;
}

/** Seconds per iteration as the user reads it: "0.42 s/it", or "12.5 it/s" when faster than one a second. */
export function formatSpeed(secondsPerIteration: number): string {
  if (!(secondsPerIteration > 0) || !Number.isFinite(secondsPerIteration)) return "–";
  if (secondsPerIteration < 1) return `${(1 / secondsPerIteration).toFixed(1)} it/s`;
  return `${secondsPerIteration.toFixed(2)} s/it`;
}

/** A loss or score with 3 significant decimals; "–" when absent. */
export function formatValue(v: number | null | undefined, digits = 3): string {
  return typeof v === "number" && Number.isFinite(v) ? v.toFixed(digits) : "–";
}

/** The engine's training settings as the server reports them (snake_case, server/API.md TrainSettings). */
export interface TrainSettings {
  arch: string;
  classes?: number;
  class_names?: string[];
  epochs: number;
  budget_seconds: number;
  batch_size: number;
  learning_rate: number;
  schedule?: string;
  crop_w?: number;
  crop_h?: number;
  placement?: string;
  loss?: string;
  normalization?: string;
  [k: string]: unknown;
}

/** How a run starts (server/API.md RunSettings). */
export interface RunSettings {
  preset?: string;
  fromScratch?: boolean;
  warmStartModelId?: number | string | null;
  /** The model file the run fine-tunes (train --init-model, or a file chosen in the app). */
  initModel?: { name: string; sha256: string } | null;
  train: TrainSettings;
}

/** When a run stops: "120 s budget", "20 epochs", or "20 epochs or 2 m 00 s". */
export function stopRule(s: Pick<TrainSettings, "epochs" | "budget_seconds">): string {
  const parts: string[] = [];
  if (s.epochs > 0) parts.push(`${s.epochs} epoch${s.epochs === 1 ? "" : "s"}`);
  if (s.budget_seconds > 0) parts.push(`${formatDuration(s.budget_seconds)} budget`);
  return parts.join(" or ") || "no limit";
}

/** One line for the training settings: architecture, stop rule, batch, learning rate, crop, loss. */
export function trainSummary(t: TrainSettings): string {
  const parts = [t.arch, stopRule(t), `batch ${t.batch_size}`, `lr ${t.learning_rate}${t.schedule ? ` ${t.schedule}` : ""}`];
  if (t.crop_w && t.crop_h) parts.push(`crop ${t.crop_w}×${t.crop_h}${t.placement ? ` ${t.placement}` : ""}`);
  if (t.loss) parts.push(`loss ${t.loss}`);
  return parts.join(" · ");
}

/** One line for a run's settings: preset, how it starts, then the training settings. */
export function runSummary(s: RunSettings): string {
  const start = s.initModel
    ? `fine-tuning ${s.initModel.name || "a model file"}`
    : s.warmStartModelId !== undefined && s.warmStartModelId !== null && !s.fromScratch
      ? `warm start from model #${s.warmStartModelId}`
      : "from scratch";
  return `${s.preset ?? "default"} preset · ${start} · ${trainSummary(s.train)}`;
}
