// The training panel's further settings (architecture, batch, learning rate and schedule, crop, loss,
// normalisation): filled with what a run would use, read back as the run's overrides.
import { h } from "../dom";
import type { TrainSettings } from "../lib/runprogress";

type Field =
  | { key: keyof TrainSettings & string; label: string; kind: "number"; step: string; min: number; integer: boolean }
  | { key: keyof TrainSettings & string; label: string; kind: "select"; options: string[] };

const FIELDS: Field[] = [
  { key: "arch", label: "architecture", kind: "select", options: [] },
  { key: "batch_size", label: "batch", kind: "number", step: "1", min: 1, integer: true },
  { key: "learning_rate", label: "learning rate", kind: "number", step: "any", min: 0, integer: false },
  { key: "schedule", label: "schedule", kind: "select", options: ["cosine", "constant"] },
  { key: "crop_w", label: "crop width", kind: "number", step: "8", min: 8, integer: true },
  { key: "crop_h", label: "crop height", kind: "number", step: "8", min: 8, integer: true },
  { key: "placement", label: "crop placement", kind: "select", options: ["foreground", "center", "random"] },
  { key: "loss", label: "loss", kind: "select", options: ["dice+ce", "dice-perclass", "dice", "ce"] },
  { key: "normalization", label: "normalisation", kind: "select", options: ["per-slice", "training-set"] },
];

export interface SettingsForm {
  el: HTMLElement;
  /** Shows the settings; architectures lists the server's. */
  fill(s: TrainSettings, architectures?: string[]): void;
  /** The settings as entered, or the reason they cannot be used. */
  read(): Partial<TrainSettings> | string;
}

export function settingsForm(): SettingsForm {
  const inputs = new Map<string, HTMLInputElement | HTMLSelectElement>();
  const el = h("div.train-settings");
  for (const f of FIELDS) {
    const id = `train-${f.key.replace(/_/g, "-")}`;
    const input = f.kind === "number"
      ? h("input", { id, type: "number", step: f.step, min: f.min })
      : h("select", { id }, ...f.options.map((o) => h("option", { value: o }, o)));
    inputs.set(f.key, input);
    el.append(h("label.inline", {}, `${f.label} `, input));
  }

  return {
    el,
    fill(s, architectures) {
      const arch = inputs.get("arch") as HTMLSelectElement;
      if (architectures?.length) arch.replaceChildren(...architectures.map((a) => h("option", { value: a }, a)));
      for (const f of FIELDS) {
        const input = inputs.get(f.key);
        const v = s[f.key];
        if (!input || v === undefined || v === null) continue;
        if (input instanceof HTMLSelectElement && ![...input.options].some((o) => o.value === String(v))) {
          input.append(h("option", { value: String(v) }, String(v)));
        }
        input.value = String(v);
      }
    },
    read() {
      const out: Record<string, string | number> = {};
      for (const f of FIELDS) {
        const input = inputs.get(f.key);
        if (!input || input.value === "") continue;
        if (f.kind === "select") {
          out[f.key] = input.value;
          continue;
        }
        const v = Number(input.value);
        if (!Number.isFinite(v) || v < f.min || (f.integer && !Number.isInteger(v)) || (f.key === "learning_rate" && v <= 0)) {
          return `${f.label}: ${input.value} is not allowed`;
        }
        out[f.key] = v;
      }
      return out as Partial<TrainSettings>;
    },
  };
}
