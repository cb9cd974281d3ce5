// The project page's training panel: Train now with a budget, the current run and its settings, live loss and
// Dice curves (history reloaded from the server after a reload, live points from the websocket), cancel, and
// the project's earlier runs.
import {
  ApiError, cancelRun, getProject, getRun, listRuns, patchProject, startTraining, startTrainingFromFile, trainingSettings,
  type Id, type ProjectClass, type Run, type TrainingSettingsInfo,
} from "../api";
import { clear, errorText, h, toast } from "../dom";
import { LineChart, type Reading, type Series } from "../lib/chart";
import { clipTop, lossMeaning, lossOffset, shifted } from "../lib/losscurve";
import {
  RunProgress, formatDuration, formatSpeed, formatValue, later, runSummary, type ProgressEvent, type TrainSettings,
} from "../lib/runprogress";
import type { ServerEvent } from "../serverevents";
import { settingsForm } from "./trainsettings";

const ACTIVE: ReadonlySet<string> = new Set(["queued", "running"]);
const TRAIN_COLOR = "#4f8cff";
const VAL_COLOR = "#f59e0b";

export interface TrainingPanel {
  el: HTMLElement;
  onEvent(ev: ServerEvent): void;
  /** Reloads the runs and the shown run's history (after a reconnect). */
  reload(): Promise<void>;
  setClasses(classes: ProjectClass[]): void;
  dispose(): void;
}

