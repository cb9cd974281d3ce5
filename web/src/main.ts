// The single-page app: routes to the projects list, a project, the slice viewer or the audit trail, after
// finding out who is signed in.
import { h } from "./dom";
import { auditPage } from "./pages/audit";
import { projectPage } from "./pages/project";
import { projectsPage } from "./pages/projects";
import { showSignIn } from "./pages/signin";
import { viewerPage } from "./pages/viewer";
import { parseRoute } from "./router";
import { loadSession, onSession, roleIncludes, SIGN_IN_NEEDED, signOut, type SessionInfo } from "./session";

const root = document.getElementById("app") as HTMLElement;
let dispose: () => void = () => {};

function navigate(path: string): void {
  history.pushState(null, "", path);
  show();
}

function show(): void {
  dispose();
  const route = parseRoute(location.pathname, location.search);
  switch (route.page) {
    case "projects":
      document.title = "Segmentation workbench";
      dispose = projectsPage(root, navigate);
      break;
    case "audit":
      dispose = auditPage(root, navigate);
      break;
    case "project":
      dispose = projectPage(root, route.pid, navigate);
      break;
    case "viewer":
      dispose = viewerPage(root, route.vid, route.z, navigate);
      break;
    case "missing":
      root.replaceChildren(h("header.bar", {}, h("a.back", { href: "/" }, "← Projects")), h("p.error.pad", {}, `no page at ${route.path}`));
      dispose = () => {};
      break;
  }
}

// Who is signed in, in the corner of every page: the name and role, the audit trail for admins, sign out.
const badge = h("div#session.session-badge", { hidden: true });
document.body.append(badge);
onSession((s: SessionInfo | null) => {
  badge.hidden = !s?.authenticated;
  document.body.classList.toggle("signed-in", s?.authenticated === true);
  if (!s?.authenticated) return;
  const items: Node[] = [h("span#session-user", {}, `${s.name} · ${s.role}`)];
  if (roleIncludes(s.role, "admin")) items.push(h("a#audit-link", { href: "/audit" }, "Audit"));
  badge.replaceChildren(...items, h("button#sign-out.link", {
      onclick: async () => {
        await signOut();
        location.assign("/");
      },
    }, "Sign out"));
});

// A 401 from any request (the session ended, the server gained accounts) raises the sign-in form over the page.
window.addEventListener(SIGN_IN_NEEDED, () => showSignIn(() => undefined));

// Same-origin links navigate inside the app; downloads and API links go to the server.
document.addEventListener("click", (e) => {
  if (e.defaultPrevented || e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) return;
  const a = (e.target as Element | null)?.closest?.("a");
  if (!a || a.hasAttribute("download") || a.target || !a.getAttribute("href")?.startsWith("/") || a.getAttribute("href")?.startsWith("/api/")) return;
  e.preventDefault();
  navigate(a.getAttribute("href") as string);
});
window.addEventListener("popstate", show);

async function start(): Promise<void> {
  try {
    if ((await loadSession()) === null) {
      showSignIn(() => show());
      return;
    }
  } catch (err) {
    root.replaceChildren(h("p.error.pad", {}, err instanceof Error ? err.message : String(err)));
    return;
  }
  show();
}
void start();
