// The project page's model versions (status, parent, settings, evaluation metrics, the comparison with the
// active model and the area check, time; promote a candidate, pick the active one, download) and the
// cross-sectional areas along the slices (plot, table, CSV).
import {
  areasCsvUrl, getAreas, listModels, modelDownloadUrl, promoteModel, setActiveModel, stopEvaluation,
  type Areas, type ClassMetrics, type Id, type Model, type ModelMetrics, type ProjectClass,
} from "../api";
import { clear, errorText, h, toast } from "../dom";
import { LineChart } from "../lib/chart";
import {
  classSummary, crossValidated, evaluationDetail, evaluationSummary, notEvaluatedText, progressText,
} from "../lib/evaluation";
import { lossOffset } from "../lib/losscurve";
import { areasText, classComparisonText, comparisonText, flagText, promotionOf } from "../lib/promotion";
import { formatDuration, formatValue, trainSummary } from "../lib/runprogress";
import type { EvaluationEvent } from "../serverevents";
import { roleIncludes, session } from "../session";
import { time } from "./training";

export interface Panel {
  el: HTMLElement;
  reload(): Promise<void>;
  setClasses(classes: ProjectClass[]): void;
  dispose(): void;
}

export interface ModelsPanel extends Panel {
  /** A model's k-fold evaluation moved on: its progress line follows, its end reloads the list. */
  onEvaluation(ev: EvaluationEvent): void;
}

// The metrics table's columns: PIPELINE.md's evaluation metrics.
const METRICS: Array<[keyof ClassMetrics, string, number]> = [
  ["dice", "Dice", 3], ["jaccard", "Jaccard", 3], ["precision", "precision", 3], ["recall", "recall", 3],
  ["specificity", "specificity", 4], ["conformity", "conformity %", 1], ["hausdorffPx", "Hausdorff px", 2],
  ["hausdorffMm", "Hausdorff mm", 2], ["meanSurfacePx", "mean surface px", 2], ["meanSurfaceMm", "mean surface mm", 2],
  ["slices", "slices", 0],
];

export function modelsPanel(pid: Id, onActiveChanged: () => void): ModelsPanel {
  let disposed = false;
  const body = h("tbody");
  const el = h("section#models.models", {},
    h("h2", {}, "Model versions"),
    h("table.models", {}, h("thead", {}, h("tr", {},
      h("th", {}, "version"), h("th", {}, "trained"), h("th", {}, "from"), h("th", {}, "settings"),
      h("th", {}, "evaluation"), h("th", {}, "against the active model"), h("th", {}, ""))), body));

  const render = (models: Model[]) => {
    clear(body);
    if (models.length === 0) {
      body.append(h("tr", {}, h("td.muted", { colSpan: 7 }, "No model yet: Train now makes the first.")));
      return;
    }
    for (const m of models) {
      const mt = metricsOf(m);
      const use = h("button.use", { type: "button", disabled: m.active, title: "its predictions drive the overlays, review queue, exports and areas" },
        m.active ? "active" : "Make active");
      use.addEventListener("click", () => {
        use.disabled = true;
        setActiveModel(pid, m.id).then(() => {
          toast(`model #${m.id} is active`);
          onActiveChanged();
        }).catch((err) => {
          use.disabled = false;
          toast(`could not switch models: ${errorText(err)}`, "error");
        });
      });
      const status = m.status ?? (m.active ? "active" : "previous");
      const actions: Array<Node | string> = [];
      if (status === "candidate" && roleIncludes(session()?.role, "reviewer")) {
        const promote = h("button.promote.primary", { type: "button", title: "make it the active model: its predictions become the project's" }, "Promote");
        promote.addEventListener("click", () => {
          promote.disabled = true;
          promoteModel(pid, m.id).then(() => {
            toast(`model #${m.id} is promoted and active`);
            onActiveChanged();
          }).catch((err) => {
            promote.disabled = false;
            toast(`could not promote: ${errorText(err)}`, "error");
          });
        });
        actions.push(promote, " ");
      }
      body.append(h(`tr.model${m.active ? ".active" : ""}.${status}`, { "data-model-id": String(m.id), "data-status": status },
        h("td", {}, h("strong", {}, `#${m.id}`), status !== "previous" ? h(`span.badge.${status}`, {}, status) : null, h("div.muted.small", {}, m.arch)),
        h("td", {}, time(m.createdAt),
          mt ? h("div.muted.small", {}, `${formatDuration(mt.trainSeconds)}, ${mt.iterations} it, ${mt.epochs} ep (${mt.stopped})`) : null),
        h("td", {}, m.parentId ? `model #${m.parentId}` : "scratch", m.runId ? h("div.muted.small", {}, `run #${m.runId}`) : null),
        h("td.small.settings", {}, m.settings?.arch ? trainSummary(m.settings) : h("span.muted", {}, "–")),
        h("td.metrics", {}, metricsCell(m, pid)),
        h("td.promotion", {}, promotionCell(m)),
        h("td", {}, ...actions, use, " ", h("a.button", { href: modelDownloadUrl(m.id), download: true, title: "the model file, for workbench segment --model FILE" }, "Download")),
      ));
    }
  };

  const reload = async () => {
    try {
      const models = await listModels(pid);
      if (!disposed) render(models);
    } catch (err) {
      clear(body);
      body.append(h("tr", {}, h("td.error", { colSpan: 7 }, `could not list models: ${errorText(err)}`)));
    }
  };
  void reload();
  const onEvaluation = (ev: EvaluationEvent) => {
    const line = body.querySelector<HTMLElement>(`tr[data-model-id="${ev.modelId}"] .evaluation-progress`);
    if (ev.status === "running" && line) line.textContent = progressText(ev);
    else void reload();
  };
  return { el, reload, onEvaluation, setClasses() {}, dispose: () => void (disposed = true) };
}

