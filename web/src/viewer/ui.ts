// The viewer's DOM: header, toolbar, stage, slice bar and help, built once; behaviour is wired by the page.
import { author, setAuthor, volumeExportUrl, type Project, type VolumeDetail } from "../api";
import { h } from "../dom";
import { session } from "../session";
import { shortcutTable } from "./keymap";
import { PLANES, planeLetters, type PlaneKind } from "./planes";
import type { Tool, ViewerState } from "./state";

export interface ViewerUi {
  /** The axial canvas, where labels are painted. */
  canvas: HTMLCanvasElement;
  /** Every plane's canvas, the axial one included. */
  canvases: Record<PlaneKind, HTMLCanvasElement>;
  /** The grid of planes; its class names the layout. */
  planes: HTMLDivElement;
  layoutSelect: HTMLSelectElement;
  stage: HTMLDivElement;
  saveEl: HTMLSpanElement;
  connEl: HTMLSpanElement;
  sliceLabel: HTMLSpanElement;
  readout: HTMLSpanElement;
  slider: HTMLInputElement;
  strip: HTMLCanvasElement;
  sizeInput: HTMLInputElement;
  sizeLabel: HTMLSpanElement;
  opacityInput: HTMLInputElement;
  overlayToggle: HTMLInputElement;
  levelInput: HTMLInputElement;
  widthInput: HTMLInputElement;
  autoWindowBtn: HTMLButtonElement;
  resetBtn: HTMLButtonElement;
  verifiedBtn: HTMLButtonElement;
  acceptBtn: HTMLButtonElement;
  historyBtn: HTMLButtonElement;
  historyEl: HTMLDivElement;
  readsBtn: HTMLButtonElement;
  queueBtn: HTMLButtonElement;
  toolButtons: Map<Tool, HTMLButtonElement>;
  classButtons: HTMLButtonElement[];
  conflictEl: HTMLDivElement;
  help: HTMLDivElement;
  /** Groups of the toolbar, for tools that add their own controls. */
  toolbar: HTMLDivElement;
}

