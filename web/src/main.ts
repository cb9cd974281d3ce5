// Placeholder app until the annotation UI lands: proves the embedded bundle and the API are wired.
async function showHealth(): Promise<void> {
  const el = document.getElementById("health");
  if (!el) return;
  try {
    const res = await fetch("/api/health");
    const body = (await res.json()) as { status?: string };
    el.textContent = `server: ${body.status ?? "unknown"}`;
  } catch (err) {
    el.textContent = `server unreachable: ${String(err)}`;
  }
}
void showHealth();
