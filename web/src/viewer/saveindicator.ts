// The autosave indicator in the header: saved, saving, retrying (offline or signed out), conflict, refused.
import { toast } from "../dom";
import type { SaveIndicator } from "../lib/autosave";
import { session } from "../session";

/** Returns the AutoSaver's onIndicator for the element; a refusal is toasted once per distinct reason. */
export function saveIndicator(el: HTMLElement): (ind: SaveIndicator) => void {
  let lastRefusal = "";
  return (ind) => {
    el.className = `save-state ${ind.state}`;
    switch (ind.state) {
      case "saved":
        el.textContent = "saved";
        el.title = "every change is on the server";
        break;
      case "saving":
        el.textContent = "saving…";
        el.title = `${ind.pending} slice(s) waiting`;
        break;
      case "retrying":
        // A 401 is not the network: the sign-in form is up, and saving resumes once it succeeds.
        el.textContent = session() === null ? "signed out – sign in to save" : `offline – retrying in ${Math.ceil(ind.inMs / 1000)} s`;
        el.title = `last error: ${ind.error}; your strokes are kept in this tab`;
        break;
      case "conflict":
        el.textContent = `conflict on slice ${ind.slices.join(", ")}`;
        el.title = "someone else saved these slices: choose which version to keep";
        break;
      case "error":
        el.textContent = "not saved";
        el.title = `${ind.reason}; your strokes are kept in this tab and saved with your next change`;
        if (ind.reason !== lastRefusal) toast(`save refused: ${ind.reason}`, "error");
        break;
    }
    lastRefusal = ind.state === "error" ? ind.reason : "";
  };
}
