// Client-side routes; the server answers every non-API path with index.html, so deep links and reloads work.
export type Navigate = (path: string) => void;

export type Route =
  | { page: "projects" }
  | { page: "audit" }
  | { page: "project"; pid: string }
  | { page: "viewer"; vid: string; z: number | null }
  | { page: "missing"; path: string };

export function parseRoute(pathname: string, search: string): Route {
  const parts = pathname.split("/").filter(Boolean);
  if (parts.length === 0) return { page: "projects" };
  if (parts[0] === "audit" && parts.length === 1) return { page: "audit" };
  if (parts[0] === "projects" && parts.length === 2) return { page: "project", pid: decodeURIComponent(parts[1] as string) };
  if (parts[0] === "volumes" && parts.length === 2) {
    const z = new URLSearchParams(search).get("z");
    return { page: "viewer", vid: decodeURIComponent(parts[1] as string), z: z !== null && /^\d+$/.test(z) ? Number(z) : null };
  }
  return { page: "missing", path: pathname };
}
