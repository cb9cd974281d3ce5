// Typed client of the workbench HTTP API (server/API.md).
import { session, signInNeeded } from "./session";
import type { SaveResult } from "./lib/autosave";
import { decodeMask, decodeSlice } from "./lib/codec";
import { labelMapForm, type LabelMapOptions } from "./lib/labelmap";
import type { ProgressEvent, RunSettings, RunStatus, TrainSettings } from "./lib/runprogress";

export type Id = number | string;

export interface ProjectClass {
  name: string;
  color: string;
}

export interface Project {
  id: Id;
  name: string;
  classes: ProjectClass[];
  volumeCount?: number;
  /** Settings of several owners: the trainer's (TrainSettings names and "preset"), and others'. */
  settings?: Record<string, unknown> | null;
  /** single: one label per slice; multi: each annotator's label is its own read; blind: multi, hidden until a reviewer opens them. */
  readsMode?: ReadsMode;
  createdAt?: string;
}

export type ReadsMode = "single" | "multi" | "blind";

export interface SliceCounts {
  unlabelled: number;
  labelled: number;
  /** Unlabelled slices with a prediction that found something. */
  predicted: number;
  /** Unlabelled slices whose prediction found nothing (optional: older servers do not send it). */
  empty?: number;
  verified: number;
}

export interface VolumeSummary {
  id: Id;
  projectId: Id;
  name: string;
  /** The uploaded file's name. */
  originalName: string;
  shape: number[];
  spacing: number[];
  counts: SliceCounts;
  createdAt: string;
}

/** "empty": the active model predicted the slice and found nothing there. */
export type SliceStatus = "unlabelled" | "labelled" | "predicted" | "empty" | "verified";

export interface SliceInfo {
  index: number;
  status: SliceStatus;
  labelVersion: number;
  verified: boolean;
  // Whether the current version is a deletion; servers that do not send it leave it to labelDeleted.
  deleted?: boolean;
  uncertainty?: number | null;
}

export interface VolumeDetail {
  id: Id;
  projectId: Id;
  name: string;
  shape: number[];
  spacing: number[];
  axisLetters?: { left: string; right: string; top: string; bottom: string };
  /** Canonical voxel index -> world (RAS mm). */
  affine?: number[][];
  /** Canonical axis a is source-file axis perm[a], reversed where flip[a]. */
  orientation?: { perm: number[]; flip: boolean[] };
  sourceShape?: number[];
  stats: { min: number; max: number; mean: number; std: number; p1: number; p99: number };
  slices: SliceInfo[];
}

export interface Label {
  slice?: number;
  version: number;
  author?: string;
  origin?: string;
  verified?: boolean;
  deleted?: boolean;
  createdAt?: string;
}

export interface LabelData {
  mask: Uint8Array | null;
  version: number;
  origin: string;
  verified: boolean;
  author: string;
}

export interface ReviewItem {
  volumeId: Id;
  slice: number;
  uncertainty: number;
  /** The model found nothing on the slice; such slices come after all others. */
  empty?: boolean;
}

export class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly body: Record<string, unknown> = {}) {
    super(message);
  }
}

const AUTHOR_KEY = "workbench.author";

/**
 * Who this browser saves labels as: the signed-in user where accounts exist (the server records that name
 * whatever the header says); otherwise a stable random name until the user sets one.
 */
export function author(): string {
  const s = session();
  if (s?.authenticated) return s.name;
  let name = localStorage.getItem(AUTHOR_KEY);
  if (!name) {
    name = `annotator-${Math.random().toString(36).slice(2, 6)}`;
    localStorage.setItem(AUTHOR_KEY, name);
  }
  return name;
}

export function setAuthor(name: string): void {
  if (name.trim()) localStorage.setItem(AUTHOR_KEY, name.trim());
}

/** Header values must be Latin-1; the server accepts the author percent-encoded. */
function authorHeader(): string {
  return encodeURIComponent(author());
}

