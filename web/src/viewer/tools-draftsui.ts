// Interpolation drafts in the viewer: ask the server for drafts (between the listed labelled slices, or every
// gap, of one class or all), show them striped on their slices, accept one or all into labels with origin
// "interpolated" (asking before a label is replaced), and copy the label of the slice above or below.
import { interpolateDrafts, type SliceInfo } from "../api";
import { errorText, h, toast } from "../dom";
import { sliceRanges } from "../lib/labelmap";
import type { ViewerContext } from "./context";
import { changed, editable, undoFor } from "./editing";
import { confirmDialog } from "./tools-confirm";
import { anyLabelled } from "./tools-overlay";
import {
  acceptAllPlan, copyBody, decodeDrafts, interpolateBody, liveLabel, mergeDraft, replaceQuestion, type Built, type Draft,
  type LocalSlice,
} from "./tools-drafts";

export class DraftsUi {
  /** Pending drafts by slice, and the class they hold (null: every class). */
  readonly drafts = new Map<number, Draft>();
  private draftClass: number | null = null;
  private readonly el = {
    slices: h("input#interp-slices.wl", { type: "text", placeholder: "all gaps", title: "labelled slices to interpolate between, e.g. 0,4,8; empty: every gap" }),
    cls: h("select#interp-class", { title: "interpolate one class, or all" }),
    align: h("input#interp-align", { type: "checkbox", title: "follow a structure that shifts between slices" }),
    run: h("button#interpolate", { title: "draft the slices between labelled ones (shape-based interpolation)" }, "Interpolate"),
    below: h("button#copy-below", { title: "copy the label of the nearest labelled slice below" }, "Copy ↓"),
    above: h("button#copy-above", { title: "copy the label of the nearest labelled slice above" }, "Copy ↑"),
    bar: h("div#drafts-bar.drafts-bar", { hidden: true }),
    info: h("span#drafts-info"),
    accept: h("button#draft-accept.primary", {}, "Accept this slice"),
    acceptAll: h("button#drafts-accept-all", {}, "Accept all"),
    discard: h("button#drafts-discard", {}, "Discard drafts"),
  };

  constructor(private readonly v: ViewerContext) {
    const el = this.el;
    el.cls.append(h("option", { value: "" }, "all classes"), ...v.project.classes.map((c, i) => h("option", { value: String(i + 1) }, c.name)));
    el.run.addEventListener("click", () => void this.interpolate());
    el.below.addEventListener("click", () => void this.copy("below"));
    el.above.addEventListener("click", () => void this.copy("above"));
    el.accept.addEventListener("click", () => void this.acceptSlice(v.state.z));
    el.acceptAll.addEventListener("click", () => void this.acceptAll());
    el.discard.addEventListener("click", () => this.discard());
    el.bar.append(el.info, el.accept, el.acceptAll, el.discard);
    v.ui.toolbar.append(h("div.group", {}, el.slices, el.cls, h("label.inline", {}, el.align, "align"), el.run, el.below, el.above));
    v.ui.stage.append(el.bar);
  }

  /** The draft shown on slice z, or null. */
  draftMask(z: number): Uint8Array | null {
    this.updateBar();
    return this.drafts.get(z)?.mask ?? null;
  }

  private selectedClass(): number | null {
    return this.el.cls.value === "" ? null : Number(this.el.cls.value);
  }

  private async fetchDrafts(built: Built): Promise<Draft[] | null> {
    if ("problem" in built) {
      toast(built.problem, "error");
      return null;
    }
    try {
      const res = await interpolateDrafts(this.v.vol.id, { ...built.body });
      return decodeDrafts(res, this.v.W, this.v.H, this.v.project.classes.length);
    } catch (err) {
      toast(`interpolation refused: ${errorText(err)}`, "error");
      return null;
    }
  }

