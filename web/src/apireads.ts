// The API of several annotators per slice: reads, their agreement, adjudication.
import { json, jsonBody, type Id, type Label } from "./api";

export interface ClassAgreement {
  class: number;
  dice: number;
  hausdorffMm: number | null;
  hd95Mm: number | null;
  areaAMm2: number;
  areaBMm2: number;
  areaDiffMm2: number;
}

export interface ReadPair {
  a: number;
  b: number;
  classes: ClassAgreement[];
}

export interface SliceReads {
  width: number;
  height: number;
  reads: Array<{ annotator: string; version: number; mask: string; createdAt: string }>;
  agreement: ReadPair[];
  revealed: boolean;
  label?: Label;
}

export const getSliceReads = (vid: Id, z: number) => json<SliceReads>(`/api/volumes/${vid}/slices/${z}/reads`);

export const adjudicate = (vid: Id, z: number, body: { method: "read" | "majority" | "staple"; annotator?: string; baseVersion: number }) =>
  json<Label>(`/api/volumes/${vid}/slices/${z}/reads/adjudicate`, jsonBody("POST", body));

export interface AgreementTable {
  rows: Array<ClassAgreement & { volumeId: number; volume: string; slice: number; annotatorA: string; annotatorB: string; className: string }>;
  classes: Array<{ class: number; className: string; pairs: number; meanDice: number; minDice: number }>;
  slices: number;
}

export const getAgreement = (pid: Id) => json<AgreementTable>(`/api/projects/${pid}/agreement`);
export const agreementCsvUrl = (pid: Id) => `/api/projects/${pid}/agreement.csv`;
