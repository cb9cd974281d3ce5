// The viewer's data of one volume: slice images, grey levels, labels and predictions, loaded on demand and
// prefetched around the shown slice, within a memory budget.
import { getLabel, getPrediction, getSlice, type Id, type SliceInfo } from "../api";
import type { AutoSaver } from "../lib/autosave";
import { outlineOf } from "../lib/render";
import { applyWindow, type WindowLevel } from "../lib/windowlevel";

/** Slices loaded on each side of the shown one. */
export const PREFETCH = 3;
// Decoded slices kept in memory (float32 plus grey levels): a whole volume up to this size is fetched in the
// background so that every slice switch is a cached one.
const CACHE_BYTES = 256 * 2 ** 20;

export interface PredictionState {
  mask: Uint8Array;
  outline: Uint8Array;
  uncertainty: number | null;
}

export interface SliceDataHooks {
  /** The slice shown now: eviction keeps what is near it. */
  current(): number;
  /** Something of the slice arrived (its image, label or prediction). */
  loaded(slice: number): void;
  /** Loading failed; the message says what. */
  failed(slice: number, message: string): void;
}

export class SliceData {
  /** Slice intensities, float32 W*H. */
  readonly images = new Map<number, Float32Array>();
  /** Local class-index masks: the server's, plus this tab's edits. */
  readonly masks = new Map<number, Uint8Array>();
  /** The shown model's predictions (predictionModel); null while loading or when there is none. */
  readonly preds = new Map<number, PredictionState | null>();
  /** Whose predictions preds holds: null for the project's active model, else a candidate's id. */
  private shownModel: number | null = null;
  private readonly grays = new Map<number, Uint8Array>();
  private grayWindow = "";
  private readonly imageLoads = new Map<number, Promise<void>>();
  private readonly labelsLoaded = new Set<number>();
  private readonly labelLoads = new Map<number, Promise<void>>();
  private readonly n: number;
  private readonly depth: number;
  readonly cacheSlices: number;
  private disposed = false;
  /** The whole volume once it has arrived: slice images then come from it, without a request. */
  private volume: { sliceFloat(z: number): Float32Array } | null = null;

  constructor(
    private readonly vid: Id,
    private readonly w: number,
    private readonly h: number,
    private readonly classCount: number,
    private readonly info: SliceInfo[],
    private readonly saver: AutoSaver,
    private readonly hooks: SliceDataHooks,
  ) {
    this.n = w * h;
    this.depth = info.length;
    this.cacheSlices = Math.max(2 * PREFETCH + 1, Math.floor(CACHE_BYTES / (this.n * 5)));
  }

  dispose(): void {
    this.disposed = true;
  }

  /** Whether the slice's label is known (loaded, or known not to exist): painting before that could overwrite it. */
  labelReady(slice: number): boolean {
    return this.labelsLoaded.has(slice);
  }

  /** Grey levels of a loaded slice under the window, computed once per window. */
  gray(slice: number, wl: WindowLevel): Uint8Array | null {
    const img = this.images.get(slice);
    if (!img) return null;
    const key = `${wl.center}/${wl.width}`;
    if (key !== this.grayWindow) {
      this.grays.clear();
      this.grayWindow = key;
    }
    let g = this.grays.get(slice);
    if (!g) {
      g = new Uint8Array(this.n);
      applyWindow(img, wl, g);
      this.grays.set(slice, g);
    }
    return g;
  }

  /** The whole volume arrived: every later slice image is cut from it. */
  setVolume(volume: { sliceFloat(z: number): Float32Array }): void {
    this.volume = volume;
  }

  loadImage(slice: number): Promise<void> {
    if (this.images.has(slice)) return Promise.resolve();
    if (this.volume && !this.imageLoads.has(slice)) {
      this.images.set(slice, this.volume.sliceFloat(slice));
      this.evict();
      if (!this.disposed) this.hooks.loaded(slice);
      return Promise.resolve();
    }
    let p = this.imageLoads.get(slice);
    if (!p) {
      p = getSlice(this.vid, slice, this.w, this.h).then((img) => {
        this.images.set(slice, img);
        this.evict();
        if (!this.disposed) this.hooks.loaded(slice);
      }).catch((err) => {
        this.hooks.failed(slice, `could not load slice ${slice}: ${message(err)}`);
      }).finally(() => this.imageLoads.delete(slice));
      this.imageLoads.set(slice, p);
    }
    return p;
  }

  /** Over budget: forget the slices farthest from the one shown. */
  private evict(): void {
    const z = this.hooks.current();
    while (this.images.size > this.cacheSlices) {
      let far = z;
      for (const k of this.images.keys()) if (Math.abs(k - z) > Math.abs(far - z)) far = k;
      if (far === z) break;
      this.images.delete(far);
      this.grays.delete(far);
    }
  }