  async interpolate(): Promise<void> {
    const raw = this.el.slices.value.trim();
    const selected = raw === "" ? [] : raw.split(/[\s,]+/).map(Number);
    if (selected.some((z) => !Number.isInteger(z) || z < 0 || z >= this.v.D)) {
      toast(`slices are whole numbers from 0 to ${this.v.D - 1}, separated by commas`, "error");
      return;
    }
    const cls = this.selectedClass();
    const built = interpolateBody(selected, cls, this.v.info, this.el.align.checked);
    const got = await this.fetchDrafts(built);
    if (!got) return;
    this.drafts.clear();
    this.draftClass = cls;
    for (const d of got) this.drafts.set(d.slice, d);
    toast(got.length ? `${got.length} drafts for ${"what" in built ? built.what : ""}: shown striped; accept them below` : "no slice to draft: the labelled slices are adjacent");
    const first = got.find((d) => d.slice >= this.v.state.z) ?? got[0];
    if (first && !this.drafts.has(this.v.state.z)) this.v.setSlice(first.slice);
    this.v.render();
  }

  async copy(direction: "above" | "below"): Promise<void> {
    const z = this.v.state.z;
    const got = await this.fetchDrafts(copyBody(z, direction, this.v.info, this.selectedClass()));
    const d = got?.[0];
    if (!d || this.v.state.z !== z) return;
    const from = direction === "above" ? this.nearest(z, 1) : this.nearest(z, -1);
    if (await this.accept(d, this.selectedClass())) toast(`slice ${from}'s label copied into slice ${z}`);
  }

  private nearest(z: number, step: number): number {
    for (let k = z + step; k >= 0 && k < this.v.D; k += step) if (liveLabel(this.v.info[k] as SliceInfo)) return k;
    return -1;
  }

  private local(z: number): LocalSlice {
    const s = this.v.info[z] as SliceInfo;
    const m = this.v.data.masks.get(z);
    return { labelled: liveLabel(s) || (m !== undefined && anyLabelled(m)), verified: s.verified, dirty: this.v.saver.isDirty(z) };
  }

  /** Accepts the draft on slice z, asking first when it replaces a label. */
  async acceptSlice(z: number): Promise<void> {
    const d = this.drafts.get(z);
    if (!d) {
      toast(`slice ${z} has no draft`);
      return;
    }
    if (await this.accept(d, this.draftClass)) {
      this.drafts.delete(z);
      this.v.render();
    }
  }

  /** Accepts every draft: those on free slices at once, the others after one question. */
  async acceptAll(): Promise<void> {
    const plan = acceptAllPlan([...this.drafts.values()], (z) => this.local(z));
    const take = [...plan.free];
    if (plan.question && (await confirmDialog(plan.question, "Replace them too", "Only the others"))) take.push(...plan.replacing);
    let n = 0;
    for (const d of take) {
      if (await this.accept(d, this.draftClass, false)) {
        this.drafts.delete(d.slice);
        n++;
      }
    }
    toast(`${n} ${n === 1 ? "draft" : "drafts"} accepted${this.drafts.size ? `; ${this.drafts.size} left` : ""}`);
    this.v.render();
  }

  discard(): void {
    this.drafts.clear();
    this.v.render();
  }

  /** Puts d into its slice's local label (saved by the autosaver with origin interpolated). */
  private async accept(d: Draft, cls: number | null, ask = true): Promise<boolean> {
    const v = this.v;
    const z = d.slice;
    const question = ask ? replaceQuestion(d, this.local(z)) : null;
    if (question && !(await confirmDialog(question))) return false;
    if (!v.data.labelReady(z)) await v.data.loadLabel(z);
    if (v.edits.conflicts.has(z)) {
      toast(`slice ${z} has a conflict: resolve it first`, "error");
      return false;
    }
    if (z === v.state.z && !editable(v)) return false;
    const current = v.data.masks.get(z) ?? null;
    undoFor(v, z).record(current ?? new Uint8Array(v.N));
    v.data.masks.set(z, mergeDraft(current, d.mask, cls));
    changed(v, z, "interpolated");
    if (z === v.state.z) v.render();
    return true;
  }

  private updateBar(): void {
    const n = this.drafts.size;
    // DOM writes only on a change: this runs on every frame.
    if (this.el.bar.hidden !== (n === 0)) this.el.bar.hidden = n === 0;
    if (n === 0) return;
    const here = this.drafts.has(this.v.state.z);
    const text = `${n} ${n === 1 ? "draft" : "drafts"} (slices ${sliceRanges([...this.drafts.keys()])})${here ? " · this slice is drafted" : ""}`;
    if (this.el.info.textContent !== text) this.el.info.textContent = text;
    if (this.el.accept.disabled !== !here) this.el.accept.disabled = !here;
  }
}