export function trainingPanel(pid: Id): TrainingPanel {
  let classes: ProjectClass[] = [];
  let info: TrainingSettingsInfo | null = null;
  let runs: Run[] = [];
  let shown: Run | null = null;
  let progress: RunProgress | null = null;
  // The user picked an earlier run to look at: new runs do not take the panel over until Train now.
  let pinned = false;
  // Train now's time, to measure how long the first loss point takes to reach the screen.
  let pressedAt: number | null = null;
  let disposed = false;
  // Runs whose model was kept as a candidate (predictions events of this page's life).
  const candidateRuns = new Set<number>();

  const trainBtn = h("button#train-now.primary", { type: "submit" }, "Train now");
  const cancelBtn = h("button#train-cancel", { type: "button", hidden: true }, "Cancel run");
  const budget = h("input#train-budget", { type: "number", min: 0, step: 1, value: "120", title: "wall-clock training time in seconds; 0 = no time limit" });
  const epochs = h("input#train-epochs", { type: "number", min: 0, step: 1, value: "0", title: "passes over the training slices; 0 = until the time budget" });
  const preset = h("select#train-preset", { title: "base settings: default is a fast first model on a CPU, paper the published pipeline's" },
    h("option", { value: "default" }, "default"), h("option", { value: "paper" }, "paper"));
  const scratch = h("input#train-scratch", { type: "checkbox" });
  // A model file to fine-tune (another project's or site's download); the server checks its classes and layers.
  const initModel = h("input#train-init-model", { type: "file", accept: ".wbmodel,.model" });
  const initClear = h("button#train-init-clear", { type: "button", hidden: true, title: "start from the active model again" }, "×");
  const initChanged = () => {
    const chosen = (initModel.files?.length ?? 0) > 0;
    initClear.hidden = !chosen;
    scratch.disabled = chosen;
    if (chosen) scratch.checked = false;
  };
  initModel.addEventListener("change", initChanged);
  initClear.addEventListener("click", () => {
    initModel.value = "";
    initChanged();
  });
  const state = h("span#train-state.muted");
  // Why the last Train now or Cancel did not happen; kept apart from the state, which follows the run.
  const message = h("span#train-message.error");
  const more = settingsForm();
  const saveDefaults = h("button#train-save-defaults", { type: "button", title: "Train now, here and in the CLI, starts from these unless told otherwise" },
    "Save as the project's settings");
  const form = h("form.train-controls", {},
    h("div.row", {},
      trainBtn,
      h("label.inline", {}, "time budget ", budget, " s"),
      h("label.inline", {}, "epochs ", epochs),
      h("label.inline", {}, "preset ", preset),
      h("label.inline", { title: "start from fresh weights instead of the active model" }, scratch, "from scratch"),
      h("label.inline", { title: "fine-tune a model file downloaded from another project or site; it must have this project's classes" },
        "or start from a model file ", initModel), initClear,
      cancelBtn, state, message),
    h("details.more-settings", {}, h("summary", {}, "More settings"), more.el, saveDefaults));
  const runInfo = h("div#run-info.run-info");
  const stats = h("div#run-stats.run-stats");
  const lossCanvas = h("canvas#loss-chart.chart", { role: "img", "aria-label": "training and validation loss by iteration" });
  const diceCanvas = h("canvas#dice-chart.chart", { role: "img", "aria-label": "validation Dice per class by iteration" });
  const lossReadout = h("span.readout");
  // What the shown loss is (it depends on the run's objective); see lib/losscurve.ts.
  const lossMeaningEl = h("span#loss-meaning");
  const diceReadout = h("span.readout");
  const byIteration = (r: Reading) => `iteration ${r.x}: ${r.values.map((v) => `${v.name} ${formatValue(v.y)}`).join(", ")}`;
  const lossChart = new LineChart(lossCanvas, lossReadout, byIteration);
  const diceChart = new LineChart(diceCanvas, diceReadout, byIteration);
  const runList = h("ol#runs.runs");
  const el = h("section#training.training", {},
    h("h2", {}, "Training"), form, runInfo, stats,
    h("div.charts", {}, h("figure", {}, lossCanvas, h("figcaption.muted", {}, "loss by iteration ", lossMeaningEl, " ", lossReadout)),
      h("figure", {}, diceCanvas, h("figcaption.muted", {}, "validation Dice by iteration ", diceReadout))),
    h("details.runs-list", {}, h("summary", {}, "Runs"), runList));

  preset.addEventListener("change", () => {
    const p = info?.presets[preset.value];
    if (!p) return;
    budget.value = String(p.budget_seconds);
    epochs.value = String(p.epochs);
    more.fill(p);
  });

  /** The form's settings as a run's overrides, or why they cannot be used. */
  function entered(): Partial<TrainSettings> | string {
    const b = Number(budget.value), n = Number(epochs.value);
    if (!(b >= 0) || !(n >= 0) || !Number.isInteger(n)) return "the budget and epochs must be non-negative numbers";
    const rest = more.read();
    return typeof rest === "string" ? rest : { ...rest, budget_seconds: b, epochs: n };
  }

  saveDefaults.addEventListener("click", () => {
    const s = entered();
    if (typeof s === "string") {
      message.textContent = s;
      return;
    }
    message.textContent = "";
    saveDefaults.disabled = true;
    // The project's settings hold other owners' keys too: change only the trainer's.
    getProject(pid)
      .then((p) => patchProject(pid, { settings: { ...(p.settings ?? {}), ...s, preset: preset.value } }))
      .then(() => toast("saved as the project's training settings"))
      .catch((err) => (message.textContent = `could not save the settings: ${errorText(err)}`))
      .finally(() => (saveDefaults.disabled = false));
  });

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void train();
  });
  cancelBtn.addEventListener("click", () => {
    if (!shown) return;
    cancelBtn.disabled = true;
    message.textContent = "";
    state.textContent = "cancelling…";
    cancelRun(shown.id).then(upsertRun).catch((err) => {
      message.textContent = `could not cancel: ${errorText(err)}`;
    }).finally(() => {
      cancelBtn.disabled = false;
      updateControls();
    });
  });

  async function train(): Promise<void> {
    const settings = entered();
    if (typeof settings === "string") {
      message.textContent = settings;
      return;
    }
    trainBtn.disabled = true;
    message.textContent = "";
    pressedAt = performance.now();
    try {
      const file = initModel.files?.[0];
      const opts = { preset: preset.value, fromScratch: scratch.checked, settings };
      const run = file ? await startTrainingFromFile(pid, opts, file) : await startTraining(pid, opts);
      if (file) {
        initModel.value = "";
        initChanged();
      }
      pinned = false;
      upsertRun(run);
    } catch (err) {
      pressedAt = null;
      message.textContent = err instanceof ApiError && err.status === 409 ? `not started: ${err.message}` : `could not start: ${errorText(err)}`;
    } finally {
      trainBtn.disabled = false;
      updateControls();
    }
  }

  /** A run's new state, from an answer or an event: the list, and the panel when it is the run to show. */
  function upsertRun(run: Run): void {
    const i = runs.findIndex((r) => r.id === run.id);
    if (i >= 0) run = { ...run, status: later(runs[i]?.status ?? run.status, run.status) };
    if (shown?.id === run.id) run = { ...run, status: later(shown.status, run.status) };
    if (i >= 0) runs[i] = run;
    else runs = [run, ...runs].sort((a, b) => b.id - a.id);
    if (!shown || shown.id === run.id || (!pinned && run.id > shown.id)) show(run);
    renderRuns();
  }

  /** Shows a run: its settings and state now, its stored history as it arrives. */
  function show(run: Run): void {
    const other = !shown || shown.id !== run.id;
    shown = run;
    if (other) {
      progress = new RunProgress(run.id);
      lossCanvas.dataset.livePoints = "0";
      delete lossCanvas.dataset.firstPointMs;
      void loadHistory(run.id);
    }
    renderRun();
    renderProgress();
  }

  async function loadHistory(id: number): Promise<void> {
    try {
      const detail = await getRun(id);
      if (disposed || !progress || progress.runId !== id) return;
      for (const e of detail.events) progress.add(e.data);
      const { events: _, ...run } = detail;
      if (shown?.id === id) shown = { ...shown, ...run, status: later(shown.status, run.status) };
      renderRun();
      renderProgress();
    } catch (err) {
      stats.textContent = `could not load the run's history: ${errorText(err)}`;
    }
  }

  function onProgress(e: ProgressEvent): void {
    if (!shown || String(e.runId) !== String(shown.id)) {
      // A run this tab has not heard of (started elsewhere, or its run event was missed).
      if (!pinned && (!shown || Number(e.runId) > shown.id)) void reload();
      return;
    }
    if (!progress?.add(e, true)) return;
    lossCanvas.dataset.livePoints = String(progress.livePoints);
    if (pressedAt !== null && e.type === "iteration") {
      lossCanvas.dataset.firstPointMs = String(Math.round(performance.now() - pressedAt));
      pressedAt = null;
    }
    if (shown.status === "queued") {
      shown = { ...shown, status: "running" };
      renderRun();
    }
    renderProgress();
  }

  function renderRun(): void {
    clear(runInfo);
    updateControls();
    if (!shown) {
      runInfo.append(h("span.muted", {}, "No training run yet: label a few slices, then Train now."));
      return;
    }
    const r = shown;
    runInfo.dataset.runId = String(r.id);
    runInfo.dataset.status = r.status;
    const when = r.finishedAt ? `ended ${time(r.finishedAt)}` : r.startedAt ? `started ${time(r.startedAt)}` : `queued ${time(r.createdAt)}`;
    runInfo.append(
      h("strong", {}, `Run #${r.id}`), " ",
      h(`span.status.${r.status}`, {}, r.status), " ",
      h("span.muted", {}, when),
      h("span.muted", {}, r.modelId ? ` · produced model #${r.modelId}` : ""),
      candidateRuns.has(r.id) ? h("span.candidate-note", {}, " — kept as a candidate: it compared worse than the active model, which stays (see Model versions)") : "",
      h("div.settings.muted", { title: JSON.stringify(r.settings.train, null, 1) }, runSummary(r.settings)));
    if (r.error) runInfo.append(h("div.error", {}, r.error));
  }

  function renderProgress(): void {
    const p = progress;
    const names = classes.map((c) => c.name);
    // Shown so that lower is better and 0 is perfect: the engine reports Dice losses from -1 (lib/losscurve.ts).
    const lossName = shown?.settings?.train?.loss;
    const offset = lossOffset(lossName);
    const trainYs = shifted(p?.train.ys ?? [], offset);
    const valYs = shifted(p?.val.ys ?? [], offset);
    lossMeaningEl.textContent = shown ? `(${lossMeaning(lossName)}; 0 is perfect)` : "";
    // Validation first, as dashed line and rings, so that the train line drawn over it stays visible.
    const series: Series[] = [
      { name: "validation loss", color: VAL_COLOR, xs: p?.val.xs ?? [], ys: valYs, dash: [4, 3], marks: p?.val.xs.map(() => "ring" as const) ?? [] },
      { name: "train loss", color: TRAIN_COLOR, xs: p?.train.xs ?? [], ys: trainYs },
    ];
    lossChart.set({
      series, xLabel: "iteration", includeZeroY: true, yClip: clipTop([trainYs, valYs]),
      empty: shown ? "waiting for the first iteration…" : "no run yet",
    });
    diceChart.set({
      series: (p?.dice ?? []).map((d, k) => ({
        name: names[k] ?? `class ${k + 1}`, color: classes[k]?.color ?? "#ccc", xs: d.xs, ys: d.ys, marks: d.xs.map(() => "filled" as const),
      })),
      xLabel: "iteration", yMin: 0, yMax: 1, empty: shown ? "waiting for the first validation…" : "no run yet",
    });
    clear(stats);
    const l = p?.latest;
    if (!l) return;
    const ep = p.latestEpoch;
    const item = (label: string, value: string, cls = "") => h(`span.stat${cls}`, {}, h("span.muted", {}, `${label} `), value);
    const running = shown !== null && ACTIVE.has(shown.status);
    stats.append(
      item("iteration", String(l.iteration), ".iteration"),
      item("epoch", String(l.epoch)),
      item("train loss", formatValue(trainYs[trainYs.length - 1]), ".train-loss"),
      item("val loss", formatValue(typeof ep?.valLoss === "number" ? ep.valLoss + offset : undefined)),
      ...(ep?.valDice ?? []).map((d, k) => item(`Dice ${names[k] ?? k + 1}`, formatValue(d))),
      item("speed", formatSpeed(l.secondsPerIteration)),
      item("elapsed", formatDuration(l.elapsed)),
    );
    if (running) stats.append(item("ETA", formatDuration(l.eta), ".eta"));
  }

  function updateControls(): void {
    const running = shown !== null && ACTIVE.has(shown.status);
    cancelBtn.hidden = !running;
    if (state.textContent !== "cancelling…" || !running) state.textContent = running ? (shown?.status === "queued" ? "queued…" : "training…") : "";
  }

  function renderRuns(): void {
    clear(runList);
    for (const r of runs.slice(0, 20)) {
      const btn = h("button.link", { type: "button", onclick: () => {
        pinned = runs[0]?.id !== r.id;
        show(r);
        renderRuns();
      } }, `#${r.id}`);
      runList.append(h(`li${shown?.id === r.id ? ".current" : ""}`, {}, btn, " ", h(`span.status.${r.status}`, {}, r.status),
        h("span.muted", {}, ` ${time(r.createdAt)}${r.modelId ? ` → model #${r.modelId}` : ""}`)));
    }
  }

  async function reload(): Promise<void> {
    try {
      const [list, settings] = await Promise.all([listRuns(pid), info ? Promise.resolve(info) : trainingSettings(pid)]);
      if (disposed) return;
      if (!info) {
        info = settings;
        preset.value = settings.settings.preset ?? "default";
        budget.value = String(settings.settings.train.budget_seconds);
        epochs.value = String(settings.settings.train.epochs);
        more.fill(settings.settings.train, settings.architectures, settings.memory);
      }
      runs = list;
      const target = pinned && shown ? list.find((r) => r.id === shown?.id) ?? list[0] : list[0];
      if (target) {
        if (shown && shown.id === target.id) void loadHistory(target.id);
        show(target);
      } else {
        renderRun();
        renderProgress();
      }
      renderRuns();
    } catch (err) {
      runInfo.textContent = `could not load training runs: ${errorText(err)}`;
    }
  }

  function onEvent(ev: ServerEvent): void {
    switch (ev.type) {
      case "run":
        upsertRun(ev.run);
        break;
      case "iteration":
      case "epoch":
        onProgress(ev);
        break;
      case "predictions":
        if (ev.candidate && ev.runId !== undefined) {
          candidateRuns.add(Number(ev.runId));
          if (shown?.id === Number(ev.runId)) renderRun();
        }
        break;
    }
  }

  void reload();
  return {
    el,
    onEvent,
    reload,
    setClasses(c) {
      classes = c;
      renderProgress();
    },
    dispose() {
      disposed = true;
      lossChart.dispose();
      diceChart.dispose();
    },
  };
}


export function time(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}
