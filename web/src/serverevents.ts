// The events a project's websocket (/api/projects/{id}/events) sends: one JSON object per message, told apart by
// its "type". This file mirrors the Go catalogue in internal/event, one interface here per Go event type, with
// the same JSON field names; a Go test checks that serverEventTypes below and the Go catalogue list the same
// type strings, so add, rename or remove an event in both places at once.
import type { Run, VolumeSummary } from "./api";
import type { ProgressFields } from "./lib/runprogress";

/** A new label version of a slice: a save, a deletion (deleted) or a verification change. */
export interface LabelEvent {
  type: "label";
  volumeId: number;
  slice: number;
  version: number;
  author: string;
  origin: string;
  verified: boolean;
  deleted: boolean;
}

/** A newly imported volume. */
export interface VolumeEvent {
  type: "volume";
  volume: VolumeSummary;
}

/** A volume and its labels are gone. */
export interface VolumeDeletedEvent {
  type: "volumeDeleted";
  volumeId: number;
}

/** A project and everything in it is gone. */
export interface ProjectDeletedEvent {
  type: "projectDeleted";
  projectId: number;
}

/** A training run's new state. */
export interface RunEvent {
  type: "run";
  run: Run;
}

/** A training step of a run (valLoss and valDice absent). */
export interface IterationEvent extends ProgressFields {
  type: "iteration";
}

/** A validation of a run: an iteration's progress with valLoss, valDice and best where known. */
export interface EpochEvent extends ProgressFields {
  type: "epoch";
}

/** A model's predictions are stored and the model is active, or (candidate) kept beside the active model. */
export interface PredictionsEvent {
  type: "predictions";
  /** The run that produced the model; absent when the predictions did not come from a run. */
  runId?: number;
  modelId: number;
  /** Slices predicted. */
  slices: number;
  /** The model compared worse than the active model and waits for a reviewer's promotion. */
  candidate?: boolean;
}

/** A user made another model version active. */
export interface ActiveModelEvent {
  type: "activeModel";
  modelId: number;
}

/** A model's cross-validation (few labelled slices: every one trained it) is running, done or stopped. */
export interface EvaluationEvent {
  type: "evaluation";
  modelId: number;
  status: "running" | "done" | "stopped";
  method: string;
  folds: number;
  slices: number;
  /** The fold model training now, 1-based; running only. */
  fold?: number;
  /** Seconds left; -1 unknown. Running only. */
  eta?: number;
  /** The evaluation in words (done) or why it stopped (stopped). */
  summary?: string;
}

/** Any event of a project's websocket. */
export type ServerEvent =
  | LabelEvent
  | VolumeEvent
  | VolumeDeletedEvent
  | ProjectDeletedEvent
  | RunEvent
  | IterationEvent
  | EpochEvent
  | PredictionsEvent
  | ActiveModelEvent
  | EvaluationEvent;

/** The type strings of the catalogue, in the Go catalogue's order. */
export const serverEventTypes = [
  "label", "volume", "volumeDeleted", "projectDeleted", "run", "iteration", "epoch", "predictions", "activeModel",
  "evaluation",
] as const;

export type ServerEventType = ServerEvent["type"];

// Compile-time check that serverEventTypes and the union's type strings are the same set: Exact<A, B> is true
// only when each is assignable to the other, and AssertTrue<false> does not type-check.
type Exact<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type AssertTrue<T extends true> = T;
export type ServerEventTypesMatch = AssertTrue<Exact<(typeof serverEventTypes)[number], ServerEventType>>;

const knownTypes: ReadonlySet<string> = new Set(serverEventTypes);

/** Whether t is the type string of an event this page knows. */
export function isServerEventType(t: unknown): t is ServerEventType {
  return typeof t === "string" && knownTypes.has(t);
}

/**
 * One websocket message as an event; null when it is not JSON, not a JSON object, or has no type this page knows
 * (a newer server's event is ignored, not a crash). The fields are the server's to get right: they are not checked.
 */
export function parseServerEvent(raw: string): ServerEvent | null {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return null;
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return null;
  if (!("type" in v) || !isServerEventType(v.type)) return null;
  // The trust boundary: a known type string stands for its event's fields.
  return v as ServerEvent;
}
