// What the viewer's modules share: the volume, the state object, the DOM, the data and the saver, and the few
// operations every module may ask of the page (redraw, go to a slice, refresh the slice's controls).
import type { LabelData, Project, ReviewItem, SliceInfo, VolumeDetail } from "../api";
import type { AutoSaver } from "../lib/autosave";
import type { Palette } from "../lib/render";
import type { UndoStack } from "../lib/undo";
import type { SliceData } from "../pages/slicedata";
import type { Voxel } from "./planes";
import type { ViewerState } from "./state";
import type { ToolsPanel } from "./tools-panel";
import type { ViewerUi } from "./ui";
import type { VolumeImage } from "./volume";

export interface Conflict {
  theirs: LabelData | null;
  version: number;
  preview: boolean;
}

/** Per-slice editing state that is not the mask itself (that lives in SliceData.masks). */
export interface EditState {
  undos: Map<number, UndoStack>;
  origins: Map<number, "manual" | "prediction" | "interpolated">;
  /** slice -> the history version its pending save restores */
  restoredFrom: Map<number, number>;
  conflicts: Map<number, Conflict>;
  /** An old version of a slice's label shown instead of the current one. */
  historyPreview: { slice: number; version: number; mask: Uint8Array } | null;
}

export interface ViewerContext {
  readonly vol: VolumeDetail;
  readonly project: Project;
  /** Axial slice width, height, number of slices, voxels per slice. */
  readonly W: number;
  readonly H: number;
  readonly D: number;
  readonly N: number;
  readonly info: SliceInfo[];
  readonly state: ViewerState;
  readonly ui: ViewerUi;
  readonly saver: AutoSaver;
  readonly data: SliceData;
  readonly edits: EditState;
  /** Painting guards, review display, drafts and window presets (tools-panel.ts). */
  readonly tools: ToolsPanel;
  queue: ReviewItem[];
  /** Label colours at the overlay opacity, shared by the planes. */
  palette: Palette;
  /** The whole volume, for the sagittal and coronal planes; null until it arrives (or when it failed). */
  volume: VolumeImage | null;
  /** Why the whole volume could not be loaded, shown in the reformat planes. */
  volumeError: string | null;
  /** performance.now() when the first axial slice was drawn and when the whole volume had arrived. */
  marks: { firstDrawn: number | null; volumeReady: number | null };
  disposed(): boolean;
  /** Draws every visible plane now. */
  render(): void;
  /** Draws on the next animation frame (coalesces pointer moves). */
  requestRender(): void;
  setSlice(z: number): void;
  /** Fetches every slice's label and prediction again (after a new model); set by the page. */
  reloadMasks?: () => void;
  /** Lists the project's models again for the prediction picker (modelpick.ts); set by the page. */
  refreshModels?: () => void;
  /** Moves the shared crosshair (the axial plane follows its z). */
  moveCross(at: Voxel): void;
  /** Refreshes the slice label, slider, buttons and conflict banner for the shown slice. */
  updateSliceUi(): void;
  drawStrip(): void;
}
