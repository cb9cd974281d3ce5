// Several annotators per slice. In the viewer, a reviewer's panel shows every annotator's read of the slice
// side by side (cropped to the structure) with their per-class agreement, and adjudicates: one read, the
// majority vote or STAPLE becomes the slice's label, the one training uses. On the project page, the reads
// mode and the project's agreement table and plot.
import { getSlice, patchProject, type Id, type Label, type Project, type ReadsMode, type VolumeDetail } from "../api";
import { adjudicate, agreementCsvUrl, getAgreement, getSliceReads, type AgreementTable } from "../apireads";
import { clear, errorText, h, toast } from "../dom";
import { decodeReadMask, describeAgreement, sharedBox } from "../lib/reads";
import { compose, outlineOf, Palette, parseColor } from "../lib/render";
import { applyWindow, defaultWindow } from "../lib/windowlevel";
import { roleIncludes, session } from "../session";

export interface ReadsPanel {
  el: HTMLElement;
  /** Shows the reads of slice z (or hides the panel when closed). */
  show(z: number): Promise<void>;
  toggle(z: number): void;
  readonly open: boolean;
}

/** The viewer's reads panel; onAdjudicated runs after a decision was saved as the slice's label. */
export function readsPanel(vol: VolumeDetail, project: Project, onAdjudicated: (l: Label) => void): ReadsPanel {
  const [W, H] = vol.shape as [number, number, number];
  const N = W * H;
  const el = h("div#reads.reads-panel", { hidden: true });
  const palette = new Palette(project.classes.map((c) => parseColor(c.color)), 0.45);
  let shownZ = -1;

  async function show(z: number): Promise<void> {
    if (el.hidden) return;
    shownZ = z;
    clear(el);
    el.append(h("p.muted", {}, `loading the reads of slice ${z}…`));
    let reads, slice;
    try {
      [reads, slice] = await Promise.all([getSliceReads(vol.id, z), getSlice(vol.id, z, W, H)]);
    } catch (err) {
      if (shownZ === z) el.replaceChildren(h("p.error", {}, errorText(err)));
      return;
    }
    if (shownZ !== z) return;
    const masks = reads.reads.map((r) => decodeReadMask(r.mask, N));
    const box = sharedBox(masks, W, H);
    const gray = new Uint8Array(N);
    applyWindow(slice, defaultWindow(vol.stats), gray);
    const label = reads.label && !reads.label.deleted ? reads.label : null;
    const base = reads.label?.version ?? 0;
    const reviewer = roleIncludes(session()?.role, "reviewer");

    const decide = async (body: { method: "read" | "majority" | "staple"; annotator?: string }) => {
      try {
        const l = await adjudicate(vol.id, z, { ...body, baseVersion: base });
        toast(`slice ${z}: ${body.method === "read" ? `${body.annotator}'s read` : body.method} saved as the label`);
        onAdjudicated(l);
        void show(z);
      } catch (err) {
        toast(`could not adjudicate slice ${z}: ${errorText(err)}`, "error");
      }
    };

    const cards = reads.reads.map((r, i) => h("figure.read", { "data-annotator": r.annotator },
      thumbnail(gray, masks[i] as Uint8Array, W, H, box, palette),
      h("figcaption", {}, h("strong", {}, r.annotator), h("span.muted", {}, ` v${r.version}`),
        reviewer ? h("button.small.use-read", { onclick: () => void decide({ method: "read", annotator: r.annotator }) }, "Use this read") : null)));
    const pairs = reads.agreement.map((p) => {
      const a = reads.reads[p.a]?.annotator ?? "?", b = reads.reads[p.b]?.annotator ?? "?";
      return h("li.pair", {}, h("strong", {}, `${a} ↔ ${b}`),
        h("ul", {}, ...p.classes.map((c) => h("li.class-agreement", { "data-class": String(c.class) },
          h("span.swatch", { style: { background: project.classes[c.class - 1]?.color ?? "#888" } }),
          ` ${project.classes[c.class - 1]?.name ?? c.class}: ${describeAgreement(c)}`))));
    });
    const parts: Node[] = [h("h3", {}, `Reads of slice ${z}`),
      reads.reads.length === 0 ? h("p.muted", {}, "No annotator has labelled this slice yet.") : h("div.reads", {}, ...cards)];
    if (pairs.length) parts.push(h("ul.pairs", {}, ...pairs));
    parts.push(h("p.muted.small", {}, label ? `Label: version ${label.version} by ${label.author} (${label.origin}).` : "No label yet: training skips this slice until you decide."));
    if (reviewer && reads.reads.length > 1) {
      parts.push(h("div.group", {},
        h("button#adjudicate-majority", { onclick: () => void decide({ method: "majority" }) }, "Majority vote"),
        h("button#adjudicate-staple", { onclick: () => void decide({ method: "staple" }) }, "STAPLE")));
    }
    el.replaceChildren(...parts);
  }

  return {
    el,
    show,
    toggle(z: number) {
      el.hidden = !el.hidden;
      if (!el.hidden) void show(z);
    },
    get open() {
      return !el.hidden;
    },
  };
}

/** A read drawn over the slice, cropped to the box, in the viewer's radiological orientation. */
function thumbnail(gray: Uint8Array, mask: Uint8Array, w: number, h: number, box: { x0: number; y0: number; x1: number; y1: number }, palette: Palette): HTMLCanvasElement {
  const full = document.createElement("canvas");
  full.width = w;
  full.height = h;
  const fctx = full.getContext("2d") as CanvasRenderingContext2D;
  const img = fctx.createImageData(w, h);
  compose(gray, mask, outlineOf(mask, w, h), palette, new Uint32Array(img.data.buffer));
  fctx.putImageData(img, 0, 0);
  // Display order reverses both axes (radiological): the voxel box [x0, x1) shows at [w - x1, w - x0).
  const bw = box.x1 - box.x0, bh = box.y1 - box.y0;
  const scale = Math.max(1, Math.floor(180 / Math.max(bw, bh)));
  const out = document.createElement("canvas");
  out.width = bw * scale;
  out.height = bh * scale;
  const ctx = out.getContext("2d") as CanvasRenderingContext2D;
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(full, w - box.x1, h - box.y1, bw, bh, 0, 0, out.width, out.height);
  return out;
}

const modeText: Record<ReadsMode, string> = {
  single: "one label per slice (everyone edits it)",
  multi: "several annotators: each label is its own read",
  blind: "blind double reads: hidden from each other until a reviewer opens them",
};

/** The project page's section: the reads mode (reviewers change it) and the agreement table and plot. */
export function annotatorsPanel(pid: Id): { el: HTMLElement; reload: (p: Project) => Promise<void> } {
  const el = h("section#annotators.panel");
  async function reload(p: Project): Promise<void> {
    const mode = p.readsMode ?? "single";
    const canChange = roleIncludes(session()?.role, "reviewer");
    const select = h("select#reads-mode", { disabled: !canChange, title: canChange ? "how labels of one slice by several people are kept" : "reviewers choose this" },
      ...(Object.keys(modeText) as ReadsMode[]).map((m) => h("option", { value: m, selected: m === mode }, modeText[m])));
    select.addEventListener("change", async () => {
      try {
        const next = await patchProject(pid, { readsMode: select.value as ReadsMode });
        toast(`annotation mode: ${modeText[next.readsMode ?? "single"]}`);
        void reload(next);
      } catch (err) {
        toast(`could not change the annotation mode: ${errorText(err)}`, "error");
        select.value = mode;
      }
    });
    el.replaceChildren(h("h2", {}, "Annotators"), h("p", {}, h("label.inline", {}, "Annotation: ", select)));
    if (mode === "single" || !canChange) return;
    let table: AgreementTable;
    try {
      table = await getAgreement(pid);
    } catch (err) {
      el.append(h("p.error", {}, errorText(err)));
      return;
    }
    if (table.slices === 0) {
      el.append(h("p.muted", {}, "No slice has two reads yet."));
      return;
    }
    el.append(
      h("p", {}, `Agreement over ${table.slices} slice(s) read by two annotators or more `,
        h("a.button", { href: agreementCsvUrl(pid), download: "agreement.csv" }, "CSV")),
      h("table#agreement.table", {},
        h("thead", {}, h("tr", {}, h("th", {}, "class"), h("th", {}, "pairs"), h("th", {}, "mean Dice"), h("th", {}, "lowest Dice"))),
        h("tbody", {}, ...table.classes.map((c) => h("tr", {}, h("td", {}, c.className), h("td", {}, c.pairs),
          h("td", {}, c.meanDice.toFixed(3)), h("td", {}, c.minDice.toFixed(3)))))),
      agreementPlot(table, p));
  }
  return { el, reload };
}

/** Dice of every pair of reads, one dot per pair and class, slices along x: where raters disagree stands out. */
function agreementPlot(table: AgreementTable, p: Project): HTMLCanvasElement {
  const canvas = h("canvas#agreement-plot", { width: 640, height: 180, title: "Dice of each pair of reads per slice (1 = identical)" });
  const ctx = canvas.getContext("2d") as CanvasRenderingContext2D;
  const keys = [...new Set(table.rows.map((r) => `${r.volume} ${r.slice}`))];
  const left = 36, right = 630, top = 10, bottom = 160;
  ctx.fillStyle = "#171b24";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.strokeStyle = "#2b3242";
  ctx.fillStyle = "#8891a5";
  ctx.font = "11px system-ui, sans-serif";
  for (const d of [0, 0.5, 1]) {
    const y = bottom - d * (bottom - top);
    ctx.beginPath();
    ctx.moveTo(left, y);
    ctx.lineTo(right, y);
    ctx.stroke();
    ctx.fillText(d.toFixed(1), 8, y + 4);
  }
  const x = (i: number) => left + ((i + 0.5) / Math.max(1, keys.length)) * (right - left);
  for (const r of table.rows) {
    ctx.fillStyle = p.classes[r.class - 1]?.color ?? "#e6e9ef";
    ctx.beginPath();
    ctx.arc(x(keys.indexOf(`${r.volume} ${r.slice}`)), bottom - r.dice * (bottom - top), 3.5, 0, 2 * Math.PI);
    ctx.fill();
  }
  ctx.fillStyle = "#8891a5";
  ctx.fillText(`${keys.length} slice(s), Dice per pair of reads and class`, left, 176);
  return canvas;
}
