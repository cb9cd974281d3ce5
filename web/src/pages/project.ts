// Project page: drag-and-drop upload with per-file progress, the volume list with slice counts, the review queue,
// downloads, training with live curves, model versions and cross-sectional areas; deleting volumes or the project.
import {
  ApiError, deleteProject, deleteVolume, getProject, listModels, listVolumes, projectExportUrl, reviewQueue, thumbnailUrl, uploadLabelMap,
  uploadVolume, volumeExportUrl, type Id, type ReviewItem, type VolumeSummary,
} from "../api";
import { clear, confirmDialog, errorText, h, toast } from "../dom";
import { ProjectEvents } from "../events";
import { deletedBy, projectLoss, volumeLoss } from "../lib/deletion";
import { labelMapDone, labelMapFileProblem, replaceQuestion } from "../lib/labelmap";
import { queueNote } from "../lib/slicestate";
import type { ServerEvent } from "../serverevents";
import { areasPanel, modelsPanel } from "./models";
import { annotatorsPanel } from "./reads";
import { trainingPanel } from "./training";

const UPLOAD_CONCURRENCY = 2;

export function projectPage(root: HTMLElement, pid: Id, navigate: (path: string) => void): () => void {
  let disposed = false;
  const volumes = h("tbody");
  const queue = h("div.queue");
  const uploads = h("ul.uploads");
  const title = h("h1", {}, "Project");
  let projectName = `project ${pid}`;
  const classesEl = h("div.swatches");
  const fileInput = h("input#file-input", { type: "file", multiple: true, accept: ".nii,.gz,.nii.gz" });
  const drop = h("label.dropzone", { for: "file-input" },
    h("strong", {}, "Drop NIfTI files here"), h("span.muted", {}, " or click to choose (.nii, .nii.gz; several at once)"), fileInput);

  const training = trainingPanel(pid);
  const models = modelsPanel(pid, () => {
    void refresh();
    void models.reload();
    void areas.reload();
  });
  const areas = areasPanel(pid, navigate);
  const annotators = annotatorsPanel(pid);

  const waiting: Array<() => Promise<void>> = [];
  let active = 0;

  const pump = () => {
    while (active < UPLOAD_CONCURRENCY && waiting.length > 0) {
      const job = waiting.shift() as () => Promise<void>;
      active++;
      void job().finally(() => {
        active--;
        pump();
      });
    }
  };

  const enqueue = (files: Iterable<File>) => {
    for (const file of files) {
      const bar = h("progress", { max: 1, value: 0 });
      const state = h("span.state", {}, "waiting");
      const row = h("li", {}, h("span.fname", {}, file.name), bar, state);
      uploads.append(row);
      if (!/\.nii(\.gz)?$/i.test(file.name)) {
        row.classList.add("failed");
        state.textContent = "not a .nii or .nii.gz file";
        continue;
      }
      waiting.push(async () => {
        state.textContent = "uploading…";
        try {
          const result = await uploadVolume(pid, file, (f) => {
            bar.value = f;
            state.textContent = f < 1 ? `${Math.round(f * 100)}%` : "reading volume…";
          });
          bar.value = 1;
          row.classList.add("done");
          // Say what the import changed (NaN voxels replaced): the user would otherwise not know.
          state.textContent = result.notice ? `done; ${result.notice}` : "done";
          void refresh();
        } catch (err) {
          row.classList.add("failed");
          state.textContent = errorText(err);
        }
      });
    }
    pump();
  };

  fileInput.addEventListener("change", () => {
    if (fileInput.files) enqueue([...fileInput.files]);
    fileInput.value = "";
  });
  drop.addEventListener("dragover", (e) => {
    e.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer?.files) enqueue([...e.dataTransfer.files]);
  });

  const refresh = async () => {
    try {
      const [vols, q] = await Promise.all([listVolumes(pid), reviewQueue(pid, 20).catch(() => [])]);
      if (disposed) return;
      renderVolumes(vols);
      renderQueue(q, vols);
    } catch (err) {
      clear(volumes);
      volumes.append(h("tr", {}, h("td.error", { colSpan: 5 }, `could not list volumes: ${errorText(err)}`)));
    }
  };

  const renderVolumes = (vols: VolumeSummary[]) => {
    clear(volumes);
    if (vols.length === 0) volumes.append(h("tr", {}, h("td.muted", { colSpan: 5 }, "No volumes yet: drop NIfTI files above.")));
    for (const v of vols) {
      const c = v.counts;
      volumes.append(h("tr.volume", { "data-volume-id": String(v.id) },
        h("td", {}, h("a", { href: `/volumes/${v.id}` }, v.name)),
        h("td.muted", {}, v.shape.join(" × ")),
        h("td", {},
          h("span.count.unlabelled", { title: "unlabelled slices" }, c.unlabelled),
          h("span.count.labelled", { title: "labelled slices" }, c.labelled),
          h("span.count.predicted", { title: "slices with a prediction only" }, c.predicted),
          c.empty ? h("span.count.empty", { title: "slices where the model found nothing" }, c.empty) : null,
          h("span.count.verified", { title: "verified slices" }, c.verified)),
        h("td", {}, h("a.button", { href: volumeExportUrl(v.id), download: true, title: "labels, and the active model's predictions on the other slices" }, "NIfTI"), " ",
          h("a.button.labels-only", { href: volumeExportUrl(v.id, true), download: true, title: "manual and verified labels only" }, "labels only")),
        h("td", {},
          labelMapButton(v), " ",
          h("button.delete-volume", { type: "button", title: "delete this volume and its labels", onclick: () => void removeVolume(v) }, "Delete")),
      ));
    }
  };

  /** The row's "Upload label map…": a button opening its own hidden file input. */
  const labelMapButton = (v: VolumeSummary) => {
    const input = h("input.labelmap-input", { type: "file", accept: ".nii,.gz,.nii.gz", hidden: true });
    input.addEventListener("change", () => {
      const file = input.files?.[0];
      input.value = "";
      if (file) void sendLabelMap(v, file);
    });
    const button = h("button.upload-labelmap", {
      type: "button", title: "label this volume's slices from one integer label map on its grid (value k = class k)",
      onclick: () => input.click(),
    }, "Upload label map…");
    return h("span", {}, button, input);
  };

  /** Uploads a label map onto v, asking before it replaces labelled slices; the outcome shows in the uploads list. */
  const sendLabelMap = async (v: VolumeSummary, file: File) => {
    const state = h("span.state", {}, "uploading…");
    const row = h("li.labelmap", { "data-volume-id": String(v.id) }, h("span.fname", {}, `${file.name} → labels of ${v.name}`), state);
    uploads.append(row);
    const fail = (text: string) => {
      row.classList.add("failed");
      state.textContent = text;
    };
    const problem = labelMapFileProblem(file.name);
    if (problem) return fail(problem);
    try {
      let result;
      try {
        result = await uploadLabelMap(v.id, file);
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 409)) throw err;
        state.textContent = "waiting for your answer…";
        if (!(await confirmDialog(`Replace labels of "${v.name}"?`, replaceQuestion(err.message), "Replace labels"))) return fail(`not uploaded: ${err.message}`);
        state.textContent = "uploading…";
        result = await uploadLabelMap(v.id, file, { replace: true });
      }
      row.classList.add("done");
      state.textContent = `done; ${labelMapDone(result.labels)}`;
      void refresh();
    } catch (err) {
      fail(errorText(err));
    }
  };

  const removeVolume = async (v: VolumeSummary) => {
    if (!(await confirmDialog(`Delete volume "${v.name}"?`, volumeLoss(v.counts), "Delete volume"))) return;
    try {
      await deleteVolume(v.id);
      toast(`volume "${v.name}" deleted`);
    } catch (err) {
      toast(`could not delete volume "${v.name}": ${errorText(err)}`, "error");
    }
    void refresh();
    void areas.reload();
  };

  // Set while this tab deletes the project, so that its own projectDeleted event does not read as another's.
  let deletingProject = false;
  const removeProject = async () => {
    let text: string;
    try {
      // Fresh counts: other tabs may have labelled or uploaded since this page loaded.
      const [vols, models] = await Promise.all([listVolumes(pid), listModels(pid)]);
      text = projectLoss(projectName, vols.map((v) => v.counts), models.length);
    } catch (err) {
      toast(`could not delete the project: ${errorText(err)}`, "error");
      return;
    }
    if (!(await confirmDialog(`Delete project "${projectName}"?`, text, "Delete project"))) return;
    deletingProject = true;
    try {
      await deleteProject(pid);
    } catch (err) {
      deletingProject = false;
      toast(`could not delete the project: ${errorText(err)}`, "error");
      return;
    }
    toast(`project "${projectName}" deleted`);
    navigate("/");
  };

  const renderQueue = (items: ReviewItem[], vols: VolumeSummary[]) => {
    clear(queue);
    if (items.length === 0) return;
    const names = new Map(vols.map((v) => [String(v.id), v.name]));
    queue.append(h("h2", {}, "Review queue"), h("p.muted", {}, "Unlabelled slices to review, spread over the volumes and along each one, the most uncertain first where slices are equally far from labels; slices where the model found nothing come last."));
    const ol = h("ol");
    for (const it of items) {
      ol.append(h("li", {}, h("a", { href: `/volumes/${it.volumeId}?z=${it.slice}` },
        h("img.thumb", { src: thumbnailUrl(it.volumeId, it.slice), width: 64, height: 64, loading: "lazy", alt: "" }),
        `${names.get(String(it.volumeId)) ?? it.volumeId} · slice ${it.slice}`), h("span.muted", {}, queueNote(it))));
    }
    queue.append(ol);
  };

  clear(root);
  root.append(
    h("header.bar", {}, h("a.back", { href: "/" }, "← Projects"), title, classesEl,
      h("a.button", { href: projectExportUrl(pid), download: true, title: "every volume's segmentation (labels, else the active model's predictions) as NIfTI, in a zip" }, "Download all (zip)"),
      h("a.button", { href: projectExportUrl(pid, true), download: true, title: "manual and verified labels only, as NIfTI, in a zip" }, "labels only (zip)"),
      h("button#delete-project", { type: "button", title: "delete the project with its volumes, labels and models", onclick: () => void removeProject() }, "Delete project")),
    h("section.page", {},
      drop, uploads,
      h("h2", {}, "Volumes"),
      h("table.volumes", {}, h("thead", {}, h("tr", {}, h("th", {}, "name"), h("th", {}, "shape"),
        h("th", {}, "slices: ", h("span.count.unlabelled", {}, "unlabelled"), h("span.count.labelled", {}, "labelled"),
          h("span.count.predicted", {}, "predicted"), h("span.count.verified", {}, "verified")), h("th", {}, "download"), h("th", {}))), volumes),
      training.el, queue, models.el, areas.el, annotators.el),
  );

  getProject(pid).then((p) => {
    projectName = p.name;
    title.textContent = p.name;
    document.title = `${p.name} · workbench`;
    clear(classesEl);
    p.classes.forEach((c, i) => classesEl.append(h("span.chip", {}, h("span.swatch", { style: { background: c.color } }), `${i + 1} ${c.name}`)));
    training.setClasses(p.classes);
    areas.setClasses(p.classes);
    void annotators.reload(p);
  }).catch((err) => {
    title.textContent = `project ${pid}: ${errorText(err)}`;
  });
  void refresh();

  // Counts and areas change as other tabs label and upload: refresh at most once a second. A new model (or
  // another active one) changes predictions: refresh everything at once.
  let pending: ReturnType<typeof setTimeout> | null = null;
  const refreshSoon = () => {
    if (pending) return;
    pending = setTimeout(() => {
      pending = null;
      void refresh();
      void areas.reload();
    }, 1000);
  };
  const onEvent = (ev: ServerEvent) => {
    if (deletedBy(ev, pid) === "project") {
      if (!deletingProject) showDeleted();
      return;
    }
    training.onEvent(ev);
    switch (ev.type) {
      case "label":
      case "volume":
        refreshSoon();
        break;
      case "volumeDeleted":
        void refresh();
        void areas.reload();
        break;
      case "predictions":
      case "activeModel":
        void refresh();
        void models.reload();
        void areas.reload();
        break;
      case "run":
        // A run that ended without a model leaves the models as they were; one with a model announced it.
        if (ev.run.status === "done") void models.reload();
        break;
      case "evaluation":
        models.onEvaluation(ev);
        break;
    }
  };
  const events = new ProjectEvents(pid, onEvent, undefined, () => {
    void refresh();
    void training.reload();
    void models.reload();
    void areas.reload();
  });

  const dispose = () => {
    disposed = true;
    events.close();
    training.dispose();
    models.dispose();
    areas.dispose();
    if (pending) clearTimeout(pending);
  };

  /** Another tab deleted the project: nothing here can be used any more. */
  const showDeleted = () => {
    dispose();
    clear(root);
    root.append(h("header.bar", {}, h("a.back", { href: "/" }, "← Projects"), h("h1", {}, projectName)),
      h("section.page", {}, h("p#deleted.error", {}, `Project "${projectName}" was deleted (in another tab or by another user).`),
        h("p", {}, h("a", { href: "/" }, "Back to the projects"))));
  };

  return dispose;
}
