// The painting and review tools wired into the split viewer: paint-over mode and intensity range (with sampling
// under the brush and picking on the histogram), the prediction's own opacity and style, the "previewing
// version N" banner, auto-zoom to the structure, and window presets with a histogram of the slice. The
// decisions are the pure modules' (lib/brush.ts, lib/windowlevel.ts, tools-review.ts); this file is the DOM.
import { h, toast } from "../dom";
import { diskOffsets, sampleRange, strokeRefusal, type IntensityRange, type PaintGuard, type PaintOver } from "../lib/brush";
import { fitView, inGrid, screenToVoxel, type View } from "../lib/geometry";
import { Palette, parseColor } from "../lib/render";
import {
  WINDOW_PRESETS, histogram, histogramBars, intensityAt, presetWindow, visibleBox, windowMarks, type WindowPreset,
} from "../lib/windowlevel";
import type { ViewerContext } from "./context";
import { DraftsUi } from "./tools-draftsui";
import { anyLabelled, type ReviewLayers } from "./tools-overlay";
import {
  AutoZoom, REVIEW_KEY, acceptDecision, paintRefusal, parseReviewSettings, predictionShown, structureBox,
  type AcceptDecision, type ReviewSettings, type SliceLabelState,
} from "./tools-review";

const HIST_W = 160;
const HIST_H = 32;

export class ToolsPanel {
  settings: ReviewSettings = parseReviewSettings(localStorage.getItem(REVIEW_KEY));
  over: PaintOver = { kind: "all" };
  range: IntensityRange | null = null;
  predPalette!: Palette;
  drafts!: DraftsUi;
  private v!: ViewerContext;
  private readonly zoom = new AutoZoom();
  private lastAutoView: View | null = null;
  private sampling = false;
  private histSlice = -1;
  private histCounts: Uint32Array = new Uint32Array(0);
  private histLo = 0;
  private histHi = 1;
  private histKey = "";
  private histTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly el = {
    over: h("select#paint-over", { title: "which voxels a stroke or fill may change" }),
    rangeOn: h("input#range-on", { type: "checkbox", title: "paint only voxels whose intensity is in the range" }),
    lo: h("input#range-lo.wl", { type: "number", step: "any", title: "lowest intensity painted" }),
    hi: h("input#range-hi.wl", { type: "number", step: "any", title: "highest intensity painted" }),
    sample: h("button#range-sample", { title: "click the image: the range becomes the intensities under the brush (mean ± 2 sd)" }, "sample"),
    hist: h("canvas#histogram.histogram", { width: HIST_W, height: HIST_H, title: "this slice's intensities; the window in blue, the paint range in amber. Drag to set the paint range" }),
    preset: h("select#window-preset", { title: "window preset" }),
    predOpacity: h("input#pred-opacity", { type: "range", min: 0, max: 1, step: 0.05, title: "prediction opacity" }),
    predStyle: h("select#pred-style", { title: "prediction drawn as an outline or filled" }, h("option", { value: "outline" }, "outline"), h("option", { value: "filled" }, "filled")),
    predOnLabelled: h("input#pred-on-labelled", { type: "checkbox", title: "also draw the prediction on slices that have a label" }),
    autoZoom: h("input#auto-zoom", { type: "checkbox", title: "zoom to the structure when a slice the model predicted opens (R resets)" }),
    banner: h("div#preview-banner.preview-banner", { hidden: true }),
  };

