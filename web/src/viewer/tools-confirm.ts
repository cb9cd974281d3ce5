// The in-page question asked before a label is replaced (Accept on a labelled or verified slice, a draft over a
// manual label). Not window.confirm: a page dialog keeps the viewer's look, is reachable by the browser tests,
// and does not block the autosaver. Enter answers yes, Escape no; while it is open the viewer's keys are held.
import { h } from "../dom";

let open: { el: HTMLElement; answer: (yes: boolean) => void } | null = null;

/** Asks question; resolves true for yes. A second question while one is open answers the first with no. */
export function confirmDialog(question: string, yes = "Replace", no = "Cancel"): Promise<boolean> {
  open?.answer(false);
  return new Promise((resolve) => {
    const yesBtn = h("button#confirm-yes.primary", {}, yes);
    const noBtn = h("button#confirm-no", {}, no);
    const el = h("div#confirm.confirm-overlay", { role: "dialog", "aria-modal": "true" },
      h("div.confirm-card", {}, h("p#confirm-question", {}, question), h("div.row", {}, yesBtn, noBtn)));
    const onKey = (e: KeyboardEvent) => {
      // Captured on the window before the viewer's handler: no slice change or tool switch behind the dialog.
      e.stopImmediatePropagation();
      if (e.key === "Enter") {
        e.preventDefault();
        answer(true);
      } else if (e.key === "Escape") {
        e.preventDefault();
        answer(false);
      }
    };
    const answer = (v: boolean) => {
      if (open?.el !== el) return;
      open = null;
      window.removeEventListener("keydown", onKey, true);
      el.remove();
      resolve(v);
    };
    yesBtn.addEventListener("click", () => answer(true));
    noBtn.addEventListener("click", () => answer(false));
    window.addEventListener("keydown", onKey, true);
    document.body.append(el);
    open = { el, answer };
    yesBtn.focus();
  });
}
