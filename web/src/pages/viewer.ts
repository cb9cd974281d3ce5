// The slice viewer and painter: radiological display, window/level, zoom/pan, brush/eraser/fill, undo/redo,
// autosave with conflict handling, live updates from other tabs, and review of model predictions.
// This page wires the modules of viewer/ together: state.ts (the state object), keymap.ts (keys -> actions),
// plane.ts (drawing), pointer.ts (painting), editing.ts, review.ts, history.ts, conflicts.ts, live.ts.
import { getProject, getVolume, getVolumePayload, putLabel, type Id, type Project, type SliceInfo, type VolumeDetail } from "../api";
import { clear, errorText, h, toast } from "../dom";
import { AutoSaver } from "../lib/autosave";
import { defaultWindow } from "../lib/windowlevel";
import type { Navigate } from "../router";
import { session } from "../session";
import { registerUnsaved } from "../unsaved";
import { renderConflict, openConflict } from "../viewer/conflicts";
import type { EditState, ViewerContext } from "../viewer/context";
import { applyUndo } from "../viewer/editing";
import { historyOpen, showHistory, toggleHistory } from "../viewer/history";
import { installHook } from "../viewer/hook";
import { keydownHandler, type ActionHandlers } from "../viewer/keyboard";
import { connectLive, onLabel, type LiveHooks } from "../viewer/live";
import { attachModelPicker } from "../viewer/modelpick";
import { PlaneView, makePalette } from "../viewer/plane";
import { PlaneInput } from "../viewer/planeinput";
import { PLANES, isLayout, layoutKey, stepAlongNormal, type Layout, type PlaneKind, type Voxel } from "../viewer/planes";
import { PointerInput, showReadout } from "../viewer/pointer";
import { acceptPrediction, nextInQueue, refreshQueue, toggleVerified } from "../viewer/review";
import { saveIndicator } from "../viewer/saveindicator";
import { clampBrush, clampSlice, createState, validClass, type Tool } from "../viewer/state";
import { drawStrip, fitStrip } from "../viewer/strip";
import { ToolsPanel } from "../viewer/tools-panel";
import { buildUi } from "../viewer/ui";
import { VolumeImage, parseMasks } from "../viewer/volume";
import { readsPanel } from "./reads";
import { SliceData } from "./slicedata";