  attach(v: ViewerContext): void {
    this.v = v;
    const el = this.el;
    const names = v.project.classes.map((c) => c.name);
    el.over.append(h("option", { value: "all" }, "over everything"), h("option", { value: "0" }, "over background only"),
      ...names.map((n, i) => h("option", { value: String(i + 1) }, `over ${n} only`)));
    el.over.addEventListener("change", () => {
      const k = el.over.value;
      this.over = k === "all" ? { kind: "all" } : k === "0" ? { kind: "background" } : { kind: "class", cls: Number(k) };
    });
    el.preset.append(...WINDOW_PRESETS.map((p) => h("option", { value: p.id, title: p.title }, p.label)));
    el.preset.addEventListener("change", () => this.applyWindow(el.preset.value as WindowPreset));
    el.rangeOn.addEventListener("change", () => this.setRange(el.rangeOn.checked ? this.fieldRange() : null));
    for (const f of [el.lo, el.hi]) f.addEventListener("change", () => this.setRange(this.fieldRange()));
    el.sample.addEventListener("click", () => {
      this.sampling = !this.sampling;
      el.sample.classList.toggle("on", this.sampling);
      if (this.sampling) toast("click the image to sample the intensity range under the brush");
    });
    this.histogramDrag();
    // Sampling takes the click before the painter sees it (capture, at the target).
    v.ui.canvas.addEventListener("pointerdown", (e) => this.sampleAt(e), { capture: true });

    const s = this.settings;
    el.predOpacity.value = String(s.predOpacity);
    el.predStyle.value = s.predStyle;
    el.predOnLabelled.checked = s.predOnLabelled;
    el.autoZoom.checked = s.autoZoom;
    el.predOpacity.addEventListener("input", () => this.saveSettings({ predOpacity: Number(el.predOpacity.value) }));
    el.predStyle.addEventListener("change", () => this.saveSettings({ predStyle: el.predStyle.value === "filled" ? "filled" : "outline" }));
    el.predOnLabelled.addEventListener("change", () => this.saveSettings({ predOnLabelled: el.predOnLabelled.checked }));
    el.autoZoom.addEventListener("change", () => this.saveSettings({ autoZoom: el.autoZoom.checked }));
    this.predPalette = this.makePredPalette();

    v.ui.toolbar.append(
      h("div.group", {}, el.over, h("label.inline", {}, el.rangeOn, "range"), el.lo, el.hi, el.sample),
      h("div.group", {}, el.hist, el.preset),
      h("div.group", {}, h("span.muted", {}, "prediction"), el.predOpacity, el.predStyle,
        h("label.inline", {}, el.predOnLabelled, "on labelled"), h("label.inline", {}, el.autoZoom, "auto-zoom")));
    v.ui.stage.append(el.banner);
    this.drafts = new DraftsUi(v);
  }

  private saveSettings(patch: Partial<ReviewSettings>): void {
    this.settings = { ...this.settings, ...patch };
    localStorage.setItem(REVIEW_KEY, JSON.stringify(this.settings));
    this.predPalette = this.makePredPalette();
    this.v.render();
  }

  private makePredPalette(): Palette {
    return new Palette(this.v.project.classes.map((c) => parseColor(c.color)), this.settings.predOpacity);
  }

  // ---------- painting ----------

  private fieldRange(): IntensityRange | null {
    const lo = Number(this.el.lo.value);
    const hi = Number(this.el.hi.value);
    if (this.el.lo.value === "" || this.el.hi.value === "" || !Number.isFinite(lo) || !Number.isFinite(hi)) {
      toast("set the range's low and high intensities first (type them, sample, or drag on the histogram)", "error");
      return null;
    }
    return { lo: Math.min(lo, hi), hi: Math.max(lo, hi) };
  }

  /** Sets (or clears) the paint range and shows it in the fields. */
  setRange(r: IntensityRange | null): void {
    this.range = r;
    this.el.rangeOn.checked = r !== null;
    if (r) {
      this.el.lo.value = String(+r.lo.toPrecision(5));
      this.el.hi.value = String(+r.hi.toPrecision(5));
    }
    this.drawHistogram();
  }

  /** What strokes and fills on slice z may change. */
  guard(z: number): PaintGuard {
    return { over: this.over, range: this.range, image: this.v.data.images.get(z) ?? null };
  }

  /** Why a stroke of value on slice z cannot change anything, or null. */
  strokeProblem(z: number, value: number): string | null {
    return strokeRefusal(value, this.guard(z), this.v.project.classes.map((c) => c.name));
  }

  /** Why slice z may not be edited now (previewing a version, or the other side of a conflict), or null. */
  refusal(z: number): string | null {
    return paintRefusal(z, this.v.edits.historyPreview, this.v.edits.conflicts.get(z)?.preview === true);
  }

