// Key handling: the key map names the action, this runs it against the viewer.
import { actionFor, typingTarget, type Action } from "./keymap";
import { stepBrush } from "./state";

/** What the named actions do; the page provides them. */
export interface ActionHandlers {
  slice(delta: number | "first" | "last"): void;
  pickClass(k: number): void;
  tool(t: "brush" | "eraser" | "fill"): void;
  brushSize(size: number): void;
  undo(redo: boolean): void;
  toggleOverlay(): void;
  accept(): void;
  toggleVerified(): void;
  nextInQueue(): void;
  resetView(): void;
  toggleHistory(): void;
  toggleHelp(): void;
  /** Between the active model's predictions and the newest candidate's. */
  flipModel(): void;
  escape(): void;
  /** Space pressed (pan mode while held). */
  holdPan(): void;
  brushSizeNow(): number;
}

export function runAction(a: Action, on: ActionHandlers): void {
  switch (a.name) {
    case "slice.next": return on.slice(1);
    case "slice.prev": return on.slice(-1);
    case "slice.up5": return on.slice(5);
    case "slice.down5": return on.slice(-5);
    case "slice.first": return on.slice("first");
    case "slice.last": return on.slice("last");
    case "class.pick": return on.pickClass(a.arg ?? 1);
    case "tool.brush": return on.tool("brush");
    case "tool.eraser": return on.tool("eraser");
    case "tool.fill": return on.tool("fill");
    case "brush.smaller": return on.brushSize(stepBrush(on.brushSizeNow(), -1));
    case "brush.larger": return on.brushSize(stepBrush(on.brushSizeNow(), 1));
    case "undo": return on.undo(false);
    case "redo": return on.undo(true);
    case "overlay.toggle": return on.toggleOverlay();
    case "prediction.accept": return on.accept();
    case "verified.toggle": return on.toggleVerified();
    case "queue.next": return on.nextInQueue();
    case "view.reset": return on.resetView();
    case "history.toggle": return on.toggleHistory();
    case "help.toggle": return on.toggleHelp();
    case "escape": return on.escape();
    case "pan.hold": return on.holdPan();
    case "model.flip": return on.flipModel();
  }
}

/** The window keydown handler: keys typed into text fields stay there, but Escape gives the keyboard back. */
export function keydownHandler(on: ActionHandlers): (e: KeyboardEvent) => void {
  return (e) => {
    const t = e.target as HTMLInputElement | null;
    const a = actionFor(e);
    if (!a || (typingTarget(t) && a.name !== "escape")) return;
    e.preventDefault();
    runAction(a, on);
  };
}
