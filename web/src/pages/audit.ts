// The audit trail, for admins: every state change that is not a stroke, newest first, and a CSV download.
import { ApiError } from "../api";
import { errorText, h } from "../dom";
import type { Navigate } from "../router";

interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  action: string;
  target: string;
  detail: string;
  remote: string;
}

const PAGE = 200;

export function auditPage(root: HTMLElement, _navigate: Navigate): () => void {
  document.title = "Audit trail · workbench";
  const rows = h("tbody");
  const status = h("p.muted");
  const more = h("button#audit-more", { hidden: true }, "Older entries");
  let before = 0;
  let alive = true;

  async function load(): Promise<void> {
    more.disabled = true;
    try {
      const res = await fetch(`/api/audit?limit=${PAGE}${before ? `&before=${before}` : ""}`);
      if (!res.ok) {
        const body = (await res.json().catch(() => ({}))) as { error?: string };
        throw new ApiError(res.status, body.error ?? `${res.status} ${res.statusText}`);
      }
      const entries = (await res.json()) as AuditEntry[];
      if (!alive) return;
      for (const e of entries) {
        rows.append(h("tr", {},
          h("td.nowrap", {}, new Date(e.at).toLocaleString()),
          h("td", {}, e.actor || "—"),
          h("td", {}, e.action),
          h("td", {}, e.target),
          h("td", {}, e.detail),
          h("td.muted", {}, e.remote)));
      }
      if (entries.length > 0) before = (entries[entries.length - 1] as AuditEntry).id;
      more.hidden = entries.length < PAGE;
      status.textContent = rows.children.length === 0 ? "Nothing recorded yet." : `${rows.children.length} entries shown`;
    } catch (err) {
      status.textContent = errorText(err);
      status.className = "error";
    } finally {
      more.disabled = false;
    }
  }
  more.addEventListener("click", () => void load());

  root.replaceChildren(
    h("header.bar", {}, h("a.back", { href: "/" }, "← Projects"), h("h1", {}, "Audit trail")),
    h("section.page", {},
      h("p", {}, h("a.button", { href: "/api/audit.csv", download: "audit.csv" }, "Download CSV")),
      status,
      h("table#audit.table", {}, h("thead", {}, h("tr", {}, ...["When", "Who", "Action", "What", "Detail", "From"].map((t) => h("th", {}, t)))), rows),
      more));
  void load();
  return () => {
    alive = false;
  };
}