  /** Loads the slice's label; force reloads it after another client saved a newer version. */
  loadLabel(slice: number, force = false): Promise<void> {
    if (!force && this.labelsLoaded.has(slice)) return Promise.resolve();
    const s = this.info[slice];
    if (!force && s && s.labelVersion === 0) {
      this.labelsLoaded.add(slice);
      return Promise.resolve();
    }
    let p = this.labelLoads.get(slice);
    // A forced reload must not reuse a fetch that may predate the announced version.
    if (p && force) return p.then(() => this.loadLabel(slice, true));
    if (!p) {
      p = getLabel(this.vid, slice, this.w, this.h, this.classCount).then((label) => {
        // A label that arrives after the user started painting must not replace their strokes, and an old
        // response must not replace a newer version.
        if (this.saver.isDirty(slice) || (label && label.version < this.saver.version(slice))) return;
        if (label?.mask) this.masks.set(slice, label.mask);
        else this.masks.delete(slice);
        if (label) {
          this.saver.setVersion(slice, label.version);
          if (s) {
            s.labelVersion = label.version;
            s.verified = label.verified;
          }
        }
        this.labelsLoaded.add(slice);
        if (!this.disposed) this.hooks.loaded(slice);
      }).catch((err) => {
        this.hooks.failed(slice, `could not load the label of slice ${slice}: ${message(err)}`);
      }).finally(() => this.labelLoads.delete(slice));
      this.labelLoads.set(slice, p);
    }
    return p;
  }

  /**
   * A slice's label from the whole-volume masks payload, taken unless the tab already knows the slice's label,
   * has unsaved strokes on it, or knows a newer version. Returns whether it was taken.
   */
  seedLabel(slice: number, version: number, verified: boolean, mask: Uint8Array): boolean {
    if (this.labelsLoaded.has(slice) || this.labelLoads.has(slice) || this.saver.isDirty(slice) || version < this.saver.version(slice)) return false;
    this.masks.set(slice, mask.slice());
    this.saver.setVersion(slice, version);
    const s = this.info[slice];
    if (s) {
      s.labelVersion = version;
      s.verified = verified;
    }
    this.labelsLoaded.add(slice);
    return true;
  }

  predictionModel(): number | null {
    return this.shownModel;
  }

  /** Shows another model's predictions (a candidate's id, or null: the active model's); they load again. */
  setPredictionModel(id: number | null): void {
    if (id === this.shownModel) return;
    this.shownModel = id;
    this.preds.clear();
  }

  /** A slice's prediction by the active model from the whole-volume masks payload, unless one is loaded already. */
  seedPrediction(slice: number, mask: Uint8Array, uncertainty: number | null): void {
    if (this.shownModel !== null || this.preds.get(slice)) return;
    this.preds.set(slice, { mask: mask.slice(), outline: outlineOf(mask, this.w, this.h), uncertainty });
  }

  /** Loads the model's prediction of a slice the model predicted. */
  loadPrediction(slice: number): void {
    if (this.preds.has(slice)) return;
    const s = this.info[slice];
    if (!s || (s.status !== "predicted" && (s.uncertainty === undefined || s.uncertainty === null))) return;
    this.preds.set(slice, null);
    const model = this.shownModel;
    getPrediction(this.vid, slice, this.w, this.h, this.classCount, model ?? undefined).then((p) => {
      if (model !== this.shownModel) return; // another model was picked meanwhile
      this.preds.set(slice, p ? { mask: p.mask, outline: outlineOf(p.mask, this.w, this.h), uncertainty: p.uncertainty } : null);
      if (!this.disposed) this.hooks.loaded(slice);
    }).catch(() => {
      if (model === this.shownModel) this.preds.delete(slice);
    });
  }

  ensure(slice: number): void {
    void this.loadImage(slice);
    void this.loadLabel(slice);
    this.loadPrediction(slice);
  }

  prefetchAround(z: number): void {
    for (let d = 1; d <= PREFETCH; d++) {
      for (const s of [z + d, z - d]) if (s >= 0 && s < this.depth) this.ensure(s);
    }
  }

  /** Loads every slice, nearest first, two at a time, when the whole volume fits the cache. */
  async prefetchVolume(z: number): Promise<void> {
    if (this.depth > this.cacheSlices) return;
    const order = Array.from({ length: this.depth }, (_, i) => i).sort((a, b) => Math.abs(a - z) - Math.abs(b - z));
    let next = 0;
    const worker = async () => {
      while (!this.disposed && next < order.length) {
        const s = order[next++] as number;
        await this.loadImage(s);
        await this.loadLabel(s);
        this.loadPrediction(s);
      }
    };
    await Promise.all([worker(), worker()]);
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