/** The model's metrics; null for a model stored without them (e.g. imported). */
function metricsOf(m: Model): ModelMetrics | null {
  return m.metrics && typeof m.metrics.iterations === "number" ? m.metrics : null;
}

/** A loss as the training panel shows it: 0 is perfect (lib/losscurve.ts). */
function shownLoss(v: number | null | undefined, loss: string | undefined): number | undefined {
  return typeof v === "number" ? v + lossOffset(loss) : undefined;
}

/** Dice per class at a glance; every metric of PIPELINE.md, and the split sizes, one click away. While the
 * model's k-fold evaluation runs (after its run: every labelled slice trained it), its progress instead. */
function metricsCell(m: Model, pid: Id): Node {
  const mt = metricsOf(m);
  if (m.evaluating) {
    const stop = roleIncludes(session()?.role, "reviewer")
      ? h("button.stop-evaluation.small", { type: "button", title: "the model stays as it is, without scores" }, "Stop")
      : null;
    stop?.addEventListener("click", () => {
      stop.disabled = true;
      stopEvaluation(pid, m.id).catch((err) => {
        stop.disabled = false;
        toast(`could not stop the evaluation: ${errorText(err)}`, "error");
      });
    });
    return h("div", {}, h("span.evaluation-progress", {}, progressText(m.evaluating)), " ", stop,
      h("div.muted.small", {}, `every one of the ${mt?.trainSlices ?? m.evaluating.slices} labelled slices trained this model; fold models trained without some of them score it`));
  }
  if (!mt || !mt.classes?.length) {
    const why = mt && notEvaluatedText(mt);
    return h("span.muted", {}, why ?? (mt ? `no evaluation slices (${mt.trainSlices} train, ${mt.valSlices} validation)` : "–"));
  }
  const summary = mt.classes.map((c) => `${c.name} ${formatValue(c.dice)}`).join(" · ");
  const table = h("table.metrics-table", {},
    h("thead", {}, h("tr", {}, h("th", {}, "class"), ...METRICS.map(([, label]) => h("th", {}, label)))),
    h("tbody", {}, ...mt.classes.map((c) => h("tr", {}, h("td", {}, c.name),
      ...METRICS.map(([key, , digits]) => h("td", {}, formatValue(c[key] as number | null, digits)))))));
  const ev = mt.evaluation; // how the scores were obtained (lib/evaluation.ts); absent in older models
  return h("details", {}, h("summary", {}, ev ? `${evaluationSummary(ev)}: ${classSummary(ev)}` : `Dice ${summary}`),
    ev && h("div.muted.small", {}, evaluationDetail(ev)),
    !crossValidated(ev) && h("div.muted.small", {}, `on ${mt.evalSlices} evaluation slices (trained on ${mt.trainSlices}, validated on ${mt.valSlices}; best at iteration ${mt.bestIteration}, validation loss ${formatValue(shownLoss(mt.bestValLoss, m.settings?.loss))})`),
    table);
}

/** The comparison with the model that was active when this one was trained, the rule applied, and the area check. */
function promotionCell(m: Model): Node {
  const p = promotionOf(m.metrics);
  if (!p) return h("span.muted", {}, "–");
  const flags = p.areas.flags ?? [];
  return h("details", {},
    h("summary", {}, h("span.comparison", {}, comparisonText(p)), h("div.small.areas-check" + (p.areas.flagged > 0 ? ".error" : ".muted"), {}, areasText(p.areas))),
    h("div.small.rule", {}, p.rule),
    classComparisonText(p.comparison).length ? h("div.muted.small", {}, `per class (this vs active): ${classComparisonText(p.comparison).join(" · ")}`) : null,
    p.areas.limits.length ? h("div.muted.small", {}, "area limits: " + p.areas.limits.map((l) => `${l.class} ≤ ${l.limitMm2.toFixed(1)} mm² (labelled max ${l.labelledMaxMm2.toFixed(1)} on ${l.labelledSlices} slices)`).join(" · ")) : null,
    flags.length ? h("ul.small.area-flags", {}, ...flags.map((f) => h("li", {}, flagText(f)))) : null);
}

