// Projects page: the list of projects and a form to create one with its classes.
import { createProject, listProjects, type ProjectClass } from "../api";
import { clear, errorText, h } from "../dom";
import type { Navigate } from "../router";

const DEFAULT_COLORS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45", "#fabed4"];

export function projectsPage(root: HTMLElement, navigate: Navigate): () => void {
  const list = h("div.cards", {}, h("p.muted", {}, "loading…"));
  const classRows = h("div.class-rows");
  const nameInput = h("input", { type: "text", name: "name", placeholder: "e.g. Spinal cord GM/WM", required: true, autocomplete: "off" });
  const formError = h("p.error", { "aria-live": "polite" });

  const addClass = (name = "", color?: string) => {
    const i = classRows.children.length;
    if (i >= 9) return;
    const row = h("div.class-row", {},
      h("span.key", {}, String(i + 1)),
      h("input.class-name", { type: "text", placeholder: `class ${i + 1}`, value: name, required: true }),
      h("input.class-color", { type: "color", value: color ?? DEFAULT_COLORS[i] ?? "#ffffff", title: "colour" }),
      h("button.icon", { type: "button", title: "remove class", onclick: () => { row.remove(); renumber(); } }, "×"),
    );
    classRows.append(row);
  };
  const renumber = () => [...classRows.children].forEach((r, i) => {
    const key = r.querySelector(".key");
    if (key) key.textContent = String(i + 1);
  });
  addClass("", DEFAULT_COLORS[0]);

  const form = h("form.card.create", {
    onsubmit: async (e: Event) => {
      e.preventDefault();
      formError.textContent = "";
      const classes: ProjectClass[] = [...classRows.querySelectorAll(".class-row")].map((r) => ({
        name: (r.querySelector(".class-name") as HTMLInputElement).value.trim(),
        color: (r.querySelector(".class-color") as HTMLInputElement).value,
      }));
      if (classes.length === 0) {
        formError.textContent = "add at least one class";
        return;
      }
      try {
        const p = await createProject(nameInput.value.trim(), classes);
        navigate(`/projects/${p.id}`);
      } catch (err) {
        formError.textContent = errorText(err);
      }
    },
  },
    h("h2", {}, "New project"),
    h("label", {}, "Name", nameInput),
    h("div.label", {}, "Classes (background is implicit; keys 1-9 pick them while painting)"),
    classRows,
    h("button.secondary", { type: "button", onclick: () => addClass() }, "+ class"),
    formError,
    h("button.primary", { type: "submit" }, "Create project"),
  );

  clear(root);
  root.append(h("header.bar", {}, h("h1", {}, "Segmentation workbench")), h("section.page", {}, h("h2", {}, "Projects"), list, form));

  listProjects().then((projects) => {
    clear(list);
    if (projects.length === 0) list.append(h("p.muted", {}, "No projects yet: create one below."));
    for (const p of projects) {
      list.append(h("a.card.project", { href: `/projects/${p.id}` },
        h("strong", {}, p.name),
        h("div.swatches", {}, ...p.classes.map((c) => h("span.swatch", { title: c.name, style: { background: c.color } }))),
        h("span.muted", {}, `${p.volumeCount ?? 0} volume${p.volumeCount === 1 ? "" : "s"}`),
      ));
    }
  }).catch((err) => {
    clear(list);
    list.append(h("p.error", {}, `could not list projects: ${errorText(err)}`));
  });
  return () => {};
}
