// Which model's predictions the viewer shows: the project's active model, or a candidate kept beside it (a
// run's model that compared worse; a reviewer may promote it), so that a reviewer can flick between the two
// on the same slice and view (M) before promoting one. Statuses, uncertainties and the queue stay the
// active model's.
import { listModels, type Model } from "../api";
import { h } from "../dom";
import { promotionOf } from "../lib/promotion";
import type { ViewerContext } from "./context";

export interface ModelChoice {
  /** null: the project's active model. */
  id: number | null;
  label: string;
}

/** The choices of the picker: the active model first, then the candidates, newest first. */
export function modelChoices(models: Pick<Model, "id" | "status" | "active" | "metrics">[]): ModelChoice[] {
  const active = models.find((m) => m.active);
  const out: ModelChoice[] = [{ id: null, label: active ? `active #${active.id}` : "active model" }];
  for (const m of models) {
    if (m.status !== "candidate") continue;
    const c = promotionOf(m.metrics)?.comparison;
    const versus = c?.possible ? ` (Dice ${c.newDice.toFixed(2)} vs ${c.activeDice.toFixed(2)})` : "";
    out.push({ id: m.id, label: `candidate #${m.id}${versus}` });
  }
  return out;
}

/** The choice M flips to: the newest candidate from the active model, the active model from a candidate. */
export function flipped(choices: ModelChoice[], shown: number | null): number | null {
  if (shown !== null) return null;
  return choices.find((c) => c.id !== null)?.id ?? null;
}

export interface ModelPicker {
  /** Lists the project's models again (a run ended, a model was promoted). */
  refresh(): void;
  /** Flips between the active model and the newest candidate (M). */
  flip(): void;
}

/** Adds the picker to the toolbar, hidden while the project has no candidate. */
export function attachModelPicker(v: ViewerContext): ModelPicker {
  const select = h("select#prediction-model", { title: "whose predictions are shown: the active model's or a candidate's (M flips)" });
  const group = h("div.group.model-pick", { hidden: true }, h("span.muted", {}, "predictions of"), select);
  v.ui.toolbar.append(group);
  let choices: ModelChoice[] = [];

  const show = (id: number | null) => {
    select.value = id === null ? "" : String(id);
    if (v.data.predictionModel() === id) return;
    v.data.setPredictionModel(id);
    v.data.ensure(v.state.z);
    void v.data.prefetchVolume(v.state.z);
    v.updateSliceUi();
    v.render();
  };
  select.addEventListener("change", () => show(select.value === "" ? null : Number(select.value)));

  const refresh = () => {
    listModels(v.vol.projectId).then((models) => {
      if (v.disposed()) return;
      choices = modelChoices(models);
      select.replaceChildren(...choices.map((c) => h("option", { value: c.id === null ? "" : String(c.id) }, c.label)));
      group.hidden = choices.length < 2;
      const shown = v.data.predictionModel();
      show(choices.some((c) => c.id === shown) ? shown : null); // a promoted candidate is the active one now
    }).catch(() => {});
  };
  refresh();
  return { refresh, flip: () => show(flipped(choices, v.data.predictionModel())) };
}