export function viewerPage(root: HTMLElement, vid: Id, initialZ: number | null, navigate: Navigate): () => void {
  let disposed = false;
  const cleanups: Array<() => void> = [];
  const listen = <K extends keyof WindowEventMap>(type: K, fn: (e: WindowEventMap[K]) => void, opts?: AddEventListenerOptions) => {
    window.addEventListener(type, fn, opts);
    cleanups.push(() => window.removeEventListener(type, fn, opts));
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
    const storedLayout = safeStorage(() => localStorage.getItem(layoutKey(session()?.name)));
    const state = createState(vol.shape, classCount, defaultWindow(vol.stats), initialZ, isLayout(storedLayout) ? storedLayout : "1x3");
    const edits: EditState = { undos: new Map(), origins: new Map(), restoredFrom: new Map(), conflicts: new Map(), historyPreview: null };

    // Several annotators per slice: an annotator edits its own read, so the labels others save are not its
    // base; a reviewer gets the panel of every read (pages/reads.ts).
    const severalReads = (project.readsMode ?? "single") !== "single";
    const live: LiveHooks = {
      ownReads: severalReads && session()?.authenticated === true && session()?.role === "annotator",
      deleted: (what) => showDeleted(what),
    };
    const reads = readsPanel(vol, project, (l) => onLabel(v, live, { volumeId: vol.id, slice: l.slice ?? state.z, version: l.version, verified: l.verified === true, deleted: l.deleted === true }));
    clear(root);
    const ui = buildUi(root, vol, project, state, reads.el, severalReads);
    document.title = `${vol.name} · workbench`;

    // ---------- saving and data ----------
    const saver = new AutoSaver(
      (slice, mask, base) => putLabel(vol.id, slice, mask, base, edits.origins.get(slice) ?? "manual", edits.restoredFrom.get(slice)),
      {
        snapshot: (slice) => (data.masks.get(slice) ?? new Uint8Array(N)).slice(),
        onIndicator: saveIndicator(ui.saveEl),
        onSaved: (slice, version) => {
          const s = info[slice];
          if (s) {
            s.labelVersion = version;
            s.verified = false;
            s.status = "labelled";
          }
          edits.origins.delete(slice);
          edits.restoredFrom.delete(slice);
          v.drawStrip();
          if (slice === state.z) updateSliceUi();
          if (slice === state.z && historyOpen(v)) void showHistory(v);
        },
        onConflict: (slice, currentVersion) => void openConflict(v, slice, currentVersion),
      },
    );
    for (const s of info) saver.setVersion(s.index, s.labelVersion);
    const data = new SliceData(vol.id, W, H, classCount, info, saver, {
      current: () => state.z,
      loaded: (slice) => {
        // Another slice's label or prediction shows in the reformats: redraw them on the next frame.
        if (slice !== state.z) {
          if (v.volume) requestRender();
          return;
        }
        tools.sliceOpened(slice);
        render();
        updateSliceUi();
        showReadout(v);
      },
      failed: (slice, message) => {
        if (slice === state.z) toast(message, "error");
      },
    });
    cleanups.push(() => data.dispose());
    // Strokes on a deleted volume cannot be saved anywhere: leaving must not ask about them.
    let deleted = false;
    cleanups.push(registerUnsaved(() => !deleted && saver.hasUnsaved));

    const tools = new ToolsPanel();
    const v: ViewerContext = {
      vol, project, W, H, D, N, info, state, ui, saver, data, edits, tools,
      queue: [],
      palette: null as unknown as ViewerContext["palette"],
      volume: null,
      volumeError: null,
      marks: { firstDrawn: null, volumeReady: null },
      disposed: () => disposed,
      render: () => render(),
      requestRender,
      setSlice,
      moveCross,
      updateSliceUi: () => updateSliceUi(),
      drawStrip: () => drawStrip(v),
    };
    v.palette = makePalette(v);
    tools.attach(v);
    const planes = {} as Record<PlaneKind, PlaneView>;
    for (const kind of PLANES) planes[kind] = new PlaneView(v, kind, ui.canvases[kind]);
    const pointer = new PointerInput(v, planes.axial);
    new PlaneInput(v, planes.sagittal, () => windowChanged());
    new PlaneInput(v, planes.coronal, () => windowChanged());

    // ---------- drawing ----------
    function render(sliceChangeOnly = false): void {
      for (const kind of PLANES) planes[kind].render(sliceChangeOnly);
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
    function fitCanvas(): void {
      for (const kind of PLANES) planes[kind].fit();
      if (fitStrip(ui.strip)) v.drawStrip();
    }

    function updateSliceUi(): void {
      const z = state.z;
      const s = info[z] as SliceInfo;
      ui.sliceLabel.textContent = `slice ${z} / ${D - 1} · ${s.verified ? "verified" : s.status}`;
      ui.slider.value = String(z);
      ui.verifiedBtn.classList.toggle("on", s.verified);
      ui.verifiedBtn.textContent = s.verified ? "✓ Verified" : "Mark verified";
      const pred = data.preds.get(z);
      ui.acceptBtn.disabled = !pred;
      ui.acceptBtn.title = pred ? `copy the prediction into the label (A)${pred.uncertainty !== null ? `; uncertainty ${pred.uncertainty.toFixed(3)}` : ""}` : "no prediction for this slice";
      ui.queueBtn.disabled = v.queue.length === 0;
      ui.queueBtn.textContent = v.queue.length ? `Next uncertain (${v.queue.length})` : "Next uncertain";
      renderConflict(v);
    }

    // ---------- controls ----------
    let urlTimer: ReturnType<typeof setTimeout> | null = null;
    function setSlice(next: number): void {
      const target = clampSlice(next, D);
      if (target === state.z && state.viewFitted) return;
      state.z = target;
      // A previewed history version leaves the reformats too, so they are recomposed.
      const hadPreview = edits.historyPreview !== null;
      edits.historyPreview = null;
      if (historyOpen(v)) void showHistory(v);
      if (reads.open) void reads.show(target);
      tools.sliceOpened(target);
      render(!hadPreview);
      updateSliceUi();
      v.drawStrip();
      showReadout(v);
      data.ensure(target);
      data.prefetchAround(target);
      // The address follows the slice for reloads and links; browsers throttle rapid history updates.
      if (urlTimer) clearTimeout(urlTimer);
      urlTimer = setTimeout(() => {
        if (!disposed) history.replaceState(null, "", `/volumes/${vol.id}?z=${state.z}`);
      }, 300);
    }

    function moveCross(at: Voxel): void {
      const x = clampSlice(at.x, W);
      const y = clampSlice(at.y, H);
      const moved = x !== state.cross.x || y !== state.cross.y;
      state.cross = { x, y };
      if (clampSlice(at.z, D) !== state.z) setSlice(at.z);
      else if (moved) {
        render();
        showReadout(v);
      }
    }

    function setLayout(l: Layout): void {
      state.layout = l;
      ui.layoutSelect.value = l;
      ui.planes.className = `planes layout-${l}`;
      safeStorage(() => localStorage.setItem(layoutKey(session()?.name), l));
      fitCanvas();
      render();
    }

    /** Keys act on the plane under the pointer: the axial one changes the slice, the others move the crosshair. */
    function stepPlane(d: number | "first" | "last"): void {
      if (state.activePlane === "axial" || state.layout === "axial") {
        setSlice(d === "first" ? 0 : d === "last" ? D - 1 : state.z + d);
        return;
      }
      moveCross(stepAlongNormal(state.activePlane, { w: W, h: H, d: D }, { x: state.cross.x, y: state.cross.y, z: state.z }, d));
    }

    /** Focus back to the viewer: out of the L/W fields (or any control), so the keys page through slices again. */
    function focusViewer(): void {
      ui.help.hidden = true;
      const active = document.activeElement;
      if (active instanceof HTMLElement && active !== document.body) active.blur();
      planes[state.activePlane].canvas.focus({ preventScroll: true });
    }

    function windowChanged(): void {
      ui.levelInput.value = String(+state.wl.center.toPrecision(5));
      ui.widthInput.value = String(+state.wl.width.toPrecision(5));
      render();
    }

    function resetView(): void {
      for (const kind of PLANES) planes[kind].resetView();
      state.wl = { ...state.autoWindow };
      windowChanged();
    }

    function setTool(t: Tool): void {
      state.tool = t;
      for (const [k, b] of ui.toolButtons) b.classList.toggle("on", k === t);
      ui.canvas.style.cursor = t === "fill" ? "cell" : "crosshair";
      render();
    }

    function setClass(k: number): void {
      if (!validClass(k, classCount)) return;
      state.cls = k;
      ui.classButtons.forEach((b, i) => b.classList.toggle("on", i + 1 === k));
      if (state.tool === "eraser") setTool("brush");
    }

    function setBrushSize(s: number): void {
      state.brushSize = clampBrush(s);
      pointer.brushChanged();
      ui.sizeInput.value = String(state.brushSize);
      ui.sizeLabel.textContent = String(state.brushSize);
      render();
    }

    function setOverlay(on: boolean): void {
      state.overlayOn = on;
      ui.overlayToggle.checked = on;
      render();
    }

    for (const [t, b] of ui.toolButtons) b.addEventListener("click", () => setTool(t));
    ui.classButtons.forEach((b, i) => b.addEventListener("click", () => setClass(i + 1)));
    ui.readsBtn.addEventListener("click", () => {
      reads.toggle(state.z);
      ui.readsBtn.classList.toggle("on", reads.open);
    });
    ui.slider.addEventListener("input", () => setSlice(Number(ui.slider.value)));
    ui.strip.addEventListener("click", (e) => {
      const r = ui.strip.getBoundingClientRect();
      setSlice(Math.floor(((e.clientX - r.left) / r.width) * D));
    });
    ui.sizeInput.addEventListener("input", () => setBrushSize(Number(ui.sizeInput.value)));
    ui.opacityInput.addEventListener("input", () => {
      state.opacity = Number(ui.opacityInput.value);
      v.palette = makePalette(v);
      render();
    });
    ui.overlayToggle.addEventListener("change", () => setOverlay(ui.overlayToggle.checked));
    const fieldWindow = () => {
      const c = Number(ui.levelInput.value);
      const w = Number(ui.widthInput.value);
      if (Number.isFinite(c) && Number.isFinite(w) && w > 0) {
        state.wl = { center: c, width: w };
        render();
      }
    };
    ui.levelInput.addEventListener("change", fieldWindow);
    ui.widthInput.addEventListener("change", fieldWindow);
    // Enter in a window field applies it and gives the keyboard back, so the arrows page through slices again.
    for (const f of [ui.levelInput, ui.widthInput]) {
      f.addEventListener("keydown", (e) => {
        if (e.key !== "Enter") return;
        fieldWindow();
        focusViewer();
      });
    }
    ui.autoWindowBtn.addEventListener("click", () => tools.applyWindow("structure"));
    ui.resetBtn.addEventListener("click", resetView);
    ui.verifiedBtn.addEventListener("click", () => void toggleVerified(v));
    ui.acceptBtn.addEventListener("click", () => void acceptPrediction(v));
    ui.queueBtn.addEventListener("click", () => nextInQueue(v, navigate));
    ui.historyBtn.addEventListener("click", () => toggleHistory(v));
    ui.layoutSelect.addEventListener("change", () => {
      if (isLayout(ui.layoutSelect.value)) setLayout(ui.layoutSelect.value);
    });

    const models = attachModelPicker(v);
    v.refreshModels = models.refresh;
    const actions: ActionHandlers = {
      slice: stepPlane,
      pickClass: setClass,
      tool: setTool,
      brushSize: setBrushSize,
      brushSizeNow: () => state.brushSize,
      undo: (redo) => applyUndo(v, redo),
      toggleOverlay: () => setOverlay(!state.overlayOn),
      accept: () => void acceptPrediction(v),
      toggleVerified: () => void toggleVerified(v),
      nextInQueue: () => nextInQueue(v, navigate),
      resetView,
      toggleHistory: () => toggleHistory(v),
      toggleHelp: () => (ui.help.hidden = !ui.help.hidden),
      flipModel: () => models.flip(),
      escape: focusViewer,
      holdPan: () => {
        // Space must not also press a focused toolbar button.
        if (document.activeElement instanceof HTMLButtonElement) document.activeElement.blur();
        state.spaceHeld = true;
        ui.canvas.style.cursor = "grab";
      },
    };
    listen("keydown", keydownHandler(actions));
    listen("keyup", (e) => {
      if (e.key === " ") {
        state.spaceHeld = false;
        setTool(state.tool);
      }
    });
    listen("online", () => saver.retryNow());
    listen("resize", () => {
      fitCanvas();
      render();
    });

    // ---------- the whole volume, for the reformats ----------
    /** Fetches the volume and every mask; true once both are in. */
    async function loadWholeVolume(): Promise<boolean> {
      try {
        const [buf, masks] = await Promise.all([getVolumePayload(vol.id, "data"), getVolumePayload(vol.id, "masks")]);
        if (disposed) return false;
        v.volume = VolumeImage.parse(buf, vol.shape);
        data.setVolume(v.volume);
        applyMasks(masks);
        render();
        updateSliceUi();
        v.marks.volumeReady = performance.now();
        return true;
      } catch (err) {
        v.volumeError = `could not load the whole volume: ${errorText(err)}`;
        if (!disposed) render();
        return false;
      }
    }

    function applyMasks(buf: ArrayBuffer): void {
      const m = parseMasks(buf, vol.shape, classCount);
      for (const l of m.labels) data.seedLabel(l.slice, l.version ?? 0, l.verified === true, l.mask);
      for (const p of m.predictions) data.seedPrediction(p.slice, p.mask, p.uncertainty ?? null);
    }
    v.reloadMasks = () => {
      getVolumePayload(vol.id, "masks").then((buf) => {
        if (disposed) return;
        applyMasks(buf);
        render();
        updateSliceUi();
      }).catch(() => {});
    };

    // ---------- live updates ----------
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
    const events = connectLive(v, live);
    cleanups.push(() => events.close());
    refreshQueue(v);

    // ---------- start ----------
    const ro = new ResizeObserver(() => {
      fitCanvas();
      render();
    });
    ro.observe(ui.stage);
    for (const kind of PLANES) ro.observe(ui.canvases[kind]);
    cleanups.push(() => ro.disconnect());
    setTool("brush");
    setClass(1);
    setBrushSize(state.brushSize);
    fitCanvas();
    windowChanged();
    updateSliceUi();
    v.drawStrip();
    data.ensure(state.z);
    data.prefetchAround(state.z);
    let volumeReady = false;
    // The whole volume is fetched once the first slice is in: it must not compete with the slice the user waits for.
    data.loadImage(state.z).then(loadWholeVolume).then((ok) => {
      volumeReady = ok;
      // Without the whole volume, the axial plane still gets every slice, one request each.
      if (!ok && !disposed) void data.prefetchVolume(state.z);
    });
    cleanups.push(installHook(v, planes, { setClass, setTool, setBrushSize, setLayout, volumeReady: () => volumeReady }));
  }

  return () => {
    disposed = true;
    for (const c of cleanups) c();
  };
}

/** localStorage may be unavailable (a privacy mode, a full quota): the layout is then just not remembered. */
function safeStorage<T>(fn: () => T): T | null {
  try {
    return fn();
  } catch {
    return null;
  }
}
