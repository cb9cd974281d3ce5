// Autosave of slice labels: a change is saved within a debounce of going quiet, each save carries the version it
// edits, network failures retry with backoff, and a stale version stops that slice's saving until the user decides.
import { backoffDelay } from "./backoff";

export type SaveResult =
  | { kind: "saved"; version: number }
  | { kind: "conflict"; currentVersion: number }
  | { kind: "rejected"; reason: string };

/** Saves one slice's mask on top of baseVersion. Throws on network failure or a server error worth retrying. */
export type SaveFn = (slice: number, mask: Uint8Array, baseVersion: number) => Promise<SaveResult>;

export type SaveIndicator =
  | { state: "saved" }
  | { state: "saving"; pending: number }
  | { state: "retrying"; inMs: number; error: string }
  | { state: "conflict"; slices: number[] }
  | { state: "error"; reason: string };

export interface Timers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export interface AutoSaverHooks {
  /** The slice's current mask, copied at the time of the save. */
  snapshot(slice: number): Uint8Array;
  onIndicator(ind: SaveIndicator): void;
  onSaved?(slice: number, version: number): void;
  onConflict?(slice: number, currentVersion: number): void;
}

export interface AutoSaverOptions {
  debounceMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  timers: Timers;
}

interface SliceState {
  version: number;
  edits: number; // increments on every change
  savedEdits: number; // edits count that the server holds
  held: boolean; // a stroke is in progress: its end is the natural save point
  conflict: number | null; // the server version that refused ours
  rejected: string | null; // why the server refused the content; kept unsaved until the next change
}

const browserTimers: Timers = {
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

export class AutoSaver {
  private slices = new Map<number, SliceState>();
  private timer: unknown = null;
  private inflight = false;
  private failures = 0;
  private lastError = "";
  private readonly opts: AutoSaverOptions;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly save: SaveFn, private readonly hooks: AutoSaverHooks, opts: Partial<AutoSaverOptions> = {}) {
    this.opts = { debounceMs: 400, retryBaseMs: 1000, retryMaxMs: 15000, timers: browserTimers, ...opts };
  }

  private state(slice: number): SliceState {
    let s = this.slices.get(slice);
    if (!s) {
      s = { version: 0, edits: 0, savedEdits: 0, held: false, conflict: null, rejected: null };
      this.slices.set(slice, s);
    }
    return s;
  }

  /** The server version the local mask of the slice is based on. */
  version(slice: number): number {
    return this.slices.get(slice)?.version ?? 0;
  }

  /** Records the server's version of a slice that has no unsaved local edits (loaded or updated from events). */
  setVersion(slice: number, version: number): void {
    this.state(slice).version = version;
  }

  isDirty(slice: number): boolean {
    const s = this.slices.get(slice);
    return !!s && (s.edits !== s.savedEdits || s.conflict !== null);
  }

  inConflict(slice: number): boolean {
    return this.slices.get(slice)?.conflict != null;
  }

  /** True while some change is not on the server yet: the page warns before closing. */
  get hasUnsaved(): boolean {
    for (const s of this.slices.values()) if (s.edits !== s.savedEdits || s.conflict !== null) return true;
    return false;
  }

  /** A local change happened on the slice. */
  changed(slice: number): void {
    const s = this.state(slice);
    s.edits++;
    s.rejected = null;
    this.schedule(this.opts.debounceMs);
  }

  /** Holds saves of the slice while a stroke is drawn; releasing schedules the save. */
  hold(slice: number, held: boolean): void {
    this.state(slice).held = held;
    if (!held) this.schedule(this.opts.debounceMs);
  }

  /**
   * Keep mine: save the local mask on top of the server's current version (the one that refused ours, or a newer
   * one the caller has seen since).
   */
  keepMine(slice: number, onTopOf?: number): void {
    const s = this.state(slice);
    if (s.conflict === null) return;
    s.version = Math.max(s.conflict, onTopOf ?? 0);
    s.conflict = null;
    s.edits++;
    this.schedule(0);
  }

  /** Take theirs: the caller replaced the local mask with the server's version; nothing is left to save. */
  takeTheirs(slice: number, version: number): void {
    const s = this.state(slice);
    s.version = version;
    s.conflict = null;
    s.savedEdits = s.edits;
    this.emit();
  }

  /** The connection is back (the browser's online event): retry now instead of waiting out the backoff. */
  retryNow(): void {
    if (this.failures > 0 && this.pendingSlice() !== null) this.schedule(0);
  }

  /** Resolves once nothing is waiting to be saved (conflicts and rejections excepted). */
  whenIdle(): Promise<void> {
    if (this.pendingSlice() === null && !this.inflight) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private pendingSlice(): number | null {
    for (const [z, s] of this.slices) {
      if (s.edits !== s.savedEdits && s.conflict === null && s.rejected === null && !s.held) return z;
    }
    return null;
  }

  private schedule(ms: number): void {
    if (this.timer !== null) this.opts.timers.clear(this.timer);
    this.timer = this.opts.timers.set(() => {
      this.timer = null;
      void this.run();
    }, ms);
    this.emit();
  }

  private async run(): Promise<void> {
    if (this.inflight) return;
    const z = this.pendingSlice();
    if (z === null) {
      this.emit();
      return;
    }
    const s = this.state(z);
    const edits = s.edits;
    this.inflight = true;
    this.emit();
    try {
      const res = await this.save(z, this.hooks.snapshot(z), s.version);
      this.failures = 0;
      this.lastError = "";
      switch (res.kind) {
        case "saved":
          s.version = res.version;
          s.savedEdits = edits;
          this.hooks.onSaved?.(z, res.version);
          break;
        case "conflict":
          s.conflict = res.currentVersion;
          this.hooks.onConflict?.(z, res.currentVersion);
          break;
        case "rejected":
          // The server refused the content itself: retrying the same mask cannot help. Say why, keep the
          // strokes counted as unsaved (the page still warns before closing), and try again on the next change.
          s.rejected = res.reason;
          break;
      }
      this.inflight = false;
      if (this.pendingSlice() !== null) this.schedule(0);
    } catch (err) {
      this.inflight = false;
      this.lastError = err instanceof Error ? err.message : String(err);
      const delay = backoffDelay(this.failures, this.opts.retryBaseMs, this.opts.retryMaxMs);
      this.failures++;
      this.schedule(delay);
      this.emitRetry(delay);
      return;
    }
    this.emit();
  }

  private emitRetry(delay: number): void {
    this.hooks.onIndicator({ state: "retrying", inMs: delay, error: this.lastError });
  }

  private emit(): void {
    const conflicts = [...this.slices].filter(([, s]) => s.conflict !== null).map(([z]) => z);
    const rejected = [...this.slices].filter(([, s]) => s.rejected !== null).map(([z, s]) => `slice ${z}: ${s.rejected}`);
    let pending = 0;
    for (const s of this.slices.values()) if (s.edits !== s.savedEdits && s.conflict === null && s.rejected === null) pending++;
    if (this.failures > 0 && pending > 0) {
      this.emitRetry(backoffDelay(this.failures - 1, this.opts.retryBaseMs, this.opts.retryMaxMs));
    } else if (conflicts.length > 0) {
      this.hooks.onIndicator({ state: "conflict", slices: conflicts });
    } else if (pending > 0 || this.inflight) {
      this.hooks.onIndicator({ state: "saving", pending });
    } else if (rejected.length > 0) {
      this.hooks.onIndicator({ state: "error", reason: rejected.join("; ") });
    } else {
      this.hooks.onIndicator({ state: "saved" });
    }
    if (!this.inflight && this.pendingSlice() === null) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }
}
