// The sign-in form, shown over whatever page is open (a 401 from any request raises it), so that a session
// ending mid-work loses nothing: the page and its unsaved strokes stay behind the form, and saves resume
// once it succeeds.
import { h } from "../dom";
import { signIn, type SessionInfo } from "../session";

let open: HTMLElement | null = null;

/** Shows the form unless it is up already; onSignedIn runs after a successful sign-in. */
export function showSignIn(onSignedIn: (s: SessionInfo) => void): void {
  if (open) return;
  const name = h("input#signin-name", { type: "text", name: "username", autocomplete: "username", required: true, maxLength: 100 });
  const password = h("input#signin-password", { type: "password", name: "password", autocomplete: "current-password", required: true });
  const error = h("p#signin-error.error", { role: "alert" });
  const submit = h("button#signin-submit.primary", { type: "submit" }, "Sign in");
  const form = h("form.signin", {
    onsubmit: async (e: Event) => {
      e.preventDefault();
      error.textContent = "";
      submit.disabled = true;
      try {
        const s = await signIn(name.value.trim(), password.value);
        overlay.remove();
        open = null;
        onSignedIn(s);
      } catch (err) {
        error.textContent = err instanceof Error ? err.message : String(err);
        password.select();
      } finally {
        submit.disabled = false;
      }
    },
  },
  h("h1", {}, "Segmentation workbench"),
  h("p.muted", {}, "This workbench has accounts: sign in to continue. Anything you have not saved yet stays on this page."),
  h("label", {}, "User name", name),
  h("label", {}, "Password", password),
  submit, error);
  const overlay = h("div#signin.signin-overlay", { role: "dialog", "aria-modal": "true", "aria-label": "Sign in" }, form);
  document.body.append(overlay);
  open = overlay;
  name.focus();
}
