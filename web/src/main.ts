// The single-page app: routes to the projects list, a project, or the slice viewer.
import { h } from "./dom";
import { projectPage } from "./pages/project";
import { projectsPage } from "./pages/projects";
import { viewerPage } from "./pages/viewer";
import { parseRoute } from "./router";

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

// Same-origin links navigate inside the app; downloads and API links go to the server.
document.addEventListener("click", (e) => {
  if (e.defaultPrevented || e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) return;
  const a = (e.target as Element | null)?.closest?.("a");
  if (!a || a.hasAttribute("download") || a.target || !a.getAttribute("href")?.startsWith("/") || a.getAttribute("href")?.startsWith("/api/")) return;
  e.preventDefault();
  navigate(a.getAttribute("href") as string);
});
window.addEventListener("popstate", show);
show();