const STATUS_MARK = { labelled: "filled", verified: "filled", predicted: "hollow", empty: "hollow", unlabelled: null } as const;

/** navigate opens the viewer at a slice clicked in the plot. */
export function areasPanel(pid: Id, navigate: (path: string) => void): Panel {
  let classes: ProjectClass[] = [];
  let areas: Areas | null = null;
  let disposed = false;
  const select = h("select#areas-volume");
  const canvas = h("canvas#areas-chart.chart", { title: "click a slice to open it in the viewer", role: "img", "aria-label": "cross-sectional area per class along the slices" });
  const readout = h("span.readout");
  const shownVolume = () => areas?.volumes.find((x) => String(x.volumeId) === select.value) ?? areas?.volumes[0];
  const chart = new LineChart(canvas, readout, (r) => {
    const v = shownVolume();
    const s = v?.slices.find((x) => x.slice === r.x);
    const where = v ? ` (${(r.x * v.sliceMm).toFixed(1)} mm, ${s?.status ?? ""})` : "";
    return `slice ${r.x}${where}: ${r.values.map((x) => `${x.name} ${x.y.toFixed(1)} mm²`).join(", ")}`;
  }, (x) => {
    const v = shownVolume();
    if (v) navigate(`/volumes/${v.volumeId}?z=${x}`);
  });
  const tableBody = h("tbody");
  const tableHead = h("tr");
  const el = h("section#areas.areas", {},
    h("h2", {}, "Cross-sectional areas"),
    h("div.row", {}, h("label.inline", {}, "volume ", select),
      h("a#areas-csv.button", { href: areasCsvUrl(pid), download: true, title: "every slice of every volume, area per class in mm²" }, "Areas (CSV)"),
      h("span.muted.small", {}, "filled: labelled or verified · hollow: the active model's prediction · gaps: nothing measured")),
    h("figure", {}, canvas, h("figcaption.muted", {}, "area per class in mm² along the slices (0 = most inferior) ", readout)),
    h("details", {}, h("summary", {}, "Table"), h("table.areas-table", {}, h("thead", {}, tableHead), tableBody)));
  select.addEventListener("change", () => draw());

  const draw = () => {
    const v = shownVolume();
    const names = areas?.classes ?? [];
    clear(tableHead);
    clear(tableBody);
    if (!v) {
      chart.set({ series: [], empty: "no volumes" });
      return;
    }
    const xs = v.slices.map((s) => s.slice);
    chart.set({
      series: names.map((name, k) => ({
        name, color: classes[k]?.color ?? "#ccc", xs,
        ys: v.slices.map((s) => (s.status === "unlabelled" ? NaN : s.areasMm2[k] ?? NaN)),
        marks: v.slices.map((s) => STATUS_MARK[s.status] ?? null),
      })),
      xLabel: `slice (${v.sliceMm.toFixed(2)} mm apart)`, yLabel: "mm²", includeZeroY: true, empty: "no slices",
    });
    tableHead.append(h("th", {}, "slice"), h("th", {}, "position mm"), h("th", {}, "status"), ...names.map((n) => h("th", {}, `${n} mm²`)));
    for (const s of v.slices) {
      tableBody.append(h("tr", {}, h("td", {}, s.slice), h("td", {}, (s.slice * v.sliceMm).toFixed(2)), h("td", {}, s.status),
        ...names.map((_, k) => h("td", {}, s.status === "unlabelled" ? "" : (s.areasMm2[k] ?? 0).toFixed(2)))));
    }
  };

  const reload = async () => {
    try {
      const a = await getAreas(pid);
      if (disposed) return;
      areas = a;
      const keep = select.value;
      clear(select);
      for (const v of a.volumes) select.append(h("option", { value: String(v.volumeId) }, v.name));
      if (a.volumes.some((v) => String(v.volumeId) === keep)) select.value = keep;
      draw();
    } catch (err) {
      chart.set({ series: [], empty: `could not load areas: ${errorText(err)}` });
    }
  };
  void reload();
  return {
    el,
    reload,
    setClasses(c) {
      classes = c;
      draw();
    },
    dispose() {
      disposed = true;
      chart.dispose();
    },
  };
}
