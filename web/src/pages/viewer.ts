// The slice viewer and painter: radiological display, window/level, zoom/pan, brush/eraser/fill, undo/redo,
// autosave with conflict handling, live updates from other tabs, and review of model predictions.
import {
  author, getLabel, getLabelVersion, getProject, getVolume, labelHistory, putLabel, reviewQueue, setAuthor, setVerified,
  volumeExportUrl,
  type Id, type LabelData, type Project, type ReviewItem, type SliceInfo, type VolumeDetail,
} from "../api";
import { clear, errorText, h, toast } from "../dom";
import { session } from "../session";
import { readsPanel } from "./reads";
import { ProjectEvents, type Connection } from "../events";
import { deletedBy } from "../lib/deletion";
import { AutoSaver, type SaveIndicator } from "../lib/autosave";
import { diskOffsets, strokeSegment } from "../lib/brush";
import { countClasses } from "../lib/codec";
import { floodFill } from "../lib/floodfill";
import { fitView, inGrid, panBy, screenToVoxel, voxelToScreen, zoomAt, type View } from "../lib/geometry";
import { Palette, compose, parseColor } from "../lib/render";
import { labelDeleted, unlabelledStatus } from "../lib/slicestate";
import { UndoStack } from "../lib/undo";
import { defaultWindow, dragWindow, type WindowLevel } from "../lib/windowlevel";
import type { Navigate } from "../router";
import type { LabelEvent, ServerEvent } from "../serverevents";
import { registerUnsaved } from "../unsaved";
import { SliceData } from "./slicedata";

type Tool = "brush" | "eraser" | "fill";

const STATUS_COLORS: Record<string, string> = {
  unlabelled: "#3a4150",
  labelled: "#3b82f6",
  predicted: "#f59e0b",
  empty: "#6b5b3e",
  verified: "#22c55e",
};

const SHORTCUTS: Array<[string, string]> = [
  ["↑ / ↓, ← / →", "next / previous slice"],
  ["PageUp / PageDown", "5 slices up / down"],
  ["Home / End", "first / last slice"],
  ["1 – 9", "pick class"],
  ["B / E / F", "brush / eraser / fill a closed region"],
  ["[ / ]", "smaller / larger brush"],
  ["Ctrl+Z / Ctrl+Shift+Z (or Ctrl+Y)", "undo / redo on this slice"],
  ["O", "overlay on / off"],
  ["A", "accept the model's prediction into the label"],
  ["V", "toggle verified"],
  ["N", "next slice of the review queue"],
  ["R", "reset zoom, pan and window"],
  ["H", "history of this slice's label: preview or restore any version"],
  ["wheel", "zoom at the cursor"],
  ["middle-drag or Space+drag", "pan"],
  ["right-drag", "window (left/right) and level (up/down)"],
  ["?", "show / hide this help"],
];

interface Conflict {
  theirs: LabelData | null;
  version: number;
  preview: boolean;
}

interface WorkbenchHook {
  ready: boolean;
  slice: () => number;
  shape: () => number[];
  setSlice: (z: number) => void;
  setClass: (k: number) => void;
  setTool: (t: Tool) => void;
  setBrushSize: (s: number) => void;
  voxelToClient: (x: number, y: number) => { x: number; y: number };
  classCounts: (z: number) => number[] | null;
  saveState: () => string;
  hasUnsaved: () => boolean;
  labelVersion: (z: number) => number;
  cachedSlices: () => number[];
  conflicts: () => number[];
  whenSaved: () => Promise<void>;
}

declare global {
  interface Window {
    workbench?: WorkbenchHook;
  }
}