async function errorOf(res: Response): Promise<ApiError> {
  if (res.status === 401) signInNeeded();
  let body: Record<string, unknown> = {};
  let reason = `${res.status} ${res.statusText}`;
  try {
    body = (await res.json()) as Record<string, unknown>;
    const e = body.error ?? body.message;
    if (typeof e === "string" && e) reason = e;
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(res.status, reason, body);
}

async function request(url: string, init?: RequestInit): Promise<Response> {
  const res = await fetch(url, init);
  if (!res.ok) throw await errorOf(res);
  return res;
}

export async function json<T>(url: string, init?: RequestInit): Promise<T> {
  return (await (await request(url, init)).json()) as T;
}

export const jsonBody = (method: string, body: unknown): RequestInit => ({
  method,
  headers: { "Content-Type": "application/json" },
  body: JSON.stringify(body),
});

export const listProjects = () => json<Project[]>("/api/projects");
export const getProject = (pid: Id) => json<Project>(`/api/projects/${pid}`);
export const createProject = (name: string, classes: ProjectClass[]) =>
  json<Project>("/api/projects", jsonBody("POST", { name, classes }));
export const patchProject = (pid: Id, patch: { settings?: Record<string, unknown>; readsMode?: ReadsMode }) =>
  json<Project>(`/api/projects/${pid}`, jsonBody("PATCH", patch));
/** Deletes a project and everything in it; 409 while one of its runs is queued or running. */
export const deleteProject = async (pid: Id): Promise<void> => {
  await request(`/api/projects/${pid}`, { method: "DELETE" });
};
export const listVolumes = (pid: Id) => json<VolumeSummary[]>(`/api/projects/${pid}/volumes`);
export const getVolume = (vid: Id) => json<VolumeDetail>(`/api/volumes/${vid}`);
/** Deletes a volume with its labels and file; 409 while a run of its project is queued or running. */
export const deleteVolume = async (vid: Id): Promise<void> => {
  await request(`/api/volumes/${vid}`, { method: "DELETE" });
};
export const reviewQueue = (pid: Id, limit = 50) => json<ReviewItem[]>(`/api/projects/${pid}/review-queue?limit=${limit}`);
/** Label drafts (interpolated between labelled slices, or copied from one); nothing is stored. See server/API.md. */
export const interpolateDrafts = (vid: Id, body: Record<string, unknown>) =>
  json<{ drafts: Array<{ slice: number; mask: string; existing: { version: number; origin: string; verified: boolean } | null; baseVersion: number }>; width: number; height: number }>(
    `/api/volumes/${vid}/interpolate`, jsonBody("POST", body));
export const labelHistory = (vid: Id, z: number) => json<Label[]>(`/api/volumes/${vid}/slices/${z}/label/history`);

export async function getLabelVersion(vid: Id, z: number, version: number, w: number, h: number, classCount: number): Promise<Uint8Array> {
  const res = await request(`/api/volumes/${vid}/slices/${z}/label/versions/${version}`);
  return decodeMask(await res.arrayBuffer(), w, h, classCount);
}

/** labelsOnly leaves out the model's predictions (manual and verified labels only). */
/** A PNG of the slice cropped to its label or prediction, outlined (server/API.md); 128 px for a sharp 64 px image. */
export const thumbnailUrl = (vid: Id, z: number, size = 128) => `/api/volumes/${vid}/slices/${z}/thumbnail?size=${size}`;
export const volumeExportUrl = (vid: Id, labelsOnly = false) => `/api/volumes/${vid}/export${labelsOnly ? "?manualOnly=1" : ""}`;
export const projectExportUrl = (pid: Id, labelsOnly = false) => `/api/projects/${pid}/export.zip${labelsOnly ? "?manualOnly=1" : ""}`;

/** The whole-volume payloads of the three-plane viewer (/data, /masks): length-prefixed JSON, then voxels. */
export async function getVolumePayload(vid: Id, what: "data" | "masks"): Promise<ArrayBuffer> {
  return (await request(`/api/volumes/${vid}/${what}`)).arrayBuffer();
}

export async function getSlice(vid: Id, z: number, w: number, h: number): Promise<Float32Array> {
  const res = await request(`/api/volumes/${vid}/slices/${z}`);
  return decodeSlice(await res.arrayBuffer(), w, h);
}

/**
 * The slice's current label; mask is null when its last version deleted it (the version is still the base of the
 * next save). Null when the slice never had a label.
 */
export async function getLabel(vid: Id, z: number, w: number, h: number, classCount: number): Promise<LabelData | null> {
  const res = await fetch(`/api/volumes/${vid}/slices/${z}/label`);
  if (res.status === 404) {
    const v = Number(res.headers.get("X-Label-Version") ?? 0);
    return v > 0 ? { mask: null, version: v, origin: "", verified: false, author: "" } : null;
  }
  if (!res.ok) throw await errorOf(res);
  const mask = decodeMask(await res.arrayBuffer(), w, h, classCount);
  return {
    mask,
    version: Number(res.headers.get("X-Label-Version") ?? 0),
    origin: res.headers.get("X-Label-Origin") ?? "manual",
    verified: res.headers.get("X-Label-Verified") === "true",
    author: decodeURIComponent(res.headers.get("X-Label-Author") ?? ""),
  };
}

export interface Prediction {
  mask: Uint8Array;
  modelId: string;
  uncertainty: number | null;
}

/** A slice's prediction by the active model, or by the model given (a candidate kept beside it). */
export async function getPrediction(vid: Id, z: number, w: number, h: number, classCount: number, model?: Id): Promise<Prediction | null> {
  const res = await fetch(`/api/volumes/${vid}/slices/${z}/prediction${model === undefined ? "" : `?model=${model}`}`);
  if (res.status === 404) return null;
  if (!res.ok) throw await errorOf(res);
  const u = res.headers.get("X-Uncertainty");
  return {
    mask: decodeMask(await res.arrayBuffer(), w, h, classCount),
    modelId: res.headers.get("X-Model-Id") ?? "",
    uncertainty: u === null || u === "" ? null : Number(u),
  };
}

/**
 * Saves a mask on top of baseVersion. Conflicts and refusals of the content are results; network failures and
 * server errors throw, so the autosaver retries them.
 */
/** restoredFrom names the history version a save restores, for the audit trail. */
export async function putLabel(vid: Id, z: number, mask: Uint8Array, baseVersion: number, origin: string, restoredFrom?: number): Promise<SaveResult> {
  const headers: Record<string, string> = {
    "Content-Type": "application/octet-stream",
    "X-Base-Version": String(baseVersion),
    "X-Author": authorHeader(),
    "X-Origin": origin,
  };
  if (restoredFrom !== undefined) headers["X-Restored-From"] = String(restoredFrom);
  const res = await fetch(`/api/volumes/${vid}/slices/${z}/label`, {
    method: "PUT",
    headers,
    body: mask as Uint8Array<ArrayBuffer>,
  });
  if (res.ok) {
    const body = (await res.json()) as Label;
    return { kind: "saved", version: body.version };
  }
  const err = await errorOf(res);
  if (res.status === 409) return { kind: "conflict", currentVersion: Number(err.body.currentVersion ?? 0) };
  // 401: the session ended; the sign-in form is up and the save is retried once it succeeds.
  if (res.status >= 400 && res.status < 500 && ![401, 408, 429].includes(res.status)) return { kind: "rejected", reason: err.message };
  throw err;
}

export const setVerified = (vid: Id, z: number, verified: boolean, baseVersion: number) =>
  json<Label>(`/api/volumes/${vid}/slices/${z}/verified`, jsonBody("PUT", { verified, baseVersion, author: author() }));

/** An upload's answer: the new volume, and what the import replaced (NaN and infinite voxels). */
export interface UploadResult extends VolumeSummary {
  nonFinite?: { count: number; replacement: number; total: number };
  /** A sentence for the user when the import changed something, e.g. replaced NaN voxels. */
  notice?: string;
}

/** A label map's answer: the slices it labelled, with their new versions. */
export interface LabelMapResult {
  volumeId: Id;
  labels: Array<{ slice: number; version: number; author: string }>;
}

/**
 * Labels slices of a volume from one integer label map on its grid; a 409 names the slices that have a label
 * (send again with replace to write new versions), a 400 says why the map was refused.
 */
export const uploadLabelMap = (vid: Id, file: File, opts: LabelMapOptions = {}) =>
  json<LabelMapResult>(`/api/volumes/${vid}/labelmap`, {
    method: "POST", headers: { "X-Author": authorHeader() }, body: labelMapForm(file, file.name, opts),
  });

/** Uploads one NIfTI file with progress (fetch cannot report upload progress; XMLHttpRequest can). */
export function uploadVolume(pid: Id, file: File, onProgress: (fraction: number) => void): Promise<UploadResult> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/api/projects/${pid}/volumes`);
    xhr.setRequestHeader("X-Author", authorHeader());
    xhr.responseType = "text";
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    };
    xhr.onload = () => {
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(xhr.responseText) as Record<string, unknown>;
      } catch {
        // keep the status line below
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        resolve(body as unknown as UploadResult);
        return;
      }
      const reason = typeof body.error === "string" ? body.error : xhr.status === 413 ? "file too large" : `${xhr.status} ${xhr.statusText}`;
      if (xhr.status === 401) signInNeeded();
      reject(new ApiError(xhr.status, reason, body));
    };
    xhr.onerror = () => reject(new Error("network error: the server could not be reached"));
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
}

// ---------- training, models and measurements ----------


export interface Run {
  id: number;
  projectId: number;
  status: RunStatus;
  settings: RunSettings;
  error?: string;
  modelId?: number;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
}

export interface StoredRunEvent {
  seq: number;
  kind: string;
  data: ProgressEvent;
  createdAt: string;
}

export interface RunDetail extends Run {
  events: StoredRunEvent[];
}

export interface TrainingSettingsInfo {
  settings: RunSettings;
  presets: Record<string, TrainSettings>;
  architectures: string[];
  /** The run's estimated peak memory against the training budget (server/API.md MemoryEstimate). */
  memory?: MemoryEstimate;
}

/**
 * A run's estimated peak memory, and the server's model of it for other settings:
 * bytes = fixed[arch] + perCropPixel[arch] * batch_size * crop_w * crop_h. A run above budget is refused.
 */
export interface MemoryEstimate {
  bytes: number;
  budget: number;
  fixed: Record<string, number>;
  perCropPixel: Record<string, number>;
}

export interface ClassMetrics {
  class: number;
  name: string;
  dice: number | null;
  jaccard: number | null;
  precision: number | null;
  recall: number | null;
  specificity: number | null;
  conformity: number | null;
  hausdorffPx: number | null;
  hausdorffMm: number | null;
  meanSurfacePx: number | null;
  meanSurfaceMm: number | null;
  slices: number;
}

export interface ModelMetrics {
  iterations: number;
  epochs: number;
  trainSeconds: number;
  stopped: string;
  bestIteration: number;
  bestValLoss?: number | null;
  trainSlices: number;
  valSlices: number;
  evalSlices: number;
  classes: ClassMetrics[];
  evaluation?: import("./lib/evaluation").Evaluation; // how classes were obtained (held out, or k-fold)
  /** Why a model trained on every labelled slice has no evaluation: it was stopped or failed. */
  evaluationStopped?: string;
}

export interface Model {
  id: number;
  projectId: number;
  runId?: number;
  parentId?: number;
  arch: string;
  settings: TrainSettings | null;
  metrics: ModelMetrics | null;
  active: boolean;
  /** active, candidate (kept beside the active model after comparing worse; a reviewer may promote it) or previous. */
  status?: "active" | "candidate" | "previous";
  candidate?: boolean;
  createdAt: string;
  /** Its k-fold evaluation, while it runs after the model's run. */
  evaluating?: import("./lib/evaluation").EvaluationProgress;
}

export interface VolumeAreas {
  volumeId: number;
  name: string;
  pixelAreaMm2: number;
  sliceMm: number;
  slices: Array<{ slice: number; status: SliceStatus; areasMm2: number[] }>;
}

export interface Areas {
  classes: string[];
  volumes: VolumeAreas[];
}

export interface TrainOptions {
  preset?: string;
  settings?: Partial<TrainSettings>;
  fromScratch?: boolean;
}

export const trainingSettings = (pid: Id) => json<TrainingSettingsInfo>(`/api/projects/${pid}/training-settings`);
export const startTraining = (pid: Id, opts: TrainOptions) => json<Run>(`/api/projects/${pid}/train`, jsonBody("POST", opts));
/** Train now fine-tuning a model file (another project's or site's download): multipart, fields request and model. */
export function startTrainingFromFile(pid: Id, opts: TrainOptions, model: File): Promise<Run> {
  const form = new FormData();
  form.append("request", JSON.stringify({ ...opts, fromScratch: false }));
  form.append("model", model, model.name);
  return json<Run>(`/api/projects/${pid}/train`, { method: "POST", body: form });
}
export const listRuns = (pid: Id) => json<Run[]>(`/api/projects/${pid}/runs`);
export const getRun = (id: Id) => json<RunDetail>(`/api/runs/${id}`);
export const cancelRun = (id: Id) => json<Run>(`/api/runs/${id}/cancel`, { method: "POST" });
export const listModels = (pid: Id) => json<Model[]>(`/api/projects/${pid}/models`);
export const setActiveModel = (pid: Id, modelId: Id) => json<Model>(`/api/projects/${pid}/active-model`, jsonBody("PUT", { modelId }));
export const promoteModel = (pid: Id, modelId: Id) => json<Model>(`/api/projects/${pid}/models/${modelId}/promote`, { method: "POST" });
/** Stops a model's running k-fold evaluation; the model stays, without scores. */
export const stopEvaluation = async (pid: Id, modelId: Id): Promise<void> => {
  await request(`/api/projects/${pid}/models/${modelId}/evaluation/stop`, { method: "POST" });
};
export const getAreas = (pid: Id) => json<Areas>(`/api/projects/${pid}/areas`);
export const modelDownloadUrl = (id: Id) => `/api/models/${id}/download`;
export const areasCsvUrl = (pid: Id) => `/api/projects/${pid}/areas.csv`;
