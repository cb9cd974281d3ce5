// Per-slice undo/redo of mask edits, holding run-length-encoded snapshots.
import { rleDecode, rleEncode } from "./codec";

export class UndoStack {
  private past: Uint8Array[] = [];
  private future: Uint8Array[] = [];

  constructor(private readonly size: number, private readonly limit = 500) {}

  /** Records the mask as it was before an edit; a new edit forgets what had been undone. */
  record(before: Uint8Array): void {
    this.past.push(rleEncode(before));
    if (this.past.length > this.limit) this.past.shift();
    this.future = [];
  }

  /** Returns the mask before the last edit, remembering current for redo; null when there is nothing to undo. */
  undo(current: Uint8Array): Uint8Array | null {
    const prev = this.past.pop();
    if (!prev) return null;
    this.future.push(rleEncode(current));
    return rleDecode(prev, this.size);
  }

  redo(current: Uint8Array): Uint8Array | null {
    const next = this.future.pop();
    if (!next) return null;
    this.past.push(rleEncode(current));
    return rleDecode(next, this.size);
  }

  get canUndo(): boolean {
    return this.past.length > 0;
  }

  get canRedo(): boolean {
    return this.future.length > 0;
  }

  get depth(): number {
    return this.past.length;
  }
}