  private sampleAt(e: PointerEvent): void {
    if (!this.sampling || e.button !== 0) return;
    e.stopImmediatePropagation();
    e.preventDefault();
    const { ui, state, W, H, data } = this.v;
    const r = ui.canvas.getBoundingClientRect();
    const k = ui.canvas.width / Math.max(1, r.width);
    const at = screenToVoxel(state.view, W, H, (e.clientX - r.left) * k, (e.clientY - r.top) * k);
    const img = data.images.get(state.z);
    this.sampling = false;
    this.el.sample.classList.remove("on");
    const got = img && inGrid(at, W, H) ? sampleRange(img, W, H, at.x, at.y, diskOffsets(state.brushSize)) : null;
    if (!got) {
      toast("nothing to sample there: click inside the loaded slice", "error");
      return;
    }
    this.setRange(got);
    toast(`paint range ${this.el.lo.value}–${this.el.hi.value}`);
  }

  // ---------- review ----------

  /** What the viewer knows about slice z's label. */
  sliceState(z: number): SliceLabelState {
    const { info, saver, data } = this.v;
    const s = info[z];
    const m = data.masks.get(z);
    return {
      status: s?.status ?? "unlabelled",
      verified: s?.verified === true,
      labelVersion: saver.version(z),
      dirty: saver.isDirty(z),
      localLabel: m !== undefined && anyLabelled(m),
    };
  }

  acceptDecision(z: number): AcceptDecision {
    return acceptDecision(z, !!this.v.data.preds.get(z), this.sliceState(z), this.v.edits.historyPreview);
  }

  /** The layers plane.ts composes for slice z; also keeps the banner and the histogram current. */
  layers(z: number, gray: Uint8Array, shown: Uint8Array | null): ReviewLayers {
    const { state, data, edits, W } = this.v;
    const pred = data.preds.get(z);
    const show = pred && predictionShown(state.overlayOn, this.sliceState(z), this.settings);
    const preview = edits.historyPreview?.slice === z ? edits.historyPreview.version : null;
    // DOM writes only on a change: this runs on every frame.
    if (this.el.banner.hidden !== (preview === null)) this.el.banner.hidden = preview === null;
    const text = preview === null ? "" : `previewing version ${preview} · painting is off`;
    if (preview !== null && this.el.banner.textContent !== text) this.el.banner.textContent = text;
    this.scheduleHistogram();
    return {
      gray, label: state.overlayOn ? shown : null, prediction: show ? pred : null, predictionStyle: this.settings.predStyle,
      draft: state.overlayOn ? this.drafts.draftMask(z) : null, width: W,
    };
  }

  /**
   * A slice opened (or its label or prediction arrived): where the model predicted it (a review slice), zoom to
   * its structure unless the user moved the view. Slices without a prediction keep the view: painting slice
   * after slice must not jump.
   */
  sliceOpened(z: number): void {
    const { state, data, ui, W, H } = this.v;
    const cw = ui.canvas.width, ch = ui.canvas.height;
    const fit = fitView(W, H, cw, ch);
    const isFit = Math.abs(state.view.zoom - fit.zoom) < 1e-9 && Math.abs(state.view.panX - fit.panX) < 1e-6 && Math.abs(state.view.panY - fit.panY) < 1e-6;
    if (isFit) this.zoom.reset();
    else if (state.view !== this.lastAutoView) this.zoom.userMoved();
    const pred = data.preds.get(z);
    if (!pred) return;
    const box = structureBox(data.masks.get(z) ?? null, pred.mask, W, H);
    const view = this.zoom.viewFor(this.settings, box, W, H, cw, ch);
    if (view) {
      state.view = view;
      this.lastAutoView = view;
    }
  }

  // ---------- window ----------