export function viewerPage(root: HTMLElement, vid: Id, initialZ: number | null, navigate: Navigate): () => void {
  let disposed = false;
  const cleanups: Array<() => void> = [];
  const listen = <K extends keyof WindowEventMap>(target: Window, type: K, fn: (e: WindowEventMap[K]) => void, opts?: AddEventListenerOptions) => {
    target.addEventListener(type, fn, opts);
    cleanups.push(() => target.removeEventListener(type, fn, opts));
  };
  clear(root);
  root.append(h("p.muted.pad", {}, "loading volume…"));

  getVolume(vid).then(async (vol) => {
    const project = await getProject(vol.projectId);
    if (!disposed) build(vol, project);
  }).catch((err) => {
    clear(root);
    root.append(h("header.bar", {}, h("a.back", { href: "/" }, "← Projects")), h("p.error.pad", {}, `could not open volume ${vid}: ${errorText(err)}`));
  });

  function build(vol: VolumeDetail, project: Project): void {
    const [W = 1, H = 1, D = 1] = vol.shape;
    const N = W * H;
    const classCount = project.classes.length;
    const info: SliceInfo[] = Array.from({ length: D }, (_, i) =>
      vol.slices[i] ?? { index: i, status: "unlabelled", labelVersion: 0, verified: false });
    const letters = vol.axisLetters ?? { left: "R", right: "L", top: "A", bottom: "P" };

    // Per-slice editing state; the slice data (images, labels, predictions) lives in SliceData below.
    const undos = new Map<number, UndoStack>();
    const origins = new Map<number, "manual" | "prediction">();
    const restoredFrom = new Map<number, number>(); // slice -> the history version its pending save restores
    const conflicts = new Map<number, Conflict>();

    let z = Math.min(D - 1, Math.max(0, initialZ ?? Math.floor(D / 2)));
    let tool: Tool = "brush";
    let cls = 1;
    let brushSize = 5;
    let disk = diskOffsets(brushSize);
    let opacity = 0.45;
    let overlayOn = true;
    const autoWindow = defaultWindow(vol.stats);
    let wl: WindowLevel = { ...autoWindow };
    let view: View = { zoom: 1, panX: 0, panY: 0 };
    let viewFitted = false;
    let palette = new Palette(project.classes.map((c) => parseColor(c.color)), opacity);
    let queue: ReviewItem[] = [];
    let cursor: { sx: number; sy: number } | null = null;

    // ---------- layout ----------
    const canvas = h("canvas.view", { tabIndex: 0 });
    const ctx = canvas.getContext("2d", { alpha: false }) as CanvasRenderingContext2D;
    const off = document.createElement("canvas");
    off.width = W;
    off.height = H;
    const offCtx = off.getContext("2d") as CanvasRenderingContext2D;
    const imageData = offCtx.createImageData(W, H);
    const pixels = new Uint32Array(imageData.data.buffer);

    const saveEl = h("span#save-state.save-state.saved", { title: "autosave state" }, "saved");
    const connEl = h("span.conn", { title: "live updates from other tabs" }, "…");
    const sliceLabel = h("span.slice-label");
    // Signed in, labels are saved under the account's name, which the server sets; the name cannot be changed.
    const authorEl = h("button.link", {
      title: session()?.authenticated ? "you are signed in: labels are saved under your account's name" : "the name your labels are saved under: click to change",
      disabled: session()?.authenticated === true,
      onclick: () => {
        const name = prompt("Save labels as", author());
        if (name) setAuthor(name);
        authorEl.textContent = `as ${author()}`;
      },
    }, `as ${author()}`);
    const readout = h("span#readout.readout", {}, "");
    const slider = h("input#slice-slider", { type: "range", min: 0, max: D - 1, step: 1, value: z, title: "slice (↑/↓, PageUp/PageDown)" });
    const strip = h("canvas#status-strip.strip", { title: "slice status: click to go" });
    const sizeInput = h("input", { type: "range", min: 1, max: 60, step: 1, value: brushSize, title: "brush size ([ and ])" });
    const sizeLabel = h("span.num");
    const opacityInput = h("input", { type: "range", min: 0, max: 1, step: 0.05, value: opacity, title: "overlay opacity" });
    const overlayToggle = h("input", { type: "checkbox", checked: true, title: "overlay on/off (O)" });
    const levelInput = h("input.wl", { type: "number", step: "any", title: "level (window centre)" });
    const widthInput = h("input.wl", { type: "number", step: "any", min: 0, title: "window width" });
    const verifiedBtn = h("button#verify.toggle", { title: "mark this slice verified, or not (V)" }, "Mark verified");
    const acceptBtn = h("button#accept", { title: "copy the model's prediction into the label (A)", disabled: true }, "Accept prediction");
    const historyBtn = h("button#history-toggle", { title: "versions of this slice's label (H)" }, "History");
    const historyEl = h("div#history.history-panel", { hidden: true });
    // Several annotators per slice: an annotator edits its own read, so the labels others save are not its
    // base; a reviewer gets the panel of every read (pages/reads.ts).
    const severalReads = (project.readsMode ?? "single") !== "single";
    const ownReads = severalReads && session()?.authenticated === true && session()?.role === "annotator";
    const reads = readsPanel(vol, project, (l) => onLabel({ volumeId: vol.id, slice: l.slice ?? z, version: l.version, verified: l.verified === true, deleted: l.deleted === true }));
    const readsBtn = h("button#reads-toggle", { hidden: !severalReads, title: "every annotator's read of this slice, their agreement, adjudication" }, "Reads");
    readsBtn.addEventListener("click", () => {
      reads.toggle(z);
      readsBtn.classList.toggle("on", reads.open);
    });
    const queueBtn = h("button#next-queue", { title: "next slice of the review queue (N)", disabled: true }, "Next uncertain");
    const toolButtons = new Map<Tool, HTMLButtonElement>();
    const classButtons: HTMLButtonElement[] = [];
    const conflictEl = h("div#conflict.conflict-banner", { hidden: true, role: "alert" });
    const help = h("div#help.help", { hidden: true, onclick: () => (help.hidden = true) },
      h("div.help-card", {}, h("h2", {}, "Shortcuts"),
        h("table", {}, ...SHORTCUTS.map(([k, d]) => h("tr", {}, h("td", {}, h("kbd", {}, k)), h("td", {}, d)))),
        h("p.muted", {}, "Every change is saved within a second. Click anywhere to close.")));
    const letterEls = {
      left: h("span.letter.left", {}, letters.left),
      right: h("span.letter.right", {}, letters.right),
      top: h("span.letter.top", {}, letters.top),
      bottom: h("span.letter.bottom", {}, letters.bottom),
    };
    const stage = h("div.stage", {}, canvas, letterEls.left, letterEls.right, letterEls.top, letterEls.bottom, conflictEl, historyEl, reads.el);

    for (const [t, label, key] of [["brush", "Brush", "B"], ["eraser", "Eraser", "E"], ["fill", "Fill", "F"]] as const) {
      const b = h("button.tool", { title: `${label} (${key})`, "data-tool": t, onclick: () => setTool(t) }, label);
      toolButtons.set(t, b);
    }
    project.classes.forEach((c, i) => {
      const b = h("button.cls", { title: `${c.name} (${i + 1})`, "data-class": i + 1, onclick: () => setClass(i + 1) },
        h("span.swatch", { style: { background: c.color } }), h("span.key", {}, String(i + 1)), c.name);
      classButtons.push(b);
    });

    clear(root);
    root.append(
      h("header.bar", {},
        h("a.back", { href: `/projects/${vol.projectId}` }, `← ${project.name}`),
        h("h1", {}, vol.name), sliceLabel, saveEl, connEl, authorEl,
        h("a.button", { href: volumeExportUrl(vol.id), download: true, title: "segmented NIfTI in the source grid" }, "Download NIfTI"),
        h("button", { title: "shortcuts (?)", onclick: () => (help.hidden = !help.hidden) }, "?")),
      h("div.toolbar", {},
        h("div.group", {}, ...toolButtons.values()),
        h("div.group", {}, h("span.muted", {}, "size"), sizeInput, sizeLabel),
        h("div.group.classes", {}, ...classButtons),
        h("div.group", {}, h("label.inline", {}, overlayToggle, "overlay"), opacityInput),
        h("div.group", {}, h("span.muted", {}, "L"), levelInput, h("span.muted", {}, "W"), widthInput,
          h("button", { title: "window from the 1st-99th percentiles", onclick: () => { wl = { ...autoWindow }; windowChanged(); } }, "auto")),
        h("div.group", {}, h("button", { title: "reset zoom, pan and window (R)", onclick: () => resetView() }, "Reset view")),
        h("div.group", {}, verifiedBtn, acceptBtn, queueBtn, historyBtn, readsBtn)),
      stage,
      h("footer.slicebar", {}, slider, strip, readout),
      help,
    );
    document.title = `${vol.name} · workbench`;

    // ---------- saving ----------
    const saver = new AutoSaver(
      (slice, mask, base) => putLabel(vol.id, slice, mask, base, origins.get(slice) ?? "manual", restoredFrom.get(slice)),
      {
        snapshot: (slice) => (masks.get(slice) ?? new Uint8Array(N)).slice(),
        onIndicator: showSaveState,
        onSaved: (slice, version) => {
          const s = info[slice];
          if (s) {
            s.labelVersion = version;
            s.verified = false;
            s.status = "labelled";
          }
          origins.delete(slice);
          restoredFrom.delete(slice);
          drawStrip();
          if (slice === z) updateSliceUi();
          if (slice === z && !historyEl.hidden) void showHistory();
        },
        onConflict: (slice, currentVersion) => void openConflict(slice, currentVersion),
      },
    );
    for (const s of info) saver.setVersion(s.index, s.labelVersion);
    const data = new SliceData(vol.id, W, H, classCount, info, saver, {
      current: () => z,
      loaded: (slice) => {
        if (slice !== z) return;
        render();
        updateSliceUi();
      },
      failed: (slice, message) => {
        if (slice === z) toast(message, "error");
      },
    });
    cleanups.push(() => data.dispose());
    const { masks, preds, images } = data;
    // Strokes on a deleted volume cannot be saved anywhere: leaving must not ask about them.
    let deleted = false;
    cleanups.push(registerUnsaved(() => !deleted && saver.hasUnsaved));

    let lastRefusal = "";
    function showSaveState(ind: SaveIndicator): void {
      saveEl.className = `save-state ${ind.state}`;
      switch (ind.state) {
        case "saved":
          saveEl.textContent = "saved";
          saveEl.title = "every change is on the server";
          break;
        case "saving":
          saveEl.textContent = "saving…";
          saveEl.title = `${ind.pending} slice(s) waiting`;
          break;
        case "retrying":
          // A 401 is not the network: the sign-in form is up, and saving resumes once it succeeds.
          saveEl.textContent = session() === null ? "signed out – sign in to save" : `offline – retrying in ${Math.ceil(ind.inMs / 1000)} s`;
          saveEl.title = `last error: ${ind.error}; your strokes are kept in this tab`;
          break;
        case "conflict":
          saveEl.textContent = `conflict on slice ${ind.slices.join(", ")}`;
          saveEl.title = "someone else saved these slices: choose which version to keep";
          break;
        case "error":
          saveEl.textContent = "not saved";
          saveEl.title = `${ind.reason}; your strokes are kept in this tab and saved with your next change`;
          if (ind.reason !== lastRefusal) toast(`save refused: ${ind.reason}`, "error");
          break;
      }
      lastRefusal = ind.state === "error" ? ind.reason : "";
    }

    async function openConflict(slice: number, currentVersion: number): Promise<void> {
      const c: Conflict = { theirs: null, version: currentVersion, preview: false };
      conflicts.set(slice, c);
      renderConflict();
      drawStrip();
      try {
        c.theirs = await getLabel(vol.id, slice, W, H, classCount);
        if (c.theirs) c.version = c.theirs.version;
      } catch (err) {
        toast(`could not fetch the other version: ${errorText(err)}`, "error");
      }
      renderConflict();
    }

    function renderConflict(): void {
      clear(conflictEl);
      const first = conflicts.has(z) ? z : [...conflicts.keys()][0];
      if (first === undefined) {
        conflictEl.hidden = true;
        return;
      }
      const c = conflicts.get(first) as Conflict;
      conflictEl.hidden = false;
      const who = c.theirs?.author ? ` by ${c.theirs.author}` : "";
      if (first !== z) {
        conflictEl.append(h("span", {}, `Conflict on slice ${first}. `), h("button", { onclick: () => setSlice(first) }, "Go to slice"));
        return;
      }
      conflictEl.append(
        h("strong", {}, "Conflict: "),
        h("span", {}, `version ${c.version} of slice ${first} was saved${who} while you were editing. Your strokes are kept as a draft; nothing was overwritten. `),
        h("button#show-theirs", { disabled: !c.theirs, onclick: () => { c.preview = !c.preview; renderConflict(); render(); } },
          c.preview ? "Show mine" : "Show theirs"),
        h("button#keep-mine.primary", { onclick: () => keepMine(first) }, "Keep mine (save on top)"),
        h("button#take-theirs", { disabled: !c.theirs, onclick: () => takeTheirs(first) }, "Take theirs"),
      );
      if (c.preview) conflictEl.append(h("span.muted", {}, " (showing theirs)"));
    }

    function keepMine(slice: number): void {
      const c = conflicts.get(slice);
      if (!c) return;
      conflicts.delete(slice);
      saver.keepMine(slice, c.version);
      renderConflict();
      render();
      drawStrip();
    }

    function takeTheirs(slice: number): void {
      const c = conflicts.get(slice);
      if (!c) return;
      const mine = masks.get(slice);
      // Mine stays reachable with Ctrl+Z.
      if (mine) undoFor(slice).record(mine);
      if (c.theirs?.mask) masks.set(slice, c.theirs.mask.slice());
      else masks.delete(slice);
      conflicts.delete(slice);
      saver.takeTheirs(slice, c.version);
      renderConflict();
      render();
      drawStrip();
    }

    // ---------- rendering ----------
    function fitCanvas(): void {
      const rect = stage.getBoundingClientRect();
      const dpr = window.devicePixelRatio || 1;
      const cw = Math.max(1, Math.round(rect.width * dpr));
      const ch = Math.max(1, Math.round(rect.height * dpr));
      if (canvas.width !== cw || canvas.height !== ch) {
        canvas.width = cw;
        canvas.height = ch;
        if (!viewFitted) {
          view = fitView(W, H, cw, ch);
          viewFitted = true;
        }
      }
      const sw = strip.getBoundingClientRect().width;
      if (sw > 0 && strip.width !== Math.round(sw * dpr)) {
        strip.width = Math.round(sw * dpr);
        strip.height = Math.round(14 * dpr);
        drawStrip();
      }
    }

    /** Draws the current slice now (synchronously: switching between cached slices is one call). */
    function render(): void {
      const gray = data.gray(z, wl);
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.fillStyle = "#0b0d12";
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      if (!gray) {
        ctx.fillStyle = "#8891a5";
        ctx.font = `${14 * (window.devicePixelRatio || 1)}px system-ui, sans-serif`;
        ctx.fillText(`loading slice ${z}…`, 20, 30);
        return;
      }
      const c = conflicts.get(z);
      const shown = c?.preview ? c.theirs?.mask ?? null : historyPreview?.slice === z ? historyPreview.mask : masks.get(z) ?? null;
      const pred = preds.get(z);
      compose(gray, overlayOn ? shown : null, overlayOn && pred ? pred.outline : null, palette, pixels);
      offCtx.putImageData(imageData, 0, 0);
      ctx.imageSmoothingEnabled = view.zoom < 1;
      ctx.drawImage(off, view.panX, view.panY, W * view.zoom, H * view.zoom);
      if (cursor && (tool === "brush" || tool === "eraser") && !panning && !windowing) {
        const v = screenToVoxel(view, W, H, cursor.sx, cursor.sy);
        const p = voxelToScreen(view, W, H, v.x, v.y);
        ctx.strokeStyle = tool === "eraser" ? "#ffffff" : project.classes[cls - 1]?.color ?? "#ffffff";
        ctx.lineWidth = 1;
        ctx.beginPath();
        ctx.arc(p.x, p.y, Math.max(1, (brushSize / 2) * view.zoom), 0, Math.PI * 2);
        ctx.stroke();
      }
    }

    let frameRequested = false;
    function requestRender(): void {
      if (frameRequested) return;
      frameRequested = true;
      requestAnimationFrame(() => {
        frameRequested = false;
        if (!disposed) render();
      });
    }

    function drawStrip(): void {
      const sctx = strip.getContext("2d");
      if (!sctx || strip.width === 0) return;
      const cw = strip.width / D;
      sctx.clearRect(0, 0, strip.width, strip.height);
      for (let i = 0; i < D; i++) {
        const s = info[i] as SliceInfo;
        const unsaved = saver.isDirty(i);
        sctx.fillStyle = conflicts.has(i) ? "#ef4444" : STATUS_COLORS[s.verified ? "verified" : s.status] ?? "#444";
        sctx.fillRect(Math.floor(i * cw), 2, Math.max(1, Math.ceil(cw) - (cw > 4 ? 1 : 0)), strip.height - 4);
        if (unsaved) {
          sctx.fillStyle = "#facc15";
          sctx.fillRect(Math.floor(i * cw), 0, Math.max(1, Math.ceil(cw) - 1), 2);
        }
      }
      sctx.strokeStyle = "#ffffff";
      sctx.lineWidth = 2;
      sctx.strokeRect(Math.floor(z * cw) + 1, 1, Math.max(2, Math.ceil(cw) - 2), strip.height - 2);
    }

    function updateSliceUi(): void {
      const s = info[z] as SliceInfo;
      sliceLabel.textContent = `slice ${z} / ${D - 1} · ${s.verified ? "verified" : s.status}`;
      slider.value = String(z);
      verifiedBtn.classList.toggle("on", s.verified);
      verifiedBtn.textContent = s.verified ? "✓ Verified" : "Mark verified";
      const pred = preds.get(z);
      acceptBtn.disabled = !pred;
      acceptBtn.title = pred ? `copy the prediction into the label (A)${pred.uncertainty !== null ? `; uncertainty ${pred.uncertainty.toFixed(3)}` : ""}` : "no prediction for this slice";
      queueBtn.disabled = queue.length === 0;
      queueBtn.textContent = queue.length ? `Next uncertain (${queue.length})` : "Next uncertain";
      renderConflict();
    }

    function setSlice(next: number): void {
      const target = Math.min(D - 1, Math.max(0, Math.round(next)));
      if (target === z && viewFitted) return;
      z = target;
      historyPreview = null;
      if (!historyEl.hidden) void showHistory();
      if (reads.open) void reads.show(z);
      render();
      updateSliceUi();
      drawStrip();
      data.ensure(z);
      data.prefetchAround(z);
      // The address follows the slice for reloads and links; browsers throttle rapid history updates.
      if (urlTimer) clearTimeout(urlTimer);
      urlTimer = setTimeout(() => {
        if (!disposed) history.replaceState(null, "", `/volumes/${vol.id}?z=${z}`);
      }, 300);
    }
    let urlTimer: ReturnType<typeof setTimeout> | null = null;

    function windowChanged(): void {
      levelInput.value = String(+wl.center.toPrecision(5));
      widthInput.value = String(+wl.width.toPrecision(5));
      render();
    }

    function resetView(): void {
      view = fitView(W, H, canvas.width, canvas.height);
      wl = { ...autoWindow };
      windowChanged();
    }

    function setTool(t: Tool): void {
      tool = t;
      for (const [k, b] of toolButtons) b.classList.toggle("on", k === t);
      canvas.style.cursor = t === "fill" ? "cell" : "crosshair";
      render();
    }

    function setClass(k: number): void {
      if (k < 1 || k > classCount) return;
      cls = k;
      classButtons.forEach((b, i) => b.classList.toggle("on", i + 1 === k));
      if (tool === "eraser") setTool("brush");
    }

    function setBrushSize(s: number): void {
      brushSize = Math.min(60, Math.max(1, Math.round(s)));
      disk = diskOffsets(brushSize);
      sizeInput.value = String(brushSize);
      sizeLabel.textContent = String(brushSize);
      render();
    }

    function undoFor(slice: number): UndoStack {
      let u = undos.get(slice);
      if (!u) {
        u = new UndoStack(N);
        undos.set(slice, u);
      }
      return u;
    }

    function editable(): boolean {
      if (!data.labelReady(z)) {
        toast("the label of this slice is still loading");
        void data.loadLabel(z);
        return false;
      }
      if (conflicts.has(z)) {
        toast("resolve the conflict on this slice first", "error");
        return false;
      }
      return true;
    }

    function maskForEdit(): Uint8Array {
      let m = masks.get(z);
      if (!m) {
        m = new Uint8Array(N);
        masks.set(z, m);
      }
      return m;
    }

    function applyUndo(redo: boolean): void {
      if (!editable()) return;
      const current = maskForEdit();
      const u = undoFor(z);
      const restored = redo ? u.redo(current) : u.undo(current);
      if (!restored) {
        toast(redo ? "nothing to redo on this slice" : "nothing to undo on this slice");
        return;
      }
      masks.set(z, restored);
      origins.set(z, "manual");
      saver.changed(z);
      render();
      drawStrip();
    }

    function acceptPrediction(): void {
      const p = preds.get(z);
      if (!p) {
        toast("no prediction for this slice");
        return;
      }
      if (!editable()) return;
      undoFor(z).record(maskForEdit());
      masks.set(z, p.mask.slice());
      origins.set(z, "prediction");
      saver.changed(z);
      render();
      drawStrip();
      toast("prediction accepted into the label: correct it as needed");
    }

    async function toggleVerified(): Promise<void> {
      const slice = z;
      const s = info[slice] as SliceInfo;
      await saver.whenIdle();
      if (saver.version(slice) === 0) {
        toast("paint or accept a label before verifying this slice", "error");
        return;
      }
      try {
        const label = await setVerified(vol.id, slice, !s.verified, saver.version(slice));
        saver.setVersion(slice, label.version);
        s.labelVersion = label.version;
        s.verified = label.verified ?? !s.verified;
        s.status = s.verified ? "verified" : "labelled";
        drawStrip();
        if (slice === z) updateSliceUi();
      } catch (err) {
        toast(`could not change verified: ${errorText(err)}`, "error");
      }
    }

    function nextInQueue(): void {
      while (queue.length > 0) {
        const item = queue.shift() as ReviewItem;
        if (String(item.volumeId) === String(vol.id)) {
          const s = info[item.slice];
          if (!s || s.labelVersion > 0) continue;
          setSlice(item.slice);
          updateSliceUi();
          return;
        }
        navigate(`/volumes/${item.volumeId}?z=${item.slice}`);
        return;
      }
      toast("the review queue is empty");
      updateSliceUi();
    }

    // ---------- label history ----------
    let historyPreview: { slice: number; version: number; mask: Uint8Array } | null = null;

    async function showHistory(): Promise<void> {
      const slice = z;
      historyEl.hidden = false;
      historyBtn.classList.add("on");
      stage.classList.add("with-history");
      clear(historyEl);
      historyEl.append(h("h3", {}, `Slice ${slice}: label history`));
      if (saver.version(slice) === 0) {
        historyEl.append(h("p.muted", {}, "never labelled"));
        return;
      }
      let versions;
      try {
        versions = await labelHistory(vol.id, slice);
      } catch (err) {
        historyEl.append(h("p.error", {}, errorText(err)));
        return;
      }
      if (slice !== z || historyEl.hidden) return;
      const list = h("ol.versions");
      for (const v of versions) {
        const when = v.createdAt ? new Date(v.createdAt).toLocaleString() : "";
        const previewing = historyPreview?.slice === slice && historyPreview.version === v.version;
        const tags = [v.origin === "prediction" ? "accepted prediction" : "", v.verified ? "verified" : "", v.deleted ? "deleted" : ""].filter(Boolean).join(", ");
        list.append(h("li", { "data-version": v.version },
          h("div", {}, h("strong", {}, `v${v.version}`), ` ${v.author ?? ""}`, tags ? h("span.muted", {}, ` · ${tags}`) : null),
          h("div.muted.small", {}, when),
          v.deleted ? null : h("div.row", {},
            h("button.small", { onclick: () => void previewVersion(slice, v.version) }, previewing ? "Hide" : "Show"),
            v.version === saver.version(slice) && !saver.isDirty(slice) ? h("span.muted.small", {}, "current") :
              h("button.small", { onclick: () => void restoreVersion(slice, v.version) }, "Restore")),
        ));
      }
      historyEl.append(list, h("p.muted.small", {}, "Restore saves that version again on top; nothing is removed from the history."));
    }

    function hideHistory(): void {
      historyEl.hidden = true;
      historyBtn.classList.remove("on");
      stage.classList.remove("with-history");
      if (historyPreview) {
        historyPreview = null;
        render();
      }
    }

    async function previewVersion(slice: number, version: number): Promise<void> {
      if (historyPreview?.slice === slice && historyPreview.version === version) {
        historyPreview = null;
      } else {
        try {
          historyPreview = { slice, version, mask: await getLabelVersion(vol.id, slice, version, W, H, classCount) };
        } catch (err) {
          toast(`could not load version ${version}: ${errorText(err)}`, "error");
          return;
        }
      }
      render();
      void showHistory();
    }

    async function restoreVersion(slice: number, version: number): Promise<void> {
      if (slice !== z || !editable()) return;
      let mask: Uint8Array;
      try {
        mask = await getLabelVersion(vol.id, slice, version, W, H, classCount);
      } catch (err) {
        toast(`could not load version ${version}: ${errorText(err)}`, "error");
        return;
      }
      undoFor(slice).record(maskForEdit());
      masks.set(slice, mask);
      origins.set(slice, "manual");
      restoredFrom.set(slice, version);
      historyPreview = null;
      saver.changed(slice);
      render();
      drawStrip();
      toast(`version ${version} restored: saving it as the newest version`);
      await saver.whenIdle();
      if (!historyEl.hidden && z === slice) void showHistory();
    }

    historyBtn.addEventListener("click", () => (historyEl.hidden ? void showHistory() : hideHistory()));

    // ---------- pointer input ----------
    let painting: { before: Uint8Array; last: { x: number; y: number }; changed: boolean; pointerId: number } | null = null;
    let panning: { sx: number; sy: number; view: View } | null = null;
    let windowing: { sx: number; sy: number; wl: WindowLevel } | null = null;
    let spaceHeld = false;

    const canvasPoint = (e: MouseEvent) => {
      const r = canvas.getBoundingClientRect();
      const dpr = canvas.width / Math.max(1, r.width);
      return { sx: (e.clientX - r.left) * dpr, sy: (e.clientY - r.top) * dpr };
    };

    function paintTo(x: number, y: number): void {
      if (!painting) return;
      const mask = maskForEdit();
      const value = tool === "eraser" ? 0 : cls;
      const n = strokeSegment(mask, W, H, painting.last.x, painting.last.y, x, y, disk, value);
      painting.last = { x, y };
      // The undo step is recorded on the stroke's first change, so clicks that change nothing leave no step.
      if (n > 0 && !painting.changed) {
        painting.changed = true;
        undoFor(z).record(painting.before);
        origins.set(z, "manual");
        saver.changed(z);
        drawStrip();
      }
      if (n > 0) requestRender();
    }

    canvas.addEventListener("contextmenu", (e) => e.preventDefault());
    canvas.addEventListener("pointerdown", (e) => {
      canvas.focus();
      const p = canvasPoint(e);
      if (e.button === 1 || (e.button === 0 && spaceHeld)) {
        e.preventDefault();
        panning = { sx: p.sx, sy: p.sy, view };
        canvas.setPointerCapture(e.pointerId);
        return;
      }
      if (e.button === 2) {
        windowing = { sx: p.sx, sy: p.sy, wl };
        canvas.setPointerCapture(e.pointerId);
        return;
      }
      if (e.button !== 0) return;
      const v = screenToVoxel(view, W, H, p.sx, p.sy);
      if (!inGrid(v, W, H) || !editable()) return;
      if (tool === "fill") {
        const mask = maskForEdit();
        const before = mask.slice();
        const res = floodFill(mask, W, H, v.x, v.y, cls);
        if (res.filled > 0) {
          undoFor(z).record(before);
          origins.set(z, "manual");
          saver.changed(z);
          render();
          drawStrip();
        } else if ("reason" in res) {
          toast(`fill: ${res.reason}`);
        }
        return;
      }
      canvas.setPointerCapture(e.pointerId);
      saver.hold(z, true);
      painting = { before: maskForEdit().slice(), last: v, changed: false, pointerId: e.pointerId };
      paintTo(v.x, v.y);
    });

    canvas.addEventListener("pointermove", (e) => {
      const p = canvasPoint(e);
      cursor = p;
      if (panning) {
        view = panBy(panning.view, p.sx - panning.sx, p.sy - panning.sy);
        requestRender();
        return;
      }
      if (windowing) {
        wl = dragWindow(windowing.wl, p.sx - windowing.sx, windowing.sy - p.sy, Math.max(1e-6, vol.stats.p99 - vol.stats.p1) * 2);
        levelInput.value = String(+wl.center.toPrecision(5));
        widthInput.value = String(+wl.width.toPrecision(5));
        requestRender();
        return;
      }
      const v = screenToVoxel(view, W, H, p.sx, p.sy);
      if (painting) {
        // Coalesced events carry the intermediate pointer positions of a fast stroke.
        const events: PointerEvent[] = typeof e.getCoalescedEvents === "function" ? e.getCoalescedEvents() : [];
        for (const ce of events.length ? events : [e]) {
          const q = canvasPoint(ce);
          const cv = screenToVoxel(view, W, H, q.sx, q.sy);
          paintTo(cv.x, cv.y);
        }
      }
      updateReadout(v);
      requestRender();
    });

    const endPointer = (e: PointerEvent) => {
      if (painting && e.pointerId === painting.pointerId) {
        painting = null;
        saver.hold(z, false);
      }
      panning = null;
      windowing = null;
      if (canvas.hasPointerCapture(e.pointerId)) canvas.releasePointerCapture(e.pointerId);
    };
    canvas.addEventListener("pointerup", endPointer);
    canvas.addEventListener("pointercancel", endPointer);
    canvas.addEventListener("pointerleave", () => {
      cursor = null;
      readout.textContent = "";
      requestRender();
    });
    canvas.addEventListener("wheel", (e) => {
      e.preventDefault();
      const p = canvasPoint(e);
      view = zoomAt(view, Math.exp(-e.deltaY * 0.0015), p.sx, p.sy);
      render();
    }, { passive: false });

    function updateReadout(v: { x: number; y: number }): void {
      if (!inGrid(v, W, H)) {
        readout.textContent = "";
        return;
      }
      const img = images.get(z);
      const val = img ? img[v.y * W + v.x] : undefined;
      const c = masks.get(z)?.[v.y * W + v.x] ?? 0;
      const name = c > 0 ? project.classes[c - 1]?.name : "";
      readout.textContent = `x ${v.x}  y ${v.y}  z ${z}  ·  ${val === undefined ? "…" : +val.toPrecision(5)}${name ? `  ·  ${name}` : ""}`;
    }

    // ---------- controls ----------
    slider.addEventListener("input", () => setSlice(Number(slider.value)));
    strip.addEventListener("click", (e) => {
      const r = strip.getBoundingClientRect();
      setSlice(Math.floor(((e.clientX - r.left) / r.width) * D));
    });
    sizeInput.addEventListener("input", () => setBrushSize(Number(sizeInput.value)));
    opacityInput.addEventListener("input", () => {
      opacity = Number(opacityInput.value);
      palette = new Palette(project.classes.map((c) => parseColor(c.color)), opacity);
      render();
    });
    overlayToggle.addEventListener("change", () => {
      overlayOn = overlayToggle.checked;
      render();
    });
    const fieldWindow = () => {
      const c = Number(levelInput.value);
      const w = Number(widthInput.value);
      if (Number.isFinite(c) && Number.isFinite(w) && w > 0) {
        wl = { center: c, width: w };
        render();
      }
    };
    levelInput.addEventListener("change", fieldWindow);
    widthInput.addEventListener("change", fieldWindow);
    verifiedBtn.addEventListener("click", () => void toggleVerified());
    acceptBtn.addEventListener("click", acceptPrediction);
    queueBtn.addEventListener("click", nextInQueue);

    listen(window, "keydown", (e) => {
      const t = e.target as HTMLElement | null;
      if (t && (t.tagName === "INPUT" && (t as HTMLInputElement).type !== "range" && (t as HTMLInputElement).type !== "checkbox" || t.tagName === "TEXTAREA")) return;
      const ctrl = e.ctrlKey || e.metaKey;
      const key = e.key;
      if (ctrl && (key === "z" || key === "Z")) {
        e.preventDefault();
        applyUndo(e.shiftKey);
        return;
      }
      if (ctrl && (key === "y" || key === "Y")) {
        e.preventDefault();
        applyUndo(true);
        return;
      }
      if (ctrl || e.altKey) return;
      let handled = true;
      switch (key) {
        case "ArrowUp":
        case "ArrowRight":
          setSlice(z + 1);
          break;
        case "ArrowDown":
        case "ArrowLeft":
          setSlice(z - 1);
          break;
        case "PageUp":
          setSlice(z + 5);
          break;
        case "PageDown":
          setSlice(z - 5);
          break;
        case "Home":
          setSlice(0);
          break;
        case "End":
          setSlice(D - 1);
          break;
        case "[":
          setBrushSize(brushSize - (brushSize > 10 ? 2 : 1));
          break;
        case "]":
          setBrushSize(brushSize + (brushSize >= 10 ? 2 : 1));
          break;
        case "b":
        case "B":
          setTool("brush");
          break;
        case "e":
        case "E":
          setTool("eraser");
          break;
        case "f":
        case "F":
          setTool("fill");
          break;
        case "o":
        case "O":
          overlayToggle.checked = !overlayToggle.checked;
          overlayOn = overlayToggle.checked;
          render();
          break;
        case "r":
        case "R":
          resetView();
          break;
        case "a":
        case "A":
          acceptPrediction();
          break;
        case "v":
        case "V":
          void toggleVerified();
          break;
        case "n":
        case "N":
          nextInQueue();
          break;
        case "h":
        case "H":
          if (historyEl.hidden) void showHistory();
          else hideHistory();
          break;
        case "?":
          help.hidden = !help.hidden;
          break;
        case "Escape":
          help.hidden = true;
          break;
        case " ":
          // Space must not also press a focused toolbar button.
          if (document.activeElement instanceof HTMLButtonElement) document.activeElement.blur();
          spaceHeld = true;
          canvas.style.cursor = "grab";
          break;
        default:
          if (/^[1-9]$/.test(key)) setClass(Number(key));
          else handled = false;
      }
      if (handled) e.preventDefault();
    });
    listen(window, "keyup", (e) => {
      if (e.key === " ") {
        spaceHeld = false;
        setTool(tool);
      }
    });
    listen(window, "online", () => saver.retryNow());
    listen(window, "resize", () => {
      fitCanvas();
      render();
    });

    // ---------- live updates ----------
    /** Another model is active (a run finished, or a user picked one): new statuses, uncertainties and overlays. */
    function reloadPredictions(): void {
      getVolume(vol.id).then((fresh) => {
        if (disposed) return;
        for (const s of fresh.slices) {
          const mine = info[s.index];
          if (!mine) continue;
          mine.uncertainty = s.uncertainty;
          // Label statuses are this tab's to track (its unsaved strokes); only prediction states follow the model.
          if (unlabelledStatus(mine.status) && unlabelledStatus(s.status)) mine.status = s.status;
        }
        preds.clear();
        data.ensure(z);
        void data.prefetchVolume(z);
        drawStrip();
        updateSliceUi();
        render();
      }).catch(() => {});
      reviewQueue(vol.projectId, 100).then((q) => {
        queue = q.filter((it) => !(String(it.volumeId) === String(vol.id) && it.slice === z));
        updateSliceUi();
      }).catch(() => {});
    }

    /** The volume (or its whole project) was deleted elsewhere: stop everything and say so. */
    function showDeleted(what: "volume" | "project"): void {
      deleted = true;
      disposed = true;
      for (const c of cleanups) c();
      cleanups.length = 0;
      clear(root);
      const back = what === "volume"
        ? h("a#deleted-back", { href: `/projects/${vol.projectId}` }, `Back to project "${project.name}"`)
        : h("a#deleted-back", { href: "/" }, "Back to the projects");
      root.append(h("header.bar", {}, h("a.back", { href: what === "volume" ? `/projects/${vol.projectId}` : "/" }, "← Back"), h("h1", {}, vol.name)),
        h("section.page", {},
          h("p#deleted.error", {}, what === "volume"
            ? `Volume "${vol.name}" was deleted (in another tab or by another user); its labels are gone.`
            : `Project "${project.name}" was deleted (in another tab or by another user), with this volume and its labels.`),
          h("p", {}, back)));
      document.title = `deleted · workbench`;
    }

    function onEvent(ev: ServerEvent): void {
      const gone = deletedBy(ev, vol.projectId, vol.id);
      if (gone) {
        showDeleted(gone);
        return;
      }
      if (ev.type === "predictions" || ev.type === "activeModel") {
        reloadPredictions();
        return;
      }
      if (ev.type === "label") onLabel(ev);
    }

    /** A slice's new label version, from another tab's event or from the volume reloaded after a reconnect. */
    function onLabel(e: Pick<LabelEvent, "slice" | "version" | "verified" | "deleted"> & { volumeId: Id }): void {
      if (String(e.volumeId) !== String(vol.id) || ownReads) return;
      const s = info[e.slice];
      if (!s || e.version <= saver.version(e.slice)) return;
      s.labelVersion = e.version;
      s.verified = e.verified;
      // A deleted label leaves the slice to the active model's prediction where it has one.
      s.status = e.deleted ? (s.uncertainty != null ? "predicted" : "unlabelled") : e.verified ? "verified" : "labelled";
      drawStrip();
      if (e.slice === z) updateSliceUi();
      if (e.slice === z && !historyEl.hidden) void showHistory();
      // Our unsaved strokes win locally; their save will report the conflict and keep both.
      if (saver.isDirty(e.slice)) return;
      if (e.deleted) {
        masks.delete(e.slice);
        saver.setVersion(e.slice, e.version);
        if (e.slice === z) render();
        return;
      }
      if (data.labelReady(e.slice) || e.slice === z) void data.loadLabel(e.slice, true);
    }
    const events = new ProjectEvents(vol.projectId, onEvent, (c: Connection, retry?: number) => {
      connEl.className = `conn ${c}`;
      connEl.textContent = c === "live" ? "live" : c === "connecting" ? "connecting…" : `reconnecting${retry ? ` in ${Math.ceil(retry / 1000)} s` : "…"}`;
    }, () => {
      // Missed events while disconnected: reload the slices' versions.
      getVolume(vol.id).then((fresh) => {
        for (const s of fresh.slices) {
          const mine = info[s.index];
          if (mine && s.labelVersion > saver.version(s.index)) onLabel({ volumeId: vol.id, slice: s.index, version: s.labelVersion, verified: s.verified, deleted: labelDeleted(s) });
        }
      }).catch(() => {});
    });
    cleanups.push(() => events.close());

    reviewQueue(vol.projectId, 100).then((q) => {
      queue = q.filter((it) => !(String(it.volumeId) === String(vol.id) && it.slice === z));
      updateSliceUi();
    }).catch(() => {});

    // ---------- start ----------
    const ro = new ResizeObserver(() => {
      fitCanvas();
      render();
    });
    ro.observe(stage);
    cleanups.push(() => ro.disconnect());
    setTool("brush");
    setClass(1);
    setBrushSize(brushSize);
    fitCanvas();
    windowChanged();
    updateSliceUi();
    drawStrip();
    data.ensure(z);
    data.prefetchAround(z);
    void data.prefetchVolume(z);

    window.workbench = {
      ready: true,
      slice: () => z,
      shape: () => [W, H, D],
      setSlice,
      setClass,
      setTool,
      setBrushSize,
      voxelToClient: (x, y) => {
        const p = voxelToScreen(view, W, H, x, y);
        const r = canvas.getBoundingClientRect();
        const k = r.width / canvas.width;
        return { x: r.left + p.x * k, y: r.top + p.y * k };
      },
      classCounts: (slice) => {
        const m = masks.get(slice);
        return m ? countClasses(m, classCount) : null;
      },
      saveState: () => saveEl.className.replace("save-state ", ""),
      hasUnsaved: () => saver.hasUnsaved,
      labelVersion: (slice) => saver.version(slice),
      cachedSlices: () => [...images.keys()].sort((a, b) => a - b),
      conflicts: () => [...conflicts.keys()],
      whenSaved: () => saver.whenIdle(),
    };
    cleanups.push(() => {
      window.workbench = undefined;
    });
  }

  return () => {
    disposed = true;
    for (const c of cleanups) c();
  };
}
