// A tiny element builder: h("div.card", {onclick}, child, ...).

type Attrs = Record<string, unknown>;
type Child = Node | string | number | null | undefined | false;

/** The tag name of an element spec such as "canvas#strip.status". */
type TagOf<S extends string> = S extends `${infer T}.${string}` ? TagOf<T> : S extends `${infer T}#${string}` ? T : S;
type ElementOf<S extends string> = TagOf<S> extends keyof HTMLElementTagNameMap ? HTMLElementTagNameMap[TagOf<S>] : HTMLElement;

export function h<S extends string>(tagAndClass: S, attrs: Attrs = {}, ...children: Child[]): ElementOf<S> {
  const [head, ...classes] = tagAndClass.split(".");
  const [tag, id] = (head as string).split("#");
  const el = document.createElement(tag as string) as ElementOf<S>;
  if (id) el.id = id;
  if (classes.length) el.className = classes.join(" ");
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") {
      el.addEventListener(k.slice(2), v as EventListener);
    } else if (k === "style" && typeof v === "object") {
      Object.assign(el.style, v);
    } else if (v === true) {
      // Boolean properties (hidden, disabled, checked) are set as such; others (download) become bare attributes.
      if (typeof (el as unknown as Record<string, unknown>)[k] === "boolean") (el as unknown as Record<string, unknown>)[k] = true;
      else el.setAttribute(k, "");
    } else if (k in el && k !== "list" && typeof v !== "string") {
      (el as unknown as Record<string, unknown>)[k] = v;
    } else {
      el.setAttribute(k, String(v));
    }
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

export function clear(el: Element): void {
  while (el.firstChild) el.firstChild.remove();
}

let toastTimer: ReturnType<typeof setTimeout> | null = null;

/** A short message at the bottom of the screen. */
export function toast(message: string, kind: "info" | "error" = "info"): void {
  let el = document.getElementById("toast");
  if (!el) {
    el = h("div#toast", { role: "status" });
    document.body.append(el);
  }
  const box = el;
  box.textContent = message;
  box.className = kind;
  box.hidden = false;
  if (toastTimer) clearTimeout(toastTimer);
  // Hidden outright rather than faded: a transition can stall in a window that is not being painted.
  toastTimer = setTimeout(() => (box.hidden = true), kind === "error" ? 6000 : 2500);
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * A modal question with Cancel (focused, so Enter or Escape keeps everything) and a confirm button; resolves
 * true only when the confirm button is pressed.
 */
export function confirmDialog(title: string, message: string, confirmLabel: string): Promise<boolean> {
  return new Promise((resolve) => {
    const dialog = h("dialog.confirm", { "aria-label": title, style: { maxWidth: "32rem" } });
    const cancel = h("button", { type: "button", onclick: () => dialog.close("cancel") }, "Cancel");
    const confirm = h("button.danger", {
      type: "button", onclick: () => dialog.close("confirm"),
      style: { background: "var(--bad)", borderColor: "var(--bad)", color: "#fff" },
    }, confirmLabel);
    dialog.append(h("h2", {}, title), h("p", {}, message),
      h("div", { style: { display: "flex", gap: "0.5rem", justifyContent: "flex-end" } }, cancel, confirm));
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(dialog.returnValue === "confirm");
    });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}