  /** Sets the window from a preset (the toolbar's "auto" is the structure preset). */
  applyWindow(preset: WindowPreset): void {
    const { state, data, ui, vol, W, H } = this.v;
    const z = state.z;
    const shown = data.masks.get(z);
    const structure = shown && anyLabelled(shown) ? shown : data.preds.get(z)?.mask ?? null;
    const got = presetWindow(preset, {
      image: data.images.get(z) ?? null, w: W, h: H, structure,
      visible: visibleBox(state.view, W, H, ui.canvas.width, ui.canvas.height), stats: vol.stats,
    });
    state.wl = got.wl;
    this.el.preset.value = preset;
    this.el.preset.title = `window from ${got.from}`;
    ui.levelInput.value = String(+got.wl.center.toPrecision(5));
    ui.widthInput.value = String(+got.wl.width.toPrecision(5));
    this.v.render();
  }

  /**
   * Redraws the histogram after the frame, and only when its slice, the window or the range changed: a slice
   * switch must not wait for it (counting a slice's intensities takes about a millisecond).
   */
  private scheduleHistogram(): void {
    const { state } = this.v;
    const key = `${state.z} ${state.wl.center} ${state.wl.width} ${this.range?.lo} ${this.range?.hi} ${this.v.data.images.has(state.z)}`;
    if (key === this.histKey || this.histTimer !== null) return;
    this.histTimer = setTimeout(() => {
      this.histTimer = null;
      this.histKey = key;
      this.drawHistogram();
    }, 0);
  }

  private drawHistogram(): void {
    const { state, data, vol } = this.v;
    const img = data.images.get(state.z);
    const ctx = this.el.hist.getContext("2d");
    if (!ctx) return;
    if (img && this.histSlice !== state.z) {
      const s = vol.stats;
      this.histLo = s.min;
      this.histHi = Math.min(s.max, s.p99 + (s.p99 - s.p1) * 0.25);
      if (!(this.histHi > this.histLo)) this.histHi = this.histLo + 1;
      // Every 3rd voxel: a third of the time on a slice change, the same shape at 80 bins.
      this.histCounts = histogram(img, this.histLo, this.histHi, HIST_W / 2, 3);
      this.histSlice = state.z;
    }
    ctx.fillStyle = "#0b0d12";
    ctx.fillRect(0, 0, HIST_W, HIST_H);
    const marks = windowMarks(state.wl, this.histLo, this.histHi, HIST_W);
    ctx.fillStyle = "#3b82f633";
    ctx.fillRect(marks.x0, 0, Math.max(1, marks.x1 - marks.x0), HIST_H);
    if (this.range) {
      const r = windowMarks({ center: (this.range.lo + this.range.hi) / 2, width: this.range.hi - this.range.lo }, this.histLo, this.histHi, HIST_W);
      ctx.fillStyle = "#f59e0b55";
      ctx.fillRect(r.x0, 0, Math.max(1, r.x1 - r.x0), HIST_H);
    }
    const bars = histogramBars(this.histCounts, HIST_H - 2);
    const bw = HIST_W / Math.max(1, bars.length);
    ctx.fillStyle = "#c8cfdd";
    bars.forEach((b, i) => ctx.fillRect(i * bw, HIST_H - b, Math.max(1, bw - 0.5), b));
    ctx.fillStyle = "#3b82f6";
    ctx.fillRect(marks.xc, 0, 1, HIST_H);
  }

  /** Dragging across the histogram sets the paint range to the intensities under the drag. */
  private histogramDrag(): void {
    const c = this.el.hist;
    const xOf = (e: PointerEvent) => {
      const r = c.getBoundingClientRect();
      return ((e.clientX - r.left) / Math.max(1, r.width)) * HIST_W;
    };
    let start: number | null = null;
    const rangeTo = (e: PointerEvent) => {
      if (start === null) return;
      const a = intensityAt(start, this.histLo, this.histHi, HIST_W);
      const b = intensityAt(xOf(e), this.histLo, this.histHi, HIST_W);
      this.setRange({ lo: Math.min(a, b), hi: Math.max(a, b) });
    };
    c.addEventListener("pointerdown", (e) => {
      start = xOf(e);
      c.setPointerCapture(e.pointerId);
    });
    c.addEventListener("pointermove", rangeTo);
    c.addEventListener("pointerup", (e) => {
      rangeTo(e);
      start = null;
    });
  }
}