/** Builds the viewer's elements into root (cleared first); readsEl is the reads panel, placed on the stage. */
export function buildUi(root: HTMLElement, vol: VolumeDetail, project: Project, state: ViewerState, readsEl: HTMLElement, severalReads: boolean): ViewerUi {
  const canvases = {
    // The axial canvas keeps the class "view" that the browser tests address it by.
    axial: h("canvas.view.plane-canvas", { tabIndex: 0, "data-plane": "axial" }),
    sagittal: h("canvas.plane-canvas", { tabIndex: 0, "data-plane": "sagittal" }),
    coronal: h("canvas.plane-canvas", { tabIndex: 0, "data-plane": "coronal" }),
  };
  const canvas = canvases.axial;
  const planes = h("div.planes");
  for (const kind of PLANES) {
    const letters = kind === "axial" && vol.axisLetters ? vol.axisLetters : planeLetters(kind);
    planes.append(h(`div.plane.plane-${kind}`, { "data-plane": kind }, canvases[kind],
      h("span.plane-name", {}, kind),
      h("span.letter.left", {}, letters.left), h("span.letter.right", {}, letters.right),
      h("span.letter.top", {}, letters.top), h("span.letter.bottom", {}, letters.bottom)));
  }
  const layoutSelect = h("select#layout", { title: "planes shown: remembered for you" },
    h("option", { value: "1x3" }, "1×3"), h("option", { value: "2x2" }, "2×2"), h("option", { value: "axial" }, "axial only"));
  layoutSelect.value = state.layout;
  planes.className = `planes layout-${state.layout}`;
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
  const D = state.depth;
  const ui: ViewerUi = {
    canvas,
    canvases,
    planes,
    layoutSelect,
    stage: h("div.stage"),
    saveEl,
    connEl,
    sliceLabel,
    readout: h("span#readout.readout", {}, ""),
    slider: h("input#slice-slider", { type: "range", min: 0, max: D - 1, step: 1, value: state.z, title: "slice (↑/↓, PageUp/PageDown)" }),
    strip: h("canvas#status-strip.strip", { title: "slice status: click to go" }),
    sizeInput: h("input", { type: "range", min: 1, max: 60, step: 1, value: state.brushSize, title: "brush size ([ and ])" }),
    sizeLabel: h("span.num"),
    opacityInput: h("input", { type: "range", min: 0, max: 1, step: 0.05, value: state.opacity, title: "overlay opacity" }),
    overlayToggle: h("input", { type: "checkbox", checked: true, title: "overlay on/off (O)" }),
    levelInput: h("input.wl", { type: "number", step: "any", title: "level (window centre)" }),
    widthInput: h("input.wl", { type: "number", step: "any", min: 0, title: "window width" }),
    autoWindowBtn: h("button", { title: "window from the 1st-99th percentiles" }, "auto"),
    resetBtn: h("button", { title: "reset zoom, pan and window (R)" }, "Reset view"),
    verifiedBtn: h("button#verify.toggle", { title: "mark this slice verified, or not (V)" }, "Mark verified"),
    acceptBtn: h("button#accept", { title: "copy the model's prediction into the label (A)", disabled: true }, "Accept prediction"),
    historyBtn: h("button#history-toggle", { title: "versions of this slice's label (H)" }, "History"),
    historyEl: h("div#history.history-panel", { hidden: true }),
    readsBtn: h("button#reads-toggle", { hidden: !severalReads, title: "every annotator's read of this slice, their agreement, adjudication" }, "Reads"),
    queueBtn: h("button#next-queue", { title: "next slice of the review queue (N)", disabled: true }, "Next uncertain"),
    toolButtons: new Map(),
    classButtons: [],
    conflictEl: h("div#conflict.conflict-banner", { hidden: true, role: "alert" }),
    help: h("div#help.help", { hidden: true }),
    toolbar: h("div.toolbar"),
  };
  ui.help.addEventListener("click", () => (ui.help.hidden = true));
  ui.help.append(h("div.help-card", {}, h("h2", {}, "Shortcuts"),
    h("table", {}, ...shortcutTable().map(([k, d]) => h("tr", {}, h("td", {}, h("kbd", {}, k)), h("td", {}, d)))),
    h("p.muted", {}, "Every change is saved within a second. Click anywhere to close.")));
  ui.stage.append(planes, ui.conflictEl, ui.historyEl, readsEl);

  for (const [t, label, key] of [["brush", "Brush", "B"], ["eraser", "Eraser", "E"], ["fill", "Fill", "F"]] as const) {
    ui.toolButtons.set(t, h("button.tool", { title: `${label} (${key})`, "data-tool": t }, label));
  }
  project.classes.forEach((c, i) => {
    ui.classButtons.push(h("button.cls", { title: `${c.name} (${i + 1})`, "data-class": i + 1 },
      h("span.swatch", { style: { background: c.color } }), h("span.key", {}, String(i + 1)), c.name));
  });

  ui.toolbar.append(
    h("div.group", {}, ...ui.toolButtons.values()),
    h("div.group", {}, h("span.muted", {}, "size"), ui.sizeInput, ui.sizeLabel),
    h("div.group.classes", {}, ...ui.classButtons),
    h("div.group", {}, h("label.inline", {}, ui.overlayToggle, "overlay"), ui.opacityInput),
    h("div.group", {}, h("span.muted", {}, "L"), ui.levelInput, h("span.muted", {}, "W"), ui.widthInput, ui.autoWindowBtn),
    h("div.group", {}, ui.resetBtn, layoutSelect),
    h("div.group", {}, ui.verifiedBtn, ui.acceptBtn, ui.queueBtn, ui.historyBtn, ui.readsBtn));
  root.append(
    h("header.bar", {},
      h("a.back", { href: `/projects/${vol.projectId}` }, `← ${project.name}`),
      h("h1", {}, vol.name), sliceLabel, saveEl, connEl, authorEl,
      h("a.button", { href: volumeExportUrl(vol.id), download: true, title: "segmented NIfTI in the source grid" }, "Download NIfTI"),
      h("button", { title: "shortcuts (?)", onclick: () => (ui.help.hidden = !ui.help.hidden) }, "?")),
    ui.toolbar,
    ui.stage,
    h("footer.slicebar", {}, ui.slider, ui.strip, ui.readout),
    ui.help,
  );
  return ui;
}
