// Warns before the tab closes while any view has strokes not yet on the server.
const checks = new Set<() => boolean>();

window.addEventListener("beforeunload", (e) => {
  for (const unsaved of checks) {
    if (unsaved()) {
      e.preventDefault();
      e.returnValue = "";
      return;
    }
  }
});

/** Registers a check; the returned function unregisters it once nothing is left unsaved. */
export function registerUnsaved(unsaved: () => boolean): () => void {
  checks.add(unsaved);
  return () => {
    // A page left with saves still running keeps its check until they land.
    const done = () => {
      if (unsaved()) setTimeout(done, 1000);
      else checks.delete(unsaved);
    };
    done();
  };
}
