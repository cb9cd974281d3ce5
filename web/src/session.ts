// Who the app is signed in as. On a loopback server without accounts nobody signs in (zero-config) and the
// user is an unauthenticated admin; otherwise a session cookie (HttpOnly: the app never sees it) carries
// the user, and any 401 from the API asks for a sign-in without leaving the page, so unsaved strokes stay.

export type Role = "admin" | "reviewer" | "annotator";

export interface SessionInfo {
  name: string;
  role: Role;
  authenticated: boolean;
  accountsRequired: boolean;
}

const rank: Record<Role, number> = { annotator: 1, reviewer: 2, admin: 3 };

/** Whether a user with role have may do what needs role need (roles include the ones below them). */
export function roleIncludes(have: Role | undefined, need: Role): boolean {
  return have !== undefined && (rank[have] ?? 0) >= rank[need];
}

let current: SessionInfo | null = null;
const listeners = new Set<(s: SessionInfo | null) => void>();

export function session(): SessionInfo | null {
  return current;
}

/** Calls fn now and whenever the session changes; returns the unsubscribe. */
export function onSession(fn: (s: SessionInfo | null) => void): () => void {
  listeners.add(fn);
  fn(current);
  return () => listeners.delete(fn);
}

function set(s: SessionInfo | null): void {
  current = s;
  for (const fn of listeners) fn(s);
}

/** Asks the server who we are: null when a sign-in is needed. */
export async function loadSession(): Promise<SessionInfo | null> {
  const res = await fetch("/api/auth/me");
  if (res.status === 401) {
    set(null);
    return null;
  }
  if (!res.ok) throw new Error(`cannot reach the workbench: ${res.status} ${res.statusText}`);
  const s = (await res.json()) as SessionInfo;
  set(s);
  return s;
}

/** Signs in; throws an Error with the server's one-line reason. */
export async function signIn(name: string, password: string): Promise<SessionInfo> {
  const res = await fetch("/api/auth/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ name, password }),
  });
  let body: Record<string, unknown> = {};
  try {
    body = (await res.json()) as Record<string, unknown>;
  } catch {
    // keep the status line
  }
  if (!res.ok) throw new Error(typeof body.error === "string" ? body.error : `${res.status} ${res.statusText}`);
  const s = body as unknown as SessionInfo;
  set(s);
  return s;
}

export async function signOut(): Promise<void> {
  await fetch("/api/auth/logout", { method: "POST" });
  set(null);
}

/** The event the API layer raises on a 401; the app shows the sign-in form over the page. */
export const SIGN_IN_NEEDED = "workbench:sign-in-needed";

export function signInNeeded(): void {
  if (current !== null) set(null);
  window.dispatchEvent(new Event(SIGN_IN_NEEDED));
}
