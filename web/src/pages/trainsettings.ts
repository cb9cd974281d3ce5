// The training panel's further settings (architecture, batch, learning rate and schedule, crop, loss,
// normalisation): filled with what a run would use, read back as the run's overrides. The memory a run of
// them would need is shown against the server's training budget, and settings over it are refused here
// as the server would refuse them.
import type { MemoryEstimate } from "../api";
import { h } from "../dom";
import type { TrainSettings } from "../lib/runprogress";

/** The server's largest crop side (train.Settings.Validate). */
const MAX_CROP = 1024;

type Field =
  | { key: keyof TrainSettings & string; label: string; kind: "number"; step: string; min: number; max?: number; integer: boolean }
  | { key: keyof TrainSettings & string; label: string; kind: "select"; options: string[] };

const FIELDS: Field[] = [
  { key: "arch", label: "architecture", kind: "select", options: [] },
  { key: "batch_size", label: "batch", kind: "number", step: "1", min: 1, integer: true },
  { key: "learning_rate", label: "learning rate", kind: "number", step: "any", min: 0, integer: false },
  { key: "schedule", label: "schedule", kind: "select", options: ["cosine", "constant"] },
  { key: "crop_w", label: "crop width", kind: "number", step: "8", min: 8, max: MAX_CROP, integer: true },
  { key: "crop_h", label: "crop height", kind: "number", step: "8", min: 8, max: MAX_CROP, integer: true },
  { key: "placement", label: "crop placement", kind: "select", options: ["foreground", "center", "random"] },
  { key: "loss", label: "loss", kind: "select", options: ["dice+ce", "dice-perclass", "dice", "ce"] },
  { key: "normalization", label: "normalisation", kind: "select", options: ["per-slice", "training-set"] },
];

export interface SettingsForm {
  el: HTMLElement;
  /** Shows the settings; architectures lists the server's; memory (kept when absent) is the server's estimate. */
  fill(s: TrainSettings, architectures?: string[], memory?: MemoryEstimate): void;
  /** The settings as entered, or the reason they cannot be used. */
  read(): Partial<TrainSettings> | string;
}

/** "1.5 GiB", "512 MiB". */
export function formatBytes(n: number): string {
  const units = ["MiB", "GiB", "TiB", "PiB"];
  let v = n / 2 ** 20, i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${Math.ceil(v)} ${units[i]}` : `${v.toFixed(1)} ${units[i]}`;
}

/** The server's estimate of a run's peak memory with these settings, in bytes; null when it cannot tell. */
export function estimatedMemory(m: MemoryEstimate, s: Partial<TrainSettings>): number | null {
  const { arch, batch_size: batch, crop_w: w, crop_h: ht } = s;
  if (!arch || !(arch in m.fixed) || !batch || !w || !ht) return null;
  return m.fixed[arch]! + (m.perCropPixel[arch] ?? 0) * batch * w * ht;
}

/** The largest batch that fits the budget at these settings' architecture and crop (0: none does). */
export function largestBatch(m: MemoryEstimate, s: Partial<TrainSettings>): number | null {
  const { arch, crop_w: w, crop_h: ht } = s;
  if (!arch || !(arch in m.fixed) || !w || !ht) return null;
  const per = (m.perCropPixel[arch] ?? 0) * w * ht;
  return per > 0 ? Math.max(0, Math.floor((m.budget - m.fixed[arch]!) / per)) : null;
}

/** What the settings need against the budget, and whether the server would refuse them. */
export function memoryNote(m: MemoryEstimate, s: Partial<TrainSettings>): { text: string; over: boolean } {
  const bytes = estimatedMemory(m, s);
  if (bytes === null) return { text: `training memory budget ${formatBytes(m.budget)}`, over: false };
  if (bytes <= m.budget) return { text: `needs about ${formatBytes(bytes)} of the ${formatBytes(m.budget)} training memory budget`, over: false };
  const most = largestBatch(m, s);
  const lower = most && most >= 1 ? `lower batch to ${most} or less, or the crop` : "lower the crop (or the architecture's width)";
  return { text: `needs about ${formatBytes(bytes)}, over the ${formatBytes(m.budget)} training memory budget: ${lower}`, over: true };
}

export function settingsForm(): SettingsForm {
  const inputs = new Map<string, HTMLInputElement | HTMLSelectElement>();
  const el = h("div.train-settings");
  let memory: MemoryEstimate | undefined;
  const note = h("span#train-memory.muted");
  for (const f of FIELDS) {
    const id = `train-${f.key.replace(/_/g, "-")}`;
    const input = f.kind === "number"
      ? h("input", { id, type: "number", step: f.step, min: f.min, max: f.max })
      : h("select", { id }, ...f.options.map((o) => h("option", { value: o }, o)));
    inputs.set(f.key, input);
    input.addEventListener("input", () => showMemory());
    el.append(h("label.inline", {}, `${f.label} `, input));
  }
  el.append(note);

  /** The entered architecture, batch and crop, as far as they are numbers. */
  function sized(): Partial<TrainSettings> {
    const num = (k: string) => Number(inputs.get(k)?.value);
    return { arch: inputs.get("arch")?.value, batch_size: num("batch_size"), crop_w: num("crop_w"), crop_h: num("crop_h") };
  }

  /** Shows the estimate for the entered values and caps the batch at what fits. */
  function showMemory(): void {
    if (!memory) return;
    const s = sized();
    const n = memoryNote(memory, s);
    note.textContent = n.text;
    note.className = n.over ? "error" : "muted";
    const most = largestBatch(memory, s);
    const batch = inputs.get("batch_size") as HTMLInputElement;
    if (most && most >= 1) batch.max = String(most);
    else batch.removeAttribute("max");
  }

  return {
    el,
    fill(s, architectures, estimate) {
      if (estimate) memory = estimate;
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
      showMemory();
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
        if (!Number.isFinite(v) || v < f.min || (f.max !== undefined && v > f.max) || (f.integer && !Number.isInteger(v)) ||
          (f.key === "learning_rate" && v <= 0)) {
          return `${f.label}: ${input.value} is not allowed`;
        }
        out[f.key] = v;
      }
      if (memory) {
        const n = memoryNote(memory, sized());
        if (n.over) return `the run ${n.text}`;
      }
      return out as Partial<TrainSettings>;
    },
  };
}
